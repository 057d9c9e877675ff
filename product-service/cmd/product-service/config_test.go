package main

import (
	"strings"
	"testing"

	"github.com/tracecart/tracecart/shared/config"
)

func TestConfigDefaultsAndJWKSURL(t *testing.T) {
	env := map[string]string{"SERVICE_NAME": "product-service", "DATABASE_URL": "postgres://u:secret@db/x"}
	cfg, err := config.Load[Config](func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.JWKSURL != "http://user-service/.well-known/jwks.json" || cfg.JWTIssuer != "tracecart" ||
		cfg.JWTAudience != "tracecart" || !cfg.SeedDemoData {
		t.Errorf("defaults: %+v", cfg)
	}

	for _, bad := range []string{"user-service/.well-known/jwks.json", "ftp://user-service/jwks", "http://"} {
		env := map[string]string{"SERVICE_NAME": "product-service", "DATABASE_URL": "postgres://u:secret@db/x", "JWKS_URL": bad, "HTTP_ADDR": "nope"}
		_, err := config.Load[Config](func(k string) string { return env[k] })
		// Both rules are checked: the service's own and the embedded Service's.
		if err == nil || !strings.Contains(err.Error(), "JWKS_URL") || !strings.Contains(err.Error(), "HTTP_ADDR") {
			t.Errorf("JWKS_URL=%q, HTTP_ADDR=nope: error %v, want both variables named", bad, err)
		}
	}
}

func TestConfigReconciler(t *testing.T) {
	base := map[string]string{"SERVICE_NAME": "product-service", "DATABASE_URL": "postgres://u:secret@db/x"}
	cfg, err := config.Load[Config](func(k string) string { return base[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OrderServiceURL != "http://order-service" || cfg.ReconcileAfter.String() != "45s" || cfg.ReconcileInterval.String() != "10s" {
		t.Errorf("reconciler defaults: %s %s %s", cfg.OrderServiceURL, cfg.ReconcileAfter, cfg.ReconcileInterval)
	}
	for key, bad := range map[string]string{"ORDER_SERVICE_URL": "order-service", "RECONCILE_AFTER": "0s", "RECONCILE_INTERVAL": "-1s"} {
		env := map[string]string{key: bad}
		for k, v := range base {
			env[k] = v
		}
		if _, err := config.Load[Config](func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%q: error %v, want it named", key, bad, err)
		}
	}
}
