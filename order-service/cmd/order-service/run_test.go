package main

import (
	"os"
	"strings"
	"testing"

	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

func TestBinaryLifecycle(t *testing.T) {
	testinfra.CheckLifecycle(t, "order-service", map[string]string{
		"DATABASE_URL":  testinfra.Postgres(t),
		"KAFKA_BROKERS": testinfra.Kafka(t),
	})
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

func TestRunRejectsBadServiceConfig(t *testing.T) {
	for key, value := range map[string]string{
		"SAGA_TIMEOUT":           "0s",
		"SAGA_SWEEP_INTERVAL":    "-1s",
		"PRODUCT_SERVICE_URL":    "product-service",
		"JWKS_URL":               "ftp://user-service/jwks.json",
		"RECONCILE_GRACE":        "0s",
		"RECONCILE_MAX_BACKOFF":  "-1m",
		"RECONCILE_INTERVAL":     "0s",
		"RECONCILE_MAX_ATTEMPTS": "0",
		"BREAKER_FAILURE_RATIO":  "1.5",
		"BREAKER_MINIMUM_CALLS":  "0",
		"BREAKER_WINDOW":         "0s",
		"BREAKER_OPEN_TIMEOUT":   "-5s",
	} {
		env := map[string]string{"DATABASE_URL": "postgres://u:secret@db/x", key: value}
		err := run(t.Context(), func(k string) string { return env[k] }, os.Stdout)
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("run with %s=%s = %v, want an error naming %s", key, value, err, key)
		}
	}
}
