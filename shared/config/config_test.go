package config_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tracecart/tracecart/shared/config"
)

// testConfig is shaped like a real service's Config: the shared pieces embedded, one piece
// under a prefix (to prove prefixed names are looked up), and a field of its own.
type testConfig struct {
	config.Service
	config.Postgres
	config.Kafka
	Replica     config.Postgres `envPrefix:"REPLICA_"`
	SagaTimeout time.Duration   `env:"SAGA_TIMEOUT" envDefault:"30s"`
}

// getenvFrom returns a getenv over vars, the way services' tests inject their environment.
func getenvFrom(vars map[string]string) func(string) string {
	return func(key string) string { return vars[key] }
}

// minimal is the smallest environment that loads: the variables without defaults.
func minimal() map[string]string {
	return map[string]string{
		"SERVICE_NAME":         "order-service",
		"DATABASE_URL":         "postgres://orders:s3cret@db:5432/orders",
		"REPLICA_DATABASE_URL": "postgres://orders:s3cret@replica:5432/orders",
	}
}

// with returns minimal() with overrides applied.
func with(overrides map[string]string) map[string]string {
	vars := minimal()
	for k, v := range overrides {
		vars[k] = v
	}
	return vars
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want testConfig
	}{
		{
			name: "defaults",
			vars: minimal(),
			want: testConfig{
				Service: config.Service{
					ServiceName:     "order-service",
					Version:         "dev",
					HTTPAddr:        ":8080",
					ConsulAddr:      "127.0.0.1:8500",
					DrainDelay:      2 * time.Second,
					ShutdownTimeout: 15 * time.Second,
					LogLevel:        slog.LevelInfo,
				},
				Postgres:    config.Postgres{DatabaseURL: "postgres://orders:s3cret@db:5432/orders"},
				Kafka:       config.Kafka{Brokers: []string{"127.0.0.1:9092"}, Partitions: 3, InboxRetention: 192 * time.Hour},
				Replica:     config.Postgres{DatabaseURL: "postgres://orders:s3cret@replica:5432/orders"},
				SagaTimeout: 30 * time.Second,
			},
		},
		{
			name: "overrides",
			vars: with(map[string]string{
				"VERSION":           "1.2.3",
				"HTTP_ADDR":         "127.0.0.1:9000",
				"ADVERTISE_ADDRESS": "10.0.0.7",
				"CONSUL_HTTP_ADDR":  "consul:8500",
				"DRAIN_DELAY":       "0s",
				"SHUTDOWN_TIMEOUT":  "3s",
				"LOG_LEVEL":         "debug",
				"KAFKA_BROKERS":     "kafka-1:9092,kafka-2:9092",
				"KAFKA_PARTITIONS":  "12",
				"INBOX_RETENTION":   "720h",
				"SAGA_TIMEOUT":      "1m",
			}),
			want: testConfig{
				Service: config.Service{
					ServiceName:      "order-service",
					Version:          "1.2.3",
					HTTPAddr:         "127.0.0.1:9000",
					AdvertiseAddress: "10.0.0.7",
					ConsulAddr:       "consul:8500",
					ShutdownTimeout:  3 * time.Second,
					LogLevel:         slog.LevelDebug,
				},
				Postgres:    config.Postgres{DatabaseURL: "postgres://orders:s3cret@db:5432/orders"},
				Kafka:       config.Kafka{Brokers: []string{"kafka-1:9092", "kafka-2:9092"}, Partitions: 12, InboxRetention: 720 * time.Hour},
				Replica:     config.Postgres{DatabaseURL: "postgres://orders:s3cret@replica:5432/orders"},
				SagaTimeout: time.Minute,
			},
		},
		{
			name: "empty value falls back to the default",
			vars: with(map[string]string{"HTTP_ADDR": "", "LOG_LEVEL": ""}),
			want: testConfig{
				Service: config.Service{
					ServiceName:     "order-service",
					Version:         "dev",
					HTTPAddr:        ":8080",
					ConsulAddr:      "127.0.0.1:8500",
					DrainDelay:      2 * time.Second,
					ShutdownTimeout: 15 * time.Second,
					LogLevel:        slog.LevelInfo,
				},
				Postgres:    config.Postgres{DatabaseURL: "postgres://orders:s3cret@db:5432/orders"},
				Kafka:       config.Kafka{Brokers: []string{"127.0.0.1:9092"}, Partitions: 3, InboxRetention: 192 * time.Hour},
				Replica:     config.Postgres{DatabaseURL: "postgres://orders:s3cret@replica:5432/orders"},
				SagaTimeout: 30 * time.Second,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.Load[testConfig](getenvFrom(tt.vars))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Load =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestLoadErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		name     string
		vars     map[string]string
		wantKeys []string // variables the error must name, as *VarError
		wantErr  error    // an error the result must wrap, if any
	}{
		{
			name:     "invalid duration",
			vars:     with(map[string]string{"SHUTDOWN_TIMEOUT": "soon"}),
			wantKeys: []string{"SHUTDOWN_TIMEOUT"},
		},
		{
			name:     "invalid log level",
			vars:     with(map[string]string{"LOG_LEVEL": "loud"}),
			wantKeys: []string{"LOG_LEVEL"},
		},
		{
			name: "two invalid values of the same type are both named",
			vars: with(map[string]string{"SHUTDOWN_TIMEOUT": "soon", "SAGA_TIMEOUT": "later"}),
			// Both fields are time.Duration: each error must still find its own variable.
			wantKeys: []string{"SHUTDOWN_TIMEOUT", "SAGA_TIMEOUT"},
		},
		{
			name:     "required variable missing",
			vars:     map[string]string{"SERVICE_NAME": "order-service", "DATABASE_URL": "postgres://db/orders"},
			wantKeys: []string{"REPLICA_DATABASE_URL"},
			wantErr:  config.ErrRequired,
		},
		{
			name: "required variable empty",
			vars: with(map[string]string{"DATABASE_URL": ""}),
			// getenv cannot tell empty from unset, so empty is "not set" too.
			wantKeys: []string{"DATABASE_URL"},
			wantErr:  config.ErrRequired,
		},
		{
			name:     "Validate: HTTP_ADDR without a port",
			vars:     with(map[string]string{"HTTP_ADDR": "localhost"}),
			wantKeys: []string{"HTTP_ADDR"},
		},
		{
			name:     "invalid integer",
			vars:     with(map[string]string{"KAFKA_PARTITIONS": "many"}),
			wantKeys: []string{"KAFKA_PARTITIONS"},
		},
		{
			name:     "Validate: negative DRAIN_DELAY",
			vars:     with(map[string]string{"DRAIN_DELAY": "-1s"}),
			wantKeys: []string{"DRAIN_DELAY"},
		},
		{
			name:     "Validate: negative SHUTDOWN_TIMEOUT",
			vars:     with(map[string]string{"SHUTDOWN_TIMEOUT": "-1s"}),
			wantKeys: []string{"SHUTDOWN_TIMEOUT"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.Load[testConfig](getenvFrom(tt.vars))
			if err == nil {
				t.Fatalf("Load = %+v, want an error", got)
			}
			if !reflect.DeepEqual(got, testConfig{}) {
				t.Errorf("Load returned a partly filled config %+v with its error", got)
			}
			if gotKeys := varErrorKeys(err); !reflect.DeepEqual(gotKeys, tt.wantKeys) {
				t.Errorf("error names %q, want %q (error: %v)", gotKeys, tt.wantKeys, err)
			}
			for _, key := range tt.wantKeys {
				if !strings.Contains(err.Error(), key) {
					t.Errorf("error %q does not mention %s", err, key)
				}
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tt.wantErr)
			}
		})
	}
}

// varErrorKeys lists the Key of every *config.VarError in err's tree, in order.
func varErrorKeys(err error) []string {
	var keys []string
	var walk func(error)
	walk = func(err error) {
		switch u := err.(type) {
		case *config.VarError:
			keys = append(keys, u.Key)
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return keys
}

// validated fails validation for one name, to prove Load calls Validate.
type validated struct {
	Name string `env:"NAME"`
}

var errBadName = errors.New("name must not be forbidden")

func (v *validated) Validate() error {
	if v.Name == "forbidden" {
		return errBadName
	}
	return nil
}

func TestLoadCallsValidate(t *testing.T) {
	if _, err := config.Load[validated](getenvFrom(map[string]string{"NAME": "fine"})); err != nil {
		t.Fatalf("Load with a valid config: %v", err)
	}
	_, err := config.Load[validated](getenvFrom(map[string]string{"NAME": "forbidden"}))
	if !errors.Is(err, errBadName) {
		t.Fatalf("Load error = %v, want it to wrap the Validate error %v", err, errBadName)
	}
}

func TestLoadReadsOnlyItsOwnVariables(t *testing.T) {
	var asked []string
	getenv := func(key string) string {
		asked = append(asked, key)
		return minimal()[key]
	}
	if _, err := config.Load[testConfig](getenv); err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := []string{
		"SERVICE_NAME", "VERSION", "HTTP_ADDR", "INTERNAL_HTTP_ADDR", "ADVERTISE_ADDRESS", "CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN",
		"DRAIN_DELAY", "SHUTDOWN_TIMEOUT", "FLAGS_FILE", "LOG_LEVEL", "DATABASE_URL", "KAFKA_BROKERS",
		"KAFKA_PARTITIONS", "INBOX_RETENTION", "REPLICA_DATABASE_URL", "SAGA_TIMEOUT",
	}
	if !reflect.DeepEqual(asked, want) {
		t.Errorf("getenv asked for\n%q\nwant\n%q", asked, want)
	}
}

func TestWithDefaults(t *testing.T) {
	vars := minimal()
	delete(vars, "SERVICE_NAME")
	getenv := config.WithDefaults(getenvFrom(vars), map[string]string{"SERVICE_NAME": "product-service", "VERSION": "from-default"})

	cfg, err := config.Load[testConfig](getenv)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.ServiceName != "product-service" || cfg.Version != "from-default" {
		t.Errorf("ServiceName, Version = %q, %q; want the defaults product-service, from-default", cfg.ServiceName, cfg.Version)
	}

	vars["SERVICE_NAME"] = "from-env"
	cfg, err = config.Load[testConfig](config.WithDefaults(getenvFrom(vars), map[string]string{"SERVICE_NAME": "product-service"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.ServiceName != "from-env" {
		t.Errorf("ServiceName = %q, want the environment's from-env to win over the default", cfg.ServiceName)
	}
}

func TestDSNIsRedacted(t *testing.T) {
	tests := []struct {
		name   string
		dsn    config.DSN
		secret string
		want   string
	}{
		{
			name:   "password in user info",
			dsn:    "postgres://orders:s3cret@db:5432/orders?sslmode=disable",
			secret: "s3cret",
			want:   "postgres://orders:xxxxx@db:5432/orders?sslmode=disable",
		},
		{
			name:   "password in query",
			dsn:    "postgresql://orders@db/orders?password=s3cret",
			secret: "s3cret",
			want:   "postgresql://orders@db/orders?password=xxxxx",
		},
		{
			name: "no password",
			dsn:  "postgres://orders@db/orders",
			want: "postgres://orders@db/orders",
		},
		{
			name:   "keyword/value form is hidden whole",
			dsn:    "host=db user=orders password='s3 cret'",
			secret: "s3 cret",
			want:   "[redacted]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig{Postgres: config.Postgres{DatabaseURL: tt.dsn}}

			var jsonLog, textLog bytes.Buffer
			slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("loaded", "dsn", tt.dsn, "config", cfg)
			slog.New(slog.NewTextHandler(&textLog, nil)).Info("loaded", "dsn", tt.dsn, "config", cfg)

			renderings := map[string]string{
				"LogValue":      tt.dsn.LogValue().String(),
				"String":        tt.dsn.String(),
				"%v of Config":  fmt.Sprintf("%v", cfg),
				"%+v of Config": fmt.Sprintf("%+v", cfg),
				"%#v of Config": fmt.Sprintf("%#v", cfg),
				"slog JSON":     jsonLog.String(),
				"slog text":     textLog.String(),
			}
			if got := renderings["LogValue"]; got != tt.want {
				t.Errorf("LogValue = %q, want %q", got, tt.want)
			}
			if got := renderings["String"]; got != tt.want {
				t.Errorf("String = %q, want %q", got, tt.want)
			}
			for how, s := range renderings {
				if tt.secret != "" && strings.Contains(s, tt.secret) {
					t.Errorf("%s leaks the password: %s", how, s)
				}
			}
		})
	}
}

func TestCheckHTTPURL(t *testing.T) {
	for _, tt := range []struct {
		raw string
		ok  bool
	}{
		{"http://user-service/.well-known/jwks.json", true},
		{"https://127.0.0.1:8443/x", true},
		{"ftp://host/x", false},
		{"user-service/jwks", false}, // no scheme
		{"http://", false},           // no host
		{"http://a b/", false},       // unparsable
	} {
		err := config.CheckHTTPURL("JWKS_URL", tt.raw)
		var ve *config.VarError
		switch {
		case tt.ok && err != nil:
			t.Errorf("CheckHTTPURL(%q) = %v, want nil", tt.raw, err)
		case !tt.ok && (!errors.As(err, &ve) || ve.Key != "JWKS_URL"):
			t.Errorf("CheckHTTPURL(%q) = %v, want a VarError naming JWKS_URL", tt.raw, err)
		}
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]config.ByteSize{
		"100MiB": 100 << 20, "512KiB": 512 << 10, "1GiB": 1 << 30, "2TiB": 2 << 40,
		"4096": 4096, "17B": 17, "off": 0, "0": 0,
	} {
		var got config.ByteSize
		if err := got.UnmarshalText([]byte(in)); err != nil || got != want {
			t.Errorf("UnmarshalText(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "1.5GiB", "-1MiB", "10MB", "9999999999TiB"} {
		var got config.ByteSize
		if err := got.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("UnmarshalText(%q) = %d, want an error", in, got)
		}
	}
	if got := config.ByteSize(100 << 20).String(); got != "100MiB" {
		t.Errorf("String() = %q, want 100MiB", got)
	}
}
