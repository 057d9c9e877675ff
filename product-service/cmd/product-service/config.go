package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tracecart/tracecart/product-service/migrations"
	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/bootstrap"
	"github.com/tracecart/tracecart/shared/config"
)

// Config is everything product-service reads from its environment.
type Config struct {
	config.Service
	config.Postgres
	config.Kafka

	// JWKSURL is where user-service publishes the public keys of the access tokens admins send.
	// A host without a port is a service name, resolved through Consul; a host:port is dialled
	// as written.
	JWKSURL string `env:"JWKS_URL" envDefault:"http://user-service/.well-known/jwks.json"`
	// JWTIssuer and JWTAudience are the iss and aud claims an access token must carry.
	JWTIssuer   string `env:"JWT_ISSUER" envDefault:"tracecart"`
	JWTAudience string `env:"JWT_AUDIENCE" envDefault:"tracecart"`
	// SeedDemoData inserts the demo catalogue at start-up where it is missing. Off unless asked
	// for, like user-service's demo accounts: a deployment starts with the data it brings.
	SeedDemoData bool `env:"SEED_DEMO_DATA" envDefault:"false"`

	// OrderServiceURL is where the reconciler asks how an order ended; its host is a service
	// name that Consul resolves, unless it has a port.
	OrderServiceURL string `env:"ORDER_SERVICE_URL" envDefault:"http://order-service"`
	// ReconcileAfter is how long a reservation may stay RESERVED (normally milliseconds, while
	// the payment is taken) before the reconciler asks order-service how its order ended. It is
	// a little longer than order-service's SAGA_TIMEOUT (30s), so that an order still PENDING is
	// left to order-service's own timeout.
	ReconcileAfter time.Duration `env:"RECONCILE_AFTER" envDefault:"45s"`
	// ReconcileInterval is how often the reconciler looks for such reservations.
	ReconcileInterval time.Duration `env:"RECONCILE_INTERVAL" envDefault:"10s"`
}

// Validate checks what the struct tags cannot, the embedded Service's rules included.
func (c *Config) Validate() error {
	errs := []error{
		c.Service.Validate(),
		config.CheckHTTPURL("JWKS_URL", c.JWKSURL),
		config.CheckHTTPURL("ORDER_SERVICE_URL", c.OrderServiceURL),
	}
	for _, v := range []struct {
		key string
		d   time.Duration
	}{{"RECONCILE_AFTER", c.ReconcileAfter}, {"RECONCILE_INTERVAL", c.ReconcileInterval}} {
		if v.d <= 0 {
			errs = append(errs, &config.VarError{Key: v.key, Err: fmt.Errorf("must be positive, got %s", v.d)})
		}
	}
	return errors.Join(errs...)
}

// loadConfig reads the Config from getenv, with product-service as the default service name.
func loadConfig(getenv func(string) string) (Config, error) {
	cfg, err := config.Load[Config](config.WithDefaults(getenv, map[string]string{"SERVICE_NAME": "product-service"}))
	if err != nil {
		return Config{}, fmt.Errorf("load config: %w", err)
	}
	return cfg, nil
}

// bootstrapOptions are the settings of the parts every service starts the same way, with
// product-service's migrations.
func (c *Config) bootstrapOptions(stdout io.Writer) bootstrap.Options {
	return bootstrap.Options{
		Service: c.Service, Postgres: c.Postgres, Kafka: c.Kafka, Migrations: migrations.Set, Stdout: stdout,
	}
}

// verifierOptions say how admins' tokens are checked: against the keys user-service publishes,
// fetched through client.
func (c *Config) verifierOptions(client *http.Client) auth.VerifierOptions {
	return auth.VerifierOptions{JWKSURL: c.JWKSURL, Issuer: c.JWTIssuer, Audience: c.JWTAudience, HTTPClient: client}
}
