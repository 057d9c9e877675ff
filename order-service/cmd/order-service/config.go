package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/tracecart/tracecart/shared/config"
)

// Config is everything order-service reads from its environment.
type Config struct {
	config.Service
	config.Postgres
	config.Kafka

	// ProductServiceURL is where orders are priced; its host is a service name that Consul
	// resolves, unless it has a port.
	ProductServiceURL string `env:"PRODUCT_SERVICE_URL" envDefault:"http://product-service"`
	// JWKSURL is where user-service publishes the keys that sign access tokens.
	JWKSURL     string `env:"JWKS_URL" envDefault:"http://user-service/.well-known/jwks.json"`
	JWTIssuer   string `env:"JWT_ISSUER" envDefault:"tracecart"`
	JWTAudience string `env:"JWT_AUDIENCE" envDefault:"tracecart"`

	// The circuit breaker in front of each upstream (product-service, user-service's keys), with
	// the gateway's BREAKER_* variables. A 503 of an unavailable catalogue tells clients to retry
	// after BREAKER_OPEN_TIMEOUT too.
	config.Breaker

	// SagaTimeout is how long an order may stay PENDING before it is cancelled.
	SagaTimeout time.Duration `env:"SAGA_TIMEOUT" envDefault:"30s"`
	// SagaSweepInterval is how often the timeout is checked.
	SagaSweepInterval time.Duration `env:"SAGA_SWEEP_INTERVAL" envDefault:"1s"`

	// ReconcileGrace is how long a paid order's refund and restock may take after its
	// cancellation before order.cancelled is announced again; the wait between announcements
	// starts there and doubles up to ReconcileMaxBackoff.
	ReconcileGrace      time.Duration `env:"RECONCILE_GRACE" envDefault:"60s"`
	ReconcileMaxBackoff time.Duration `env:"RECONCILE_MAX_BACKOFF" envDefault:"5m"`
	// ReconcileMaxAttempts is how often it is announced again before only an alert is left.
	ReconcileMaxAttempts int `env:"RECONCILE_MAX_ATTEMPTS" envDefault:"5"`
	// ReconcileInterval is how often the reconciler looks.
	ReconcileInterval time.Duration `env:"RECONCILE_INTERVAL" envDefault:"5s"`
}

// loadConfig reads the Config from getenv, with the service's name as SERVICE_NAME's default.
func loadConfig(getenv func(string) string) (Config, error) {
	cfg, err := config.Load[Config](config.WithDefaults(getenv, map[string]string{"SERVICE_NAME": "order-service"}))
	if err != nil {
		return Config{}, fmt.Errorf("load config: %w", err)
	}
	return cfg, nil
}

// Validate checks what the struct tags cannot, the shared settings included.
func (c *Config) Validate() error {
	errs := []error{
		c.Service.Validate(),
		c.Breaker.Validate(),
		config.CheckHTTPURL("PRODUCT_SERVICE_URL", c.ProductServiceURL),
		config.CheckHTTPURL("JWKS_URL", c.JWKSURL),
	}
	for _, v := range []struct {
		key string
		d   time.Duration
	}{
		{"SAGA_TIMEOUT", c.SagaTimeout}, {"SAGA_SWEEP_INTERVAL", c.SagaSweepInterval},
		{"RECONCILE_GRACE", c.ReconcileGrace}, {"RECONCILE_MAX_BACKOFF", c.ReconcileMaxBackoff},
		{"RECONCILE_INTERVAL", c.ReconcileInterval},
	} {
		if v.d <= 0 {
			errs = append(errs, &config.VarError{Key: v.key, Err: fmt.Errorf("must be positive, got %s", v.d)})
		}
	}
	if c.ReconcileMaxAttempts < 1 {
		errs = append(errs, &config.VarError{Key: "RECONCILE_MAX_ATTEMPTS", Err: fmt.Errorf("must be at least 1, got %d", c.ReconcileMaxAttempts)})
	}
	return errors.Join(errs...)
}
