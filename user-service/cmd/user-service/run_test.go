package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/config"
	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

func TestBinaryLifecycle(t *testing.T) {
	t.Parallel()
	testinfra.CheckLifecycle(t, "user-service", map[string]string{
		"DATABASE_URL":  testinfra.Postgres(t),
		"KAFKA_BROKERS": testinfra.Kafka(t),
		"DEMO_MODE":     "true", // no keys configured: sign with a throwaway one
	})
}

// TestRunRefusesWithoutKeys: outside DEMO_MODE, a user-service with no configured signing key
// must not start, since its tokens would die with the process and its siblings would refuse them.
func TestRunRefusesWithoutKeys(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "postgres://u:p@127.0.0.1:1/x"}
	err := run(t.Context(), func(k string) string { return env[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "JWT_PRIVATE_KEYS_PEM") || !strings.Contains(err.Error(), "DEMO_MODE") {
		t.Fatalf("run without keys = %v, want an error naming JWT_PRIVATE_KEYS_PEM and DEMO_MODE", err)
	}
}

func TestPasswordHashMemory(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want config.ByteSize
	}{
		{map[string]string{}, defaultPasswordHashMemory},
		{map[string]string{"GOMEMLIMIT": "100MiB"}, 50 << 20},
		{map[string]string{"GOMEMLIMIT": "off"}, defaultPasswordHashMemory},
		{map[string]string{"GOMEMLIMIT": "100MiB", "PASSWORD_HASH_MEMORY": "20MiB"}, 20 << 20},
	} {
		tc.env["DATABASE_URL"], tc.env["DEMO_MODE"] = "postgres://u:p@db/x", "true"
		cfg, err := config.Load[Config](config.WithDefaults(func(k string) string { return tc.env[k] },
			map[string]string{"SERVICE_NAME": "user-service"}))
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.passwordHashMemory(); got != tc.want {
			t.Errorf("%v: budget %s, want %s", tc.env, got, tc.want)
		}
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "postgres://u:secret@db/x", "SHUTDOWN_TIMEOUT": "soon"}
	err := run(t.Context(), func(k string) string { return env[k] }, os.Stdout)
	if err == nil {
		t.Fatal("run accepted SHUTDOWN_TIMEOUT=soon")
	}
	if got := err.Error(); !strings.Contains(got, "SHUTDOWN_TIMEOUT") || strings.Contains(got, "secret") {
		t.Errorf("error %q should name SHUTDOWN_TIMEOUT and not leak the password", got)
	}
}

// TestBinaryWithConfiguredKeys starts the real binary twice on one database with a configured
// signing key: the demo users are seeded once, alice can log in, the JWKS publishes the
// configured key, and the key material never reaches the logs. It is longer than 60 lines on
// purpose: the two runs must share one database and one key, and each checks the whole start-up.
func TestBinaryWithConfiguredKeys(t *testing.T) {
	t.Parallel()
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := key.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	consul := testinfra.NewConsul(t)
	env := map[string]string{
		"DATABASE_URL":         testinfra.Postgres(t),
		"KAFKA_BROKERS":        testinfra.Kafka(t),
		"CONSUL_HTTP_ADDR":     consul.Addr(),
		"CONSUL_HTTP_TOKEN":    consul.Token(),
		"JWT_PRIVATE_KEYS_PEM": string(pemKey),
		"TOKEN_TTL":            "5m",
		"SEED_DEMO_DATA":       "true",
		"DRAIN_DELAY":          "0s",
	}
	for run, wantSeeded := range []string{`"created":3`, `"created":0`} {
		bin := testinfra.StartBinary(t, env)
		base := "http://" + bin.Addr
		testinfra.WaitFor(t, 30*time.Second, "ready", func() error {
			resp, err := http.Get(base + "/health/ready")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		})

		resp, err := http.Post(base+"/auth/login", "application/json",
			strings.NewReader(`{"email":"alice@example.com","password":"tracecart-demo"}`))
		if err != nil {
			t.Fatal(err)
		}
		var login struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
		}
		err = json.NewDecoder(resp.Body).Decode(&login)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || login.AccessToken == "" || login.ExpiresIn != 300 {
			t.Fatalf("run %d: login as alice = %d %+v (%v), want a token for 300 s", run+1, resp.StatusCode, login, err)
		}
		v, err := auth.NewVerifier(auth.VerifierOptions{JWKSURL: base + "/.well-known/jwks.json", Issuer: "tracecart", Audience: "tracecart"})
		if err != nil {
			t.Fatal(err)
		}
		claims, err := v.Verify(t.Context(), login.AccessToken)
		if err != nil || claims.Subject != "00000000-0000-4000-8000-00000000a11c" {
			t.Fatalf("run %d: token verified against the JWKS = %+v, %v; want alice's", run+1, claims, err)
		}
		if err := bin.Terminate(t, 15*time.Second); err != nil {
			t.Errorf("run %d: exit: %v", run+1, err)
		}

		out := bin.Output()
		if !strings.Contains(out, `"msg":"demo users seeded"`) || !strings.Contains(out, wantSeeded) {
			t.Errorf("run %d: no demo seeding log line with %s", run+1, wantSeeded)
		}
		if !strings.Contains(out, key.ID()) || strings.Contains(out, "JWT_PRIVATE_KEYS_PEM is empty") {
			t.Errorf("run %d: the log should name the configured key %s and not warn about a generated one", run+1, key.ID())
		}
		block := strings.Split(string(pemKey), "\n")[1] // the base64 body of the PEM block
		if strings.Contains(out, block) || strings.Contains(out, "PRIVATE KEY") {
			t.Errorf("run %d: the output contains key material", run+1)
		}
	}
}

func TestSecretIsNeverPrinted(t *testing.T) {
	s := config.Secret("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----")
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "cfg", Config{JWTPrivateKeysPEM: s})
	encoded, _ := json.Marshal(Config{JWTPrivateKeysPEM: s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), logged.String(), string(encoded)} {
		if strings.Contains(out, "MC4CAQ") || strings.Contains(out, "PRIVATE KEY") {
			t.Errorf("secret printed: %s", out)
		}
	}
}
