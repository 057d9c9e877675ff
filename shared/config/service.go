package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"
)

// Service holds the settings every tracecart service shares. Embed it in a service's Config.
//
// SERVICE_NAME has no default here because the right default differs per service; give it one
// with WithDefaults. ADVERTISE_ADDRESS defaults to empty on purpose: reading the hostname is a
// side effect that belongs to the code registering the instance with Consul, which falls back
// to it when the variable is unset (the container's hostname is what Docker's DNS resolves).
type Service struct {
	// ServiceName is the name the service reports to Consul and in telemetry.
	ServiceName string `env:"SERVICE_NAME,required,notEmpty"`
	// Version is the build's version, reported in telemetry and the health endpoint.
	Version string `env:"VERSION" envDefault:"dev"`
	// HTTPAddr is the host:port the HTTP server listens on.
	HTTPAddr string `env:"HTTP_ADDR" envDefault:":8080"`
	// InternalHTTPAddr, when set, is a second host:port that alone serves /metrics and
	// /version, for a service whose HTTP_ADDR faces clients it should not tell those to (the
	// gateway defaults it to ":8081"). Empty serves them on HTTP_ADDR.
	InternalHTTPAddr string `env:"INTERNAL_HTTP_ADDR"`
	// AdvertiseAddress is the host or IP other services and Consul use to reach this
	// instance; empty means "let the registration code pick".
	AdvertiseAddress string `env:"ADVERTISE_ADDRESS"`
	// ConsulAddr is the host:port of the local Consul agent's HTTP API.
	ConsulAddr string `env:"CONSUL_HTTP_ADDR" envDefault:"127.0.0.1:8500"`
	// ConsulToken is the service's Consul ACL token (Consul's standard variable). Consul
	// denies by default, so it is what lets the service register itself and read the
	// catalogue; each service has its own, which cannot register any other name.
	ConsulToken Secret `env:"CONSUL_HTTP_TOKEN"`
	// DrainDelay is how long the instance keeps serving after deregistering from Consul, so
	// that clients still holding its address finish their requests rather than fail.
	DrainDelay time.Duration `env:"DRAIN_DELAY" envDefault:"2s"`
	// ShutdownTimeout bounds the rest of graceful shutdown: draining HTTP, finishing the
	// message in hand and flushing telemetry.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s"`
	// FlagsFile is the scenario flag file in flagd's format (infra/flags/demo.flagd.json in the
	// demo), re-read while the service runs; empty leaves every flag off (shared/featureflag).
	FlagsFile string `env:"FLAGS_FILE"`
	// LogLevel is the minimum level logged: debug, info, warn or error (slog's names).
	LogLevel slog.Level `env:"LOG_LEVEL" envDefault:"info"`
}

// Validate checks what the struct tags cannot. Load calls it through embedding; a Config that
// defines its own Validate hides this one and must call it explicitly.
func (s *Service) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(s.HTTPAddr); err != nil {
		errs = append(errs, &VarError{Key: "HTTP_ADDR", Err: err})
	}
	if s.InternalHTTPAddr != "" {
		if _, _, err := net.SplitHostPort(s.InternalHTTPAddr); err != nil {
			errs = append(errs, &VarError{Key: "INTERNAL_HTTP_ADDR", Err: err})
		} else if s.InternalHTTPAddr == s.HTTPAddr {
			errs = append(errs, &VarError{Key: "INTERNAL_HTTP_ADDR", Err: fmt.Errorf("must differ from HTTP_ADDR %s", s.HTTPAddr)})
		}
	}
	if s.DrainDelay < 0 {
		errs = append(errs, &VarError{Key: "DRAIN_DELAY", Err: fmt.Errorf("must not be negative, got %s", s.DrainDelay)})
	}
	if s.ShutdownTimeout <= 0 {
		errs = append(errs, &VarError{Key: "SHUTDOWN_TIMEOUT", Err: fmt.Errorf("must be positive, got %s", s.ShutdownTimeout)})
	}
	return errors.Join(errs...)
}

// Postgres holds the connection settings of a service that owns a database.
type Postgres struct {
	// DatabaseURL is the connection string, with credentials. It has no default: a password
	// has no sensible default value.
	DatabaseURL DSN `env:"DATABASE_URL,required,notEmpty"`
}

// Kafka holds the connection settings of a service that produces or consumes events.
type Kafka struct {
	// Brokers are the bootstrap brokers' host:port addresses, comma-separated in the variable.
	Brokers []string `env:"KAFKA_BROKERS" envSeparator:"," envDefault:"127.0.0.1:9092"`
	// Partitions is how many partitions the service creates its topics with. It bounds how
	// many consumers of one group can work in parallel, so it is the unit of scaling out.
	Partitions int `env:"KAFKA_PARTITIONS" envDefault:"3"`
	// InboxRetention is how long a consumer remembers the events it processed. It must exceed
	// the retention of the topics it consumes (Kafka's default is seven days); see inbox.Pruner.
	InboxRetention time.Duration `env:"INBOX_RETENTION" envDefault:"192h"`
}

// DSN is a database connection string that keeps its password out of logs and error
// messages: every way of printing it (fmt, slog, JSON) shows a redacted copy. Convert it with
// string(dsn) only where the real value is needed, when connecting.
//
// It is a type of its own rather than methods on Postgres because methods of an embedded
// struct are promoted: a String method on Postgres would become the String method of every
// service's Config and print the DSN alone in place of the whole configuration.
type DSN string

var (
	_ fmt.Stringer   = DSN("")
	_ fmt.GoStringer = DSN("")
	_ slog.LogValuer = DSN("")
)

// String returns the DSN with its password replaced by "xxxxx".
func (d DSN) String() string { return d.redacted() }

// GoString keeps %#v, which otherwise prints the raw value, redacted too.
func (d DSN) GoString() string { return fmt.Sprintf("config.DSN(%q)", d.redacted()) }

// LogValue makes slog log the redacted DSN.
func (d DSN) LogValue() slog.Value { return slog.StringValue(d.redacted()) }

// MarshalText makes encoding/json, and so slog's JSON handler logging a whole Config, write the
// redacted DSN.
func (d DSN) MarshalText() ([]byte, error) { return []byte(d.redacted()), nil }

// redacted hides the password of a URL-form DSN (postgres://user:pass@host/db?password=...).
// Keyword/value DSNs ("host=... password=...") are hidden whole: quoting rules make a partial
// redaction easy to get wrong, and tracecart configures URLs.
func (d DSN) redacted() string {
	const mask = "xxxxx"
	if d == "" {
		return ""
	}
	u, err := url.Parse(string(d))
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "[redacted]"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", mask)
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// CheckHTTPURL returns a *VarError naming key unless raw is an absolute http or https URL with
// a host, such as a JWKS_URL or an upstream's base URL; nil when it is one.
func CheckHTTPURL(key, raw string) error {
	if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &VarError{Key: key, Err: fmt.Errorf("%q is not an http(s) URL", raw)}
	}
	return nil
}
