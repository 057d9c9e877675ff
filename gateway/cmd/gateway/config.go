package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/tracecart/tracecart/shared/config"
)

// Config is everything the gateway reads from its environment.
type Config struct {
	config.Service

	// Upstream service names, as registered in Consul.
	UserService    string `env:"USER_SERVICE" envDefault:"user-service"`
	ProductService string `env:"PRODUCT_SERVICE" envDefault:"product-service"`
	OrderService   string `env:"ORDER_SERVICE" envDefault:"order-service"`

	// Per-route timeouts: each bounds a whole exchange with the service, retries included.
	// Logging in runs a deliberately slow password hash; placing an order calls
	// product-service before it answers; a catalogue read should be quick or fail fast.
	AuthTimeout     time.Duration `env:"AUTH_TIMEOUT" envDefault:"5s"`
	UsersTimeout    time.Duration `env:"USERS_TIMEOUT" envDefault:"3s"`
	ProductsTimeout time.Duration `env:"PRODUCTS_TIMEOUT" envDefault:"2s"`
	OrdersTimeout   time.Duration `env:"ORDERS_TIMEOUT" envDefault:"5s"`

	// Resilience of the calls to the services: a breaker per service (config.Breaker's
	// BREAKER_* variables), and retries.
	config.Breaker
	RetryMaxAttempts int `env:"RETRY_MAX_ATTEMPTS" envDefault:"3"`
	// UpstreamMaxInFlight bounds the requests in flight to each service; more are refused at
	// once with 503 (proxy.Limit explains why). 0 is no bound. 64 lets a service that answers in
	// 10 ms take over 6,000 requests a second and keeps a queue at one that answers slower to
	// under a second at 100 requests a second.
	UpstreamMaxInFlight int `env:"UPSTREAM_MAX_IN_FLIGHT" envDefault:"64"`

	// Token verification: user-service's key set, through Consul like any call.
	JWKSURL     string `env:"JWKS_URL" envDefault:"http://user-service/.well-known/jwks.json"`
	JWTIssuer   string `env:"JWT_ISSUER" envDefault:"tracecart"`
	JWTAudience string `env:"JWT_AUDIENCE" envDefault:"tracecart"`

	// Rate limit per client (the token's subject, else the client's address): a token bucket
	// of RATE_LIMIT_BURST requests refilled at RATE_LIMIT_RPS per second.
	RateLimitRPS   float64 `env:"RATE_LIMIT_RPS" envDefault:"50"`
	RateLimitBurst int     `env:"RATE_LIMIT_BURST" envDefault:"100"`

	// The catalogue cache's bounds.
	CacheMaxEntries    int `env:"CACHE_MAX_ENTRIES" envDefault:"1024"`
	CacheMaxBytes      int `env:"CACHE_MAX_BYTES" envDefault:"16777216"`
	CacheMaxEntryBytes int `env:"CACHE_MAX_ENTRY_BYTES" envDefault:"262144"`

	// MaxBodyBytes is the largest request body the gateway forwards; tracecart's requests are
	// small JSON documents.
	MaxBodyBytes int64 `env:"MAX_BODY_BYTES" envDefault:"65536"`

	// JaegerUIURL is where the storefront links each order's trace.
	JaegerUIURL string `env:"JAEGER_UI_URL" envDefault:"http://127.0.0.1:16686"`
}

// Validate checks what the struct tags cannot; it also runs the embedded Service's checks,
// which this method would otherwise hide.
func (c *Config) Validate() error {
	errs := []error{c.Service.Validate(), c.Breaker.Validate()}
	positive := map[string]time.Duration{
		"AUTH_TIMEOUT": c.AuthTimeout, "USERS_TIMEOUT": c.UsersTimeout,
		"PRODUCTS_TIMEOUT": c.ProductsTimeout, "ORDERS_TIMEOUT": c.OrdersTimeout,
	}
	for key, d := range positive {
		if d <= 0 {
			errs = append(errs, &config.VarError{Key: key, Err: fmt.Errorf("must be positive, got %s", d)})
		}
	}
	if c.RetryMaxAttempts < 1 {
		errs = append(errs, &config.VarError{Key: "RETRY_MAX_ATTEMPTS", Err: errors.New("must be at least 1 (1 disables retries)")})
	}
	if c.UpstreamMaxInFlight < 0 {
		errs = append(errs, &config.VarError{Key: "UPSTREAM_MAX_IN_FLIGHT", Err: fmt.Errorf("must be 0 (no bound) or more, got %d", c.UpstreamMaxInFlight)})
	}
	if !(c.RateLimitRPS > 0) {
		errs = append(errs, &config.VarError{Key: "RATE_LIMIT_RPS", Err: fmt.Errorf("must be positive, got %v", c.RateLimitRPS)})
	}
	if c.RateLimitBurst < 1 {
		errs = append(errs, &config.VarError{Key: "RATE_LIMIT_BURST", Err: fmt.Errorf("must be at least 1, got %d", c.RateLimitBurst)})
	}
	for key, n := range map[string]int{"CACHE_MAX_ENTRIES": c.CacheMaxEntries, "CACHE_MAX_BYTES": c.CacheMaxBytes, "CACHE_MAX_ENTRY_BYTES": c.CacheMaxEntryBytes} {
		if n < 1 {
			errs = append(errs, &config.VarError{Key: key, Err: fmt.Errorf("must be at least 1, got %d", n)})
		}
	}
	if c.MaxBodyBytes < 1 {
		errs = append(errs, &config.VarError{Key: "MAX_BODY_BYTES", Err: fmt.Errorf("must be at least 1, got %d", c.MaxBodyBytes)})
	}
	errs = append(errs, config.CheckHTTPURL("JWKS_URL", c.JWKSURL), config.CheckHTTPURL("JAEGER_UI_URL", c.JaegerUIURL))
	return errors.Join(errs...)
}
