package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/tracecart/tracecart/gateway/internal/httpapi"
	"github.com/tracecart/tracecart/gateway/internal/httpcache"
	"github.com/tracecart/tracecart/gateway/internal/proxy"
	"github.com/tracecart/tracecart/gateway/internal/ratelimit"
	"github.com/tracecart/tracecart/gateway/internal/storefront"
	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/config"
	"github.com/tracecart/tracecart/shared/discovery"
	"github.com/tracecart/tracecart/shared/httpclient"
	"github.com/tracecart/tracecart/shared/httpserver"
	"github.com/tracecart/tracecart/shared/lifecycle"
	"github.com/tracecart/tracecart/shared/telemetry"
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

	// Resilience of the calls to the services. A service's breaker opens when at least
	// BREAKER_FAILURE_RATIO of the calls that finished in the last BREAKER_WINDOW failed, once
	// there were BREAKER_MINIMUM_CALLS of them (see shared/httpclient.BreakerSettings for why).
	BreakerFailureRatio float64       `env:"BREAKER_FAILURE_RATIO" envDefault:"0.5"`
	BreakerMinimumCalls uint32        `env:"BREAKER_MINIMUM_CALLS" envDefault:"20"`
	BreakerWindow       time.Duration `env:"BREAKER_WINDOW" envDefault:"10s"`
	BreakerOpenTimeout  time.Duration `env:"BREAKER_OPEN_TIMEOUT" envDefault:"5s"`
	RetryMaxAttempts    int           `env:"RETRY_MAX_ATTEMPTS" envDefault:"3"`

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
	errs := []error{c.Service.Validate()}
	positive := map[string]time.Duration{
		"AUTH_TIMEOUT": c.AuthTimeout, "USERS_TIMEOUT": c.UsersTimeout,
		"PRODUCTS_TIMEOUT": c.ProductsTimeout, "ORDERS_TIMEOUT": c.OrdersTimeout,
		"BREAKER_OPEN_TIMEOUT": c.BreakerOpenTimeout, "BREAKER_WINDOW": c.BreakerWindow,
	}
	for key, d := range positive {
		if d <= 0 {
			errs = append(errs, &config.VarError{Key: key, Err: fmt.Errorf("must be positive, got %s", d)})
		}
	}
	if !(c.BreakerFailureRatio > 0 && c.BreakerFailureRatio <= 1) {
		errs = append(errs, &config.VarError{Key: "BREAKER_FAILURE_RATIO", Err: fmt.Errorf("must be more than 0 and at most 1, got %v", c.BreakerFailureRatio)})
	}
	if c.BreakerMinimumCalls < 1 {
		errs = append(errs, &config.VarError{Key: "BREAKER_MINIMUM_CALLS", Err: errors.New("must be at least 1")})
	}
	if c.RetryMaxAttempts < 1 {
		errs = append(errs, &config.VarError{Key: "RETRY_MAX_ATTEMPTS", Err: errors.New("must be at least 1 (1 disables retries)")})
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

// run wires the gateway from its parts and serves until ctx is cancelled or SIGTERM arrives.
// Every error met on the way out, telemetry flush included, is joined into err.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) (err error) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The gateway's HTTP_ADDR is the public door of the shop: its metrics and exact version are
	// for operators and Prometheus only, so they get a listener of their own by default.
	cfg, err := config.Load[Config](config.WithDefaults(getenv, map[string]string{
		"SERVICE_NAME":       "gateway",
		"INTERNAL_HTTP_ADDR": ":8081",
	}))
	if err != nil {
		return fmt.Errorf("load config: %w", err)
	}

	tel, err := telemetry.Setup(ctx, telemetry.Options{
		ServiceName: cfg.ServiceName, ServiceVersion: cfg.Version, Stdout: stdout, LogLevel: cfg.LogLevel,
	})
	if err != nil {
		return fmt.Errorf("set up telemetry: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err = errors.Join(err, tel.Shutdown(ctx))
	}()

	registry, err := consul.NewClient(&consul.Config{Address: cfg.ConsulAddr, Token: string(cfg.ConsulToken)})
	if err != nil {
		return fmt.Errorf("consul client: %w", err)
	}
	resolver := discovery.NewConsulResolver(registry, discovery.WithLogger(tel.Logger))
	defer func() { err = errors.Join(err, resolver.Close()) }()

	// One transport for every upstream: it keeps a breaker per service, so one failing
	// service does not cut the gateway off from the others.
	transport, err := proxy.NewTransport(proxy.TransportOptions{
		Resolver: resolver,
		Breaker: httpclient.BreakerSettings{
			FailureRatio: cfg.BreakerFailureRatio, MinimumCalls: cfg.BreakerMinimumCalls,
			Window: cfg.BreakerWindow, OpenTimeout: cfg.BreakerOpenTimeout,
		},
		Retry: httpclient.RetryPolicy{MaxAttempts: cfg.RetryMaxAttempts},
		// An attempt may wait for headers as long as the most patient route.
		Timeouts:       httpclient.Timeouts{ResponseHeader: max(cfg.AuthTimeout, cfg.UsersTimeout, cfg.ProductsTimeout, cfg.OrdersTimeout)},
		TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Propagators: tel.Propagator,
		Logger: tel.Logger,
	})
	if err != nil {
		return fmt.Errorf("build transport: %w", err)
	}

	// The key set is fetched on the first request that carries a token, not at start-up: the
	// gateway must come up, and serve the catalogue, while user-service is still starting.
	verifier, err := auth.NewVerifier(auth.VerifierOptions{
		JWKSURL: cfg.JWKSURL, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience,
		HTTPClient: &http.Client{Transport: transport, Timeout: auth.DefaultFetchTimeout},
	})
	if err != nil {
		return fmt.Errorf("build token verifier: %w", err)
	}

	limiter, err := ratelimit.New(ratelimit.Limit{Rate: cfg.RateLimitRPS, Burst: cfg.RateLimitBurst})
	if err != nil {
		return fmt.Errorf("build rate limiter: %w", err)
	}
	cache, err := httpcache.New(httpcache.Options{
		MaxEntries: cfg.CacheMaxEntries, MaxBytes: cfg.CacheMaxBytes, MaxEntryBytes: cfg.CacheMaxEntryBytes,
		PerResponse:   []string{httpserver.HeaderRequestID, proxy.HeaderTraceID},
		MeterProvider: tel.MeterProvider,
	})
	if err != nil {
		return fmt.Errorf("build response cache: %w", err)
	}

	proxyOpts := proxy.Options{Transport: transport, RetryAfter: cfg.BreakerOpenTimeout, Logger: tel.Logger}
	upstream := func(service string, timeout time.Duration) (http.Handler, error) {
		return proxy.New(proxy.Upstream{Service: service, StripPrefix: "/api", Timeout: timeout}, proxyOpts)
	}
	var upstreams httpapi.Upstreams
	for _, u := range []struct {
		dst     *http.Handler
		service string
		timeout time.Duration
	}{
		{&upstreams.Auth, cfg.UserService, cfg.AuthTimeout},
		{&upstreams.Users, cfg.UserService, cfg.UsersTimeout},
		{&upstreams.Products, cfg.ProductService, cfg.ProductsTimeout},
		{&upstreams.Orders, cfg.OrderService, cfg.OrdersTimeout},
	} {
		if *u.dst, err = upstream(u.service, u.timeout); err != nil {
			return fmt.Errorf("build proxy to %s: %w", u.service, err)
		}
	}

	page, err := storefront.New(storefront.Options{JaegerUIURL: cfg.JaegerUIURL})
	if err != nil {
		return fmt.Errorf("build storefront: %w", err)
	}

	handler, err := httpapi.NewServer(httpapi.Options{
		Router: httpserver.RouterOptions{
			ServiceName: cfg.ServiceName, Logger: tel.Logger,
			TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Propagator: tel.Propagator,
			MaxBodyBytes: cfg.MaxBodyBytes,
		},
		Verifier:   verifier,
		Limiter:    limiter,
		Cache:      cache,
		Upstreams:  upstreams,
		Storefront: page,
	})
	if err != nil {
		return fmt.Errorf("build router: %w", err)
	}

	return lifecycle.Serve(ctx, lifecycle.Options{
		Service: cfg.ServiceName, Version: cfg.Version,
		Addr: cfg.HTTPAddr, InternalAddr: cfg.InternalHTTPAddr, AdvertiseAddress: cfg.AdvertiseAddress,
		Handler: handler, Metrics: tel.MetricsHandler,
		Consul:     registry,
		DrainDelay: cfg.DrainDelay, ShutdownTimeout: cfg.ShutdownTimeout,
		Logger: tel.Logger,
	})
}
