package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracecart/tracecart/product-service/internal/adapters/httpapi"
	"github.com/tracecart/tracecart/product-service/internal/adapters/postgres"
	"github.com/tracecart/tracecart/product-service/internal/app"
	"github.com/tracecart/tracecart/product-service/internal/domain/catalog"
	"github.com/tracecart/tracecart/product-service/migrations"
	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/featureflag"
	"github.com/tracecart/tracecart/shared/httpserver"
	"github.com/tracecart/tracecart/shared/postgres/pgtest"
	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

// issuer and audience the tokens are minted for, as user-service mints them.
const (
	issuer   = "tracecart"
	audience = "tracecart"
)

// api is the service's real router and auth middleware on a loopback server, backed by a
// real database seeded with the demo catalogue, and verifying tokens against the JWKS of a key
// set the test holds, served by its own loopback server as user-service would serve it.
type api struct {
	url  string
	pool *pgxpool.Pool
	keys *auth.KeySet
}

func newAPI(t *testing.T) *api {
	t.Helper()
	return newAPIWith(t, nil, nil)
}

// newAPIWith is newAPI with scenario flags (nil: none) and a tracer provider for the server
// spans (nil: the global one, a no-op in tests).
func newAPIWith(t *testing.T, flags *featureflag.Flags, tracers trace.TracerProvider) *api {
	t.Helper()
	pool := pgtest.New(t, migrations.Set)
	catalogue, err := app.New(postgres.NewCatalog(pool), postgres.NewReservations(pool), noop.NewMeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := catalogue.SeedCatalogue(t.Context(), catalog.DemoProducts()); err != nil {
		t.Fatal(err)
	}

	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.NewKeySet(key)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(keys.JWKSHandler())
	t.Cleanup(jwks.Close)
	verifier, err := auth.NewVerifier(auth.VerifierOptions{
		JWKSURL: jwks.URL + "/.well-known/jwks.json", Issuer: issuer, Audience: audience,
	})
	if err != nil {
		t.Fatal(err)
	}

	handler, err := httpapi.NewServer(httpapi.Deps{
		Router: httpserver.RouterOptions{
			ServiceName: "product-service", Logger: slog.New(slog.DiscardHandler), TracerProvider: tracers,
		},
		Catalogue: catalogue, Verifier: verifier, Flags: flags,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return &api{url: srv.URL, pool: pool, keys: keys}
}

// claims returns valid claims for a user with roles, expiring in an hour.
func claims(roles ...string) auth.Claims {
	now := time.Now()
	return auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Audience: jwt.ClaimStrings{audience}, Subject: uuid.NewString(),
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		},
		Roles: roles,
	}
}

// token signs claims with the key set whose JWKS the API trusts.
func (a *api) token(t *testing.T, c auth.Claims) string {
	t.Helper()
	token, err := a.keys.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func (a *api) adminToken(t *testing.T) string { return a.token(t, claims("customer", "admin")) }

// response is an answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with an optional bearer token and JSON body ("" for none).
func (a *api) do(t *testing.T, method, path, token, body string) response {
	t.Helper()
	var reader io.Reader
	if body != "" {
		reader = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, a.url+path, reader)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// productJSON mirrors the API's product document.
type productJSON struct {
	ID          uuid.UUID `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Category    string    `json:"category"`
	PriceCents  int64     `json:"price_cents"`
	Stock       int64     `json:"stock"`
	Sold        int64     `json:"sold"`
}

type listJSON struct {
	Items  []productJSON `json:"items"`
	Total  int           `json:"total"`
	Limit  int           `json:"limit"`
	Offset int           `json:"offset"`
}

// problemJSON is the part of a problem document the tests look at.
type problemJSON struct {
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// decode parses r's JSON body into a new T, failing the test if r has another status.
func decode[T any](t *testing.T, r response, wantStatus int) T {
	t.Helper()
	var v T
	if r.status != wantStatus {
		t.Fatalf("status %d, want %d; body: %s", r.status, wantStatus, r.body)
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return v
}

// wantProblem asserts r is a problem+json answer with status.
func wantProblem(t *testing.T, r response, status int) problemJSON {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json (status %d, body %s)", ct, r.status, r.body)
	}
	p := decode[problemJSON](t, r, status)
	if p.Status != status {
		t.Errorf("problem status %d, want %d", p.Status, status)
	}
	return p
}

// snapshot fingerprints the products table: its row count and a hash of every row, so a test
// can prove a refused request wrote nothing and changed nothing.
func snapshot(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var n int
	var sum string
	err := pool.QueryRow(t.Context(),
		`SELECT count(*), coalesce(md5(string_agg(p::text, ',' ORDER BY id)), '') FROM products p`).Scan(&n, &sum)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d rows, md5 %s", n, sum)
}
