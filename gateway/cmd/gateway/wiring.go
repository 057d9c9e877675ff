package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/tracecart/tracecart/gateway/internal/httpapi"
	"github.com/tracecart/tracecart/gateway/internal/httpcache"
	"github.com/tracecart/tracecart/gateway/internal/proxy"
	"github.com/tracecart/tracecart/gateway/internal/ratelimit"
	"github.com/tracecart/tracecart/gateway/internal/storefront"
	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/discovery"
	"github.com/tracecart/tracecart/shared/httpclient"
	"github.com/tracecart/tracecart/shared/httpserver"
	"github.com/tracecart/tracecart/shared/telemetry"
)

// newHandler assembles the gateway's handler from cfg: one transport chain for every upstream,
// the token verifier, the rate limiter, the catalogue cache, a proxy per route group and the
// storefront page, put together by httpapi.NewServer. The benchmark of the handler chain
// (bench_test.go) calls it too, so that it measures exactly what run serves.
func newHandler(cfg Config, tel *telemetry.Telemetry, resolver discovery.Resolver) (http.Handler, error) {
	transport, err := newTransport(cfg, tel, resolver)
	if err != nil {
		return nil, fmt.Errorf("build transport: %w", err)
	}
	// The key set is fetched on the first request that carries a token, not at start-up: the
	// gateway must come up, and serve the catalogue, while user-service is still starting.
	verifier, err := auth.NewVerifier(auth.VerifierOptions{
		JWKSURL: cfg.JWKSURL, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience,
		HTTPClient: &http.Client{Transport: transport, Timeout: auth.DefaultFetchTimeout},
	})
	if err != nil {
		return nil, fmt.Errorf("build token verifier: %w", err)
	}
	limiter, err := ratelimit.New(ratelimit.Limit{Rate: cfg.RateLimitRPS, Burst: cfg.RateLimitBurst})
	if err != nil {
		return nil, fmt.Errorf("build rate limiter: %w", err)
	}
	cache, err := httpcache.New(httpcache.Options{
		MaxEntries: cfg.CacheMaxEntries, MaxBytes: cfg.CacheMaxBytes, MaxEntryBytes: cfg.CacheMaxEntryBytes,
		PerResponse:   []string{httpserver.HeaderRequestID, proxy.HeaderTraceID},
		MeterProvider: tel.MeterProvider,
	})
	if err != nil {
		return nil, fmt.Errorf("build response cache: %w", err)
	}
	upstreams, err := newUpstreams(cfg, transport, tel.Logger, tel.MeterProvider.Meter("github.com/tracecart/tracecart/gateway/internal/proxy"))
	if err != nil {
		return nil, err
	}
	page, err := storefront.New(storefront.Options{JaegerUIURL: cfg.JaegerUIURL})
	if err != nil {
		return nil, fmt.Errorf("build storefront: %w", err)
	}
	handler, err := httpapi.NewServer(httpapi.Deps{
		Router: httpserver.RouterOptions{
			ServiceName: cfg.ServiceName, Logger: tel.Logger,
			TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Propagator: tel.Propagator,
			MaxBodyBytes: cfg.MaxBodyBytes,
		},
		Verifier: verifier, Limiter: limiter, Cache: cache,
		Upstreams: upstreams, Storefront: page,
	})
	if err != nil {
		return nil, fmt.Errorf("build router: %w", err)
	}
	return handler, nil
}

// newTransport builds the one RoundTripper chain every upstream shares: it keeps a breaker per
// service, so one failing service does not cut the gateway off from the others.
func newTransport(cfg Config, tel *telemetry.Telemetry, resolver discovery.Resolver) (http.RoundTripper, error) {
	return proxy.NewTransport(proxy.TransportOptions{
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
}

// newUpstreams builds a proxy per route group, each with the route group's timeout.
func newUpstreams(cfg Config, transport http.RoundTripper, logger *slog.Logger, meter metric.Meter) (httpapi.Upstreams, error) {
	opts := proxy.Options{Transport: transport, RetryAfter: cfg.BreakerOpenTimeout, Logger: logger}
	limits := map[string]*proxy.Limit{}
	for _, service := range []string{cfg.UserService, cfg.ProductService, cfg.OrderService} {
		l, err := proxy.NewLimit(service, cfg.UpstreamMaxInFlight, meter)
		if err != nil {
			return httpapi.Upstreams{}, err
		}
		limits[service] = l
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
		h, err := proxy.New(proxy.Upstream{
			Service: u.service, StripPrefix: "/api", Timeout: u.timeout, Limit: limits[u.service],
		}, opts)
		if err != nil {
			return httpapi.Upstreams{}, fmt.Errorf("build proxy to %s: %w", u.service, err)
		}
		*u.dst = h
	}
	return upstreams, nil
}
