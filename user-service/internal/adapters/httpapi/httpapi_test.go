package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/shared/httpserver"
	"github.com/tracecart/tracecart/shared/postgres/pgtest"
	"github.com/tracecart/tracecart/shared/testinfra"
	"github.com/tracecart/tracecart/user-service/internal/adapters/httpapi"
	"github.com/tracecart/tracecart/user-service/internal/adapters/password"
	"github.com/tracecart/tracecart/user-service/internal/adapters/postgres"
	"github.com/tracecart/tracecart/user-service/internal/adapters/postgres/postgrestest"
	"github.com/tracecart/tracecart/user-service/internal/adapters/token"
	"github.com/tracecart/tracecart/user-service/internal/app"
	"github.com/tracecart/tracecart/user-service/internal/domain/account"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

const (
	issuer   = "tracecart"
	audience = "tracecart"
)

// api is user-service's real router, with its real store on a real database, served over HTTP.
type api struct {
	url  string
	pool *pgxpool.Pool
	keys *auth.KeySet
}

func newAPI(t *testing.T) *api {
	t.Helper()
	pool := postgrestest.Open(t)
	store := postgres.New(pool)
	// Cheap hashing parameters keep the suite fast; the routes do not depend on them.
	hasher, err := password.NewHasher(password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 4*64)
	if err != nil {
		t.Fatal(err)
	}
	keys := newKeySet(t)
	tokens, err := token.NewIssuer(token.Options{Keys: keys, Issuer: issuer, Audience: audience, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	users, err := app.New(app.Deps{Users: store, Wallets: store, Payments: store, Hasher: hasher, Tokens: tokens,
		MeterProvider: noop.NewMeterProvider()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := users.SeedDemoUsers(t.Context()); err != nil {
		t.Fatalf("seed: %v", err)
	}
	verifier, err := token.NewVerifier(token.VerifierOptions{Keys: keys, Issuer: issuer, Audience: audience})
	if err != nil {
		t.Fatal(err)
	}
	router, err := httpapi.NewServer(httpapi.Deps{
		Router: httpserver.RouterOptions{ServiceName: "user-service", Logger: slog.New(slog.DiscardHandler)},
		App:    users, Verifier: verifier, JWKS: keys.JWKSHandler(),
	})
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	srv := httptest.NewServer(router)
	t.Cleanup(srv.Close)
	return &api{url: srv.URL, pool: pool, keys: keys}
}

func newKeySet(t *testing.T) *auth.KeySet {
	t.Helper()
	k, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.NewKeySet(k)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// response is an answer, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// decode unmarshals the body into v.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// request describes a call; body is sent as it is if it is a string, encoded as JSON otherwise.
type request struct {
	method, path string
	body         any
	token        string
	header       map[string]string
}

func (a *api) do(t *testing.T, req request) response {
	t.Helper()
	var body io.Reader
	switch b := req.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		encoded, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(encoded)
	}
	r, err := http.NewRequestWithContext(t.Context(), req.method, a.url+req.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if req.token != "" {
		r.Header.Set("Authorization", "Bearer "+req.token)
	}
	for k, v := range req.header {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// wantProblem checks that resp is an RFC 9457 problem with the given status.
func wantProblem(t *testing.T, resp response, status int) httpserver.Problem {
	t.Helper()
	if resp.status != status {
		t.Fatalf("status = %d, want %d; body %s", resp.status, status, resp.body)
	}
	if ct := resp.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	var p httpserver.Problem
	resp.decode(t, &p)
	if p.Status != status || p.Title == "" {
		t.Errorf("problem = %+v, want status %d and a title", p, status)
	}
	return p
}

// unchanged runs fn and fails the test if it wrote anything to the database.
func (a *api) unchanged(t *testing.T, fn func()) {
	t.Helper()
	before := postgrestest.Rows(t, a.pool)
	fn()
	after := postgrestest.Rows(t, a.pool)
	for table, n := range before {
		if after[table] != n {
			t.Errorf("%s changed from %d to %d", table, n, after[table])
		}
	}
}

// login returns an access token for email and password, failing the test otherwise.
func (a *api) login(t *testing.T, email, pass string) string {
	t.Helper()
	resp := a.do(t, request{method: http.MethodPost, path: "/auth/login", body: map[string]string{"email": email, "password": pass}})
	if resp.status != http.StatusOK {
		t.Fatalf("login %s: status %d, body %s", email, resp.status, resp.body)
	}
	var lr struct {
		AccessToken string `json:"access_token"`
	}
	resp.decode(t, &lr)
	return lr.AccessToken
}

// newCustomer registers a customer and logs them in.
func (a *api) newCustomer(t *testing.T) (id uuid.UUID, tok string) {
	t.Helper()
	email := "c-" + uuid.NewString()[:8] + "@example.com"
	resp := a.do(t, request{method: http.MethodPost, path: "/auth/register",
		body: map[string]string{"email": email, "password": "password-123", "name": "Customer"}})
	if resp.status != http.StatusCreated {
		t.Fatalf("register: status %d, body %s", resp.status, resp.body)
	}
	var u struct {
		ID uuid.UUID `json:"id"`
	}
	resp.decode(t, &u)
	return u.ID, a.login(t, email, "password-123")
}

// TestRegisterLoginAndMe follows one new user through register, login, the token's check against
// the published JWKS and GET /users/me. It is longer than 60 lines on purpose: each step uses what
// the one before returned, and reads best as one story.
func TestRegisterLoginAndMe(t *testing.T) {
	a := newAPI(t)

	resp := a.do(t, request{method: http.MethodPost, path: "/auth/register",
		body: map[string]string{"email": "  Carol@Example.COM ", "password": "carol-password", "name": " Carol "}})
	if resp.status != http.StatusCreated {
		t.Fatalf("register: status %d, body %s", resp.status, resp.body)
	}
	var created map[string]any
	resp.decode(t, &created)
	id, err := uuid.Parse(created["id"].(string))
	if err != nil {
		t.Fatalf("id %v: %v", created["id"], err)
	}
	if created["email"] != "carol@example.com" || created["name"] != "Carol" {
		t.Errorf("registered user = %v, want normalised email and trimmed name", created)
	}
	if roles, _ := created["roles"].([]any); len(roles) != 1 || roles[0] != "customer" {
		t.Errorf("roles = %v, want [customer]", created["roles"])
	}
	for _, secret := range []string{"password", "password_hash", "carol-password"} {
		if bytes.Contains(resp.body, []byte(secret)) {
			t.Errorf("the registration answer contains %q: %s", secret, resp.body)
		}
	}
	if loc := resp.header.Get("Location"); loc != "/users/"+id.String() {
		t.Errorf("Location = %q, want /users/%s", loc, id)
	}
	var hash string
	var balance int64
	if err := a.pool.QueryRow(t.Context(), `SELECT password_hash, balance_cents FROM users WHERE id = $1`, id).Scan(&hash, &balance); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$") || balance != 0 {
		t.Errorf("stored hash %q and balance %d, want an argon2id PHC string and 0", hash, balance)
	}

	resp = a.do(t, request{method: http.MethodPost, path: "/auth/login",
		body: map[string]string{"email": "CAROL@example.com", "password": "carol-password"}})
	if resp.status != http.StatusOK {
		t.Fatalf("login: status %d, body %s", resp.status, resp.body)
	}
	if cc := resp.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("login Cache-Control = %q, want no-store", cc)
	}
	var lr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	resp.decode(t, &lr)
	if lr.TokenType != "Bearer" || lr.ExpiresIn != 3600 || lr.AccessToken == "" {
		t.Errorf("login answer = %+v, want a Bearer token for 3600 s", lr)
	}

	// The token verifies like any other service would verify it: against the published JWKS.
	jwks := a.do(t, request{method: http.MethodGet, path: "/.well-known/jwks.json"})
	if jwks.status != http.StatusOK {
		t.Fatalf("JWKS: status %d", jwks.status)
	}
	v, err := auth.NewVerifier(auth.VerifierOptions{JWKSURL: a.url + "/.well-known/jwks.json", Issuer: issuer, Audience: audience})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(t.Context(), lr.AccessToken)
	if err != nil {
		t.Fatalf("verify the login token against the published JWKS: %v", err)
	}
	if claims.Subject != id.String() || !claims.HasRole("customer") || claims.HasRole("admin") {
		t.Errorf("claims = %+v, want sub %s and role customer only", claims, id)
	}

	resp = a.do(t, request{method: http.MethodGet, path: "/users/me", token: lr.AccessToken})
	if resp.status != http.StatusOK {
		t.Fatalf("GET /users/me: status %d, body %s", resp.status, resp.body)
	}
	var me map[string]any
	resp.decode(t, &me)
	if me["id"] != id.String() || me["email"] != "carol@example.com" || me["name"] != "Carol" || me["balance_cents"] != float64(0) {
		t.Errorf("GET /users/me = %v", me)
	}
}

func TestDemoUsers(t *testing.T) {
	a := newAPI(t)
	tests := []struct {
		email   string
		id      uuid.UUID
		balance float64
		admin   bool
	}{
		{"alice@example.com", account.AliceID, 100_000, false},
		{"bob@example.com", account.BobID, 5_000, false},
		{"admin@example.com", account.AdminID, 0, true},
	}
	for _, tt := range tests {
		tok := a.login(t, tt.email, account.DemoPassword)
		var me struct {
			ID           uuid.UUID `json:"id"`
			Roles        []string  `json:"roles"`
			BalanceCents float64   `json:"balance_cents"`
		}
		a.do(t, request{method: http.MethodGet, path: "/users/me", token: tok}).decode(t, &me)
		if me.ID != tt.id || me.BalanceCents != tt.balance || (len(me.Roles) == 2) != tt.admin {
			t.Errorf("%s = %+v, want id %s, balance %v, admin %v", tt.email, me, tt.id, tt.balance, tt.admin)
		}
	}
}

func TestUserByID(t *testing.T) {
	a := newAPI(t)
	id, tok := a.newCustomer(t)
	admin := a.login(t, "admin@example.com", account.DemoPassword)

	if resp := a.do(t, request{method: http.MethodGet, path: "/users/" + id.String(), token: tok}); resp.status != http.StatusOK {
		t.Errorf("own user: status %d, want 200", resp.status)
	}
	wantProblem(t, a.do(t, request{method: http.MethodGet, path: "/users/" + account.AliceID.String(), token: tok}), http.StatusForbidden)
	if resp := a.do(t, request{method: http.MethodGet, path: "/users/" + account.AliceID.String(), token: admin}); resp.status != http.StatusOK {
		t.Errorf("admin reading alice: status %d, want 200", resp.status)
	}
	wantProblem(t, a.do(t, request{method: http.MethodGet, path: "/users/not-a-uuid", token: admin}), http.StatusBadRequest)
	wantProblem(t, a.do(t, request{method: http.MethodGet, path: "/users/" + uuid.NewString(), token: admin}), http.StatusNotFound)
}

func TestLoginFailuresLookAlike(t *testing.T) {
	a := newAPI(t)
	wrongPassword := a.do(t, request{method: http.MethodPost, path: "/auth/login",
		body: map[string]string{"email": "alice@example.com", "password": "not-the-password"}})
	unknownEmail := a.do(t, request{method: http.MethodPost, path: "/auth/login",
		body: map[string]string{"email": "nobody@example.com", "password": "not-the-password"}})
	p1 := wantProblem(t, wrongPassword, http.StatusUnauthorized)
	p2 := wantProblem(t, unknownEmail, http.StatusUnauthorized)
	if p1.Detail != p2.Detail || p1.Title != p2.Title {
		t.Errorf("wrong password answers %+v, unknown email %+v: they must not be told apart", p1, p2)
	}
	if strings.Contains(string(wrongPassword.body), "access_token") {
		t.Errorf("a failed login returned a token")
	}
}

func TestTopUpAndWallet(t *testing.T) {
	a := newAPI(t)
	_, tok := a.newCustomer(t)

	for _, amount := range []int64{2500, 1} {
		resp := a.do(t, request{method: http.MethodPost, path: "/users/me/wallet/top-ups", token: tok, body: map[string]int64{"amount_cents": amount}})
		if resp.status != http.StatusOK {
			t.Fatalf("top-up: status %d, body %s", resp.status, resp.body)
		}
	}
	resp := a.do(t, request{method: http.MethodPost, path: "/users/me/wallet/top-ups", token: tok, body: map[string]int64{"amount_cents": 10_000_000}})
	var tr struct {
		BalanceCents int64 `json:"balance_cents"`
	}
	resp.decode(t, &tr)
	if resp.status != http.StatusOK || tr.BalanceCents != 10_002_501 {
		t.Fatalf("top-up of the maximum: status %d, balance %d; want 200 and 10002501", resp.status, tr.BalanceCents)
	}

	resp = a.do(t, request{method: http.MethodGet, path: "/users/me/wallet?limit=2", token: tok})
	if resp.status != http.StatusOK {
		t.Fatalf("GET wallet: status %d, body %s", resp.status, resp.body)
	}
	var w struct {
		BalanceCents int64            `json:"balance_cents"`
		Transactions []map[string]any `json:"transactions"`
	}
	resp.decode(t, &w)
	if w.BalanceCents != 10_002_501 || len(w.Transactions) != 2 {
		t.Fatalf("wallet = %+v, want balance 10002501 and the last 2 transactions", w)
	}
	newest := w.Transactions[0]
	if newest["kind"] != "topup" || newest["amount_cents"] != float64(10_000_000) || newest["id"] == nil || newest["at"] == nil {
		t.Errorf("newest transaction = %v, want the 10000000 top-up with id and at", newest)
	}
	if _, ok := newest["order_id"]; ok {
		t.Errorf("a top-up has an order_id: %v", newest)
	}
	if w.Transactions[1]["amount_cents"] != float64(1) {
		t.Errorf("second transaction = %v, want the top-up of 1", w.Transactions[1])
	}
	postgrestest.CheckMoneyInvariant(t, a.pool)
}

func TestTopUpIdempotencyKey(t *testing.T) {
	a := newAPI(t)
	_, tok := a.newCustomer(t)
	_, other := a.newCustomer(t)
	topUp := func(tok, key string, amount int64) response {
		return a.do(t, request{method: http.MethodPost, path: "/users/me/wallet/top-ups", token: tok,
			body: map[string]int64{"amount_cents": amount}, header: map[string]string{"Idempotency-Key": key}})
	}

	// The same key sent concurrently, as a client retrying a timed-out request would.
	const tries = 8
	var wg sync.WaitGroup
	answers := make([]response, tries)
	for i := range tries {
		wg.Go(func() { answers[i] = topUp(tok, "key-1", 1500) })
	}
	wg.Wait()
	for i, resp := range answers {
		var tr struct {
			BalanceCents int64 `json:"balance_cents"`
		}
		resp.decode(t, &tr)
		if resp.status != http.StatusOK || tr.BalanceCents != 1500 {
			t.Errorf("try %d: status %d, balance %d; want 200 and 1500 every time", i, resp.status, tr.BalanceCents)
		}
	}
	if n := pgtest.Count(t, a.pool, `SELECT count(*) FROM wallet_transactions WHERE idempotency_key = 'key-1'`); n != 1 {
		t.Errorf("%d top-ups recorded for one key, want 1", n)
	}

	// A later top-up, then a replay of the first key: still the first answer, no credit.
	topUp(tok, "key-2", 100)
	resp := topUp(tok, "key-1", 1500)
	if !strings.Contains(string(resp.body), `"balance_cents":1500`) || resp.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay of key-1 = %d %s (replayed %q), want the first answer again", resp.status, resp.body, resp.header.Get("Idempotent-Replayed"))
	}
	// The same key for another amount is a client bug, refused; for another user it is unrelated.
	a.unchanged(t, func() { wantProblem(t, topUp(tok, "key-1", 999), http.StatusUnprocessableEntity) })
	if resp := topUp(other, "key-1", 700); !strings.Contains(string(resp.body), `"balance_cents":700`) {
		t.Errorf("another user's key-1 = %d %s, want its own top-up of 700", resp.status, resp.body)
	}
	var me struct {
		BalanceCents int64 `json:"balance_cents"`
	}
	a.do(t, request{method: http.MethodGet, path: "/users/me", token: tok}).decode(t, &me)
	if me.BalanceCents != 1600 {
		t.Errorf("balance = %d, want 1600 (1500 once, plus 100)", me.BalanceCents)
	}
	postgrestest.CheckMoneyInvariant(t, a.pool)
}

func TestBadRequestsWriteNothing(t *testing.T) {
	a := newAPI(t)
	_, tok := a.newCustomer(t)
	huge := `{"email":"` + strings.Repeat("a", 1<<20) + `@example.com","password":"password-123","name":"Big"}`
	valid := func(change func(map[string]any)) map[string]any {
		m := map[string]any{"email": "dora@example.com", "password": "password-123", "name": "Dora"}
		change(m)
		return m
	}
	const (
		register = "/auth/register"
		topUp    = "/users/me/wallet/top-ups"
	)
	tests := []struct {
		name   string
		req    request
		status int
	}{
		{"register: malformed JSON", request{method: http.MethodPost, path: register, body: `{"email": "dora@example.com",`}, 400},
		{"register: not an object", request{method: http.MethodPost, path: register, body: `["dora"]`}, 400},
		{"register: unknown field", request{method: http.MethodPost, path: register, body: valid(func(m map[string]any) { m["roles"] = []string{"admin"} })}, 400},
		{"register: two JSON values", request{method: http.MethodPost, path: register, body: `{"email":"dora@example.com","password":"password-123","name":"Dora"} {}`}, 400},
		{"register: over 1 MiB", request{method: http.MethodPost, path: register, body: huge}, 413},
		{"register: not JSON", request{method: http.MethodPost, path: register, body: "email=dora@example.com",
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415},
		{"register: bad email", request{method: http.MethodPost, path: register, body: valid(func(m map[string]any) { m["email"] = "dora-at-example.com" })}, 422},
		{"register: short password", request{method: http.MethodPost, path: register, body: valid(func(m map[string]any) { m["password"] = "1234567" })}, 422},
		{"register: long password", request{method: http.MethodPost, path: register, body: valid(func(m map[string]any) { m["password"] = strings.Repeat("p", 129) })}, 422},
		{"register: empty name", request{method: http.MethodPost, path: register, body: valid(func(m map[string]any) { m["name"] = " " })}, 422},
		{"register: long name", request{method: http.MethodPost, path: register, body: valid(func(m map[string]any) { m["name"] = strings.Repeat("n", 101) })}, 422},
		{"register: taken email, other case", request{method: http.MethodPost, path: register, body: valid(func(m map[string]any) { m["email"] = " ALICE@example.com" })}, 409},
		{"register: NUL in the name", request{method: http.MethodPost, path: register, body: valid(func(m map[string]any) { m["name"] = "Do\x00ra" })}, 400},
		{"register: invalid UTF-8 in the name", request{method: http.MethodPost, path: register, body: "{\"email\":\"dora@example.com\",\"password\":\"password-123\",\"name\":\"D\xffra\"}"}, 400},
		{"login: NUL email", request{method: http.MethodPost, path: "/auth/login", body: `{"email":"\u0000","password":"whatever1"}`}, 400},
		{"login: invalid UTF-8 email", request{method: http.MethodPost, path: "/auth/login", body: "{\"email\":\"al\xffce@example.com\",\"password\":\"whatever1\"}"}, 400},
		{"login: not an email address", request{method: http.MethodPost, path: "/auth/login", body: `{"email":"alice","password":"whatever1"}`}, 422},
		{"login: malformed JSON", request{method: http.MethodPost, path: "/auth/login", body: `{"email":`}, 400},
		{"login: unknown field", request{method: http.MethodPost, path: "/auth/login", body: `{"email":"alice@example.com","password":"tracecart-demo","otp":1}`}, 400},
		{"top-up: zero", request{method: http.MethodPost, path: topUp, token: tok, body: `{"amount_cents":0}`}, 422},
		{"top-up: negative", request{method: http.MethodPost, path: topUp, token: tok, body: `{"amount_cents":-500}`}, 422},
		{"top-up: too large", request{method: http.MethodPost, path: topUp, token: tok, body: `{"amount_cents":10000001}`}, 422},
		{"top-up: missing amount", request{method: http.MethodPost, path: topUp, token: tok, body: `{}`}, 422},
		{"top-up: fractional", request{method: http.MethodPost, path: topUp, token: tok, body: `{"amount_cents":12.5}`}, 400},
		{"top-up: string amount", request{method: http.MethodPost, path: topUp, token: tok, body: `{"amount_cents":"100"}`}, 400},
		{"top-up: malformed JSON", request{method: http.MethodPost, path: topUp, token: tok, body: `{"amount_cents":`}, 400},
		{"top-up: unknown field", request{method: http.MethodPost, path: topUp, token: tok, body: `{"amount_cents":100,"user_id":"x"}`}, 400},
		{"top-up: over 1 MiB", request{method: http.MethodPost, path: topUp, token: tok, body: `{"amount_cents":100,"x":"` + strings.Repeat("a", 1<<20) + `"}`}, 413},
		{"top-up: Idempotency-Key too long", request{method: http.MethodPost, path: topUp, token: tok, body: `{"amount_cents":100}`,
			header: map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}}, 400},
		{"wallet: limit not a number", request{method: http.MethodGet, path: "/users/me/wallet?limit=ten", token: tok}, 400},
		{"wallet: limit zero", request{method: http.MethodGet, path: "/users/me/wallet?limit=0", token: tok}, 400},
		{"wallet: wrong method", request{method: http.MethodDelete, path: "/users/me/wallet", token: tok}, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.unchanged(t, func() { wantProblem(t, a.do(t, tt.req), tt.status) })
		})
	}
}

func TestPrivateRoutesNeedAValidToken(t *testing.T) {
	a := newAPI(t)
	id, good := a.newCustomer(t)

	sign := func(keys *auth.KeySet, now time.Time, aud string) string {
		t.Helper()
		iss, err := token.NewIssuer(token.Options{Keys: keys, Issuer: issuer, Audience: aud, TTL: time.Hour,
			Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := iss.Issue(id, []string{"customer", "admin"})
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	tokens := map[string]string{
		"no token":                       "",
		"forged (another key)":           sign(newKeySet(t), time.Now(), audience),
		"expired":                        sign(a.keys, time.Now().Add(-2*time.Hour), audience),
		"for another audience":           sign(a.keys, time.Now(), "billing"),
		"garbage":                        "not.a.token",
		"valid token, signature altered": alterSignature(good),
	}
	routes := []request{
		{method: http.MethodGet, path: "/users/me"},
		{method: http.MethodGet, path: "/users/me/wallet"},
		{method: http.MethodPost, path: "/users/me/wallet/top-ups", body: `{"amount_cents":100}`},
		{method: http.MethodGet, path: "/users/" + id.String()},
	}
	for name, tok := range tokens {
		for _, route := range routes {
			t.Run(name+" "+route.method+" "+route.path, func(t *testing.T) {
				route.token = tok
				a.unchanged(t, func() {
					resp := a.do(t, route)
					wantProblem(t, resp, http.StatusUnauthorized)
					if !strings.HasPrefix(resp.header.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", resp.header.Get("WWW-Authenticate"))
					}
				})
			})
		}
	}
	// The same routes with the good token work, so the refusals above were about the token.
	for _, route := range routes {
		route.token = good
		if resp := a.do(t, route); resp.status != http.StatusOK {
			t.Errorf("%s %s with a valid token: status %d, body %s", route.method, route.path, resp.status, resp.body)
		}
	}
}

// alterSignature changes the first character of a JWT's signature.
func alterSignature(jwt string) string {
	i := strings.LastIndex(jwt, ".") + 1
	replacement := "A"
	if jwt[i] == 'A' {
		replacement = "B"
	}
	return jwt[:i] + replacement + jwt[i+1:]
}

func TestRegisterAnnouncesUserRegistered(t *testing.T) {
	a := newAPI(t)
	register := request{method: http.MethodPost, path: "/auth/register",
		body: map[string]string{"email": "erin@example.com", "password": "erin-password", "name": "Erin"}}
	resp := a.do(t, register)
	if resp.status != http.StatusCreated {
		t.Fatalf("register: status %d, body %s", resp.status, resp.body)
	}
	var u struct {
		ID uuid.UUID `json:"id"`
	}
	resp.decode(t, &u)

	announced := pgtest.OutboxEvents(t, a.pool, u.ID.String(), events.UserRegistered)
	if len(announced) != 1 {
		t.Fatalf("%d user.registered events for the new user, want exactly 1", len(announced))
	}
	ev := announced[0]
	p := pgtest.Payload[events.UserRegisteredPayload](t, ev)
	if ev.Topic != events.TopicUsers || ev.Key != u.ID.String() || ev.Envelope.OrderID != uuid.Nil ||
		p.UserID != u.ID || p.Role != account.RoleCustomer {
		t.Errorf("user.registered = %+v with payload %+v; want it on users, keyed by the user, no order, role customer", ev, p)
	}

	// The same email address again: 409, and neither an account nor an event.
	a.unchanged(t, func() { wantProblem(t, a.do(t, register), http.StatusConflict) })
	if n := pgtest.Count(t, a.pool, `SELECT count(*) FROM outbox WHERE headers->>'event-type' = $1`, events.UserRegistered); n != 1 {
		t.Errorf("%d user.registered events after a refused registration, want 1", n)
	}
}

func TestListUsers(t *testing.T) {
	a := newAPI(t) // alice, bob and admin
	admin := a.login(t, "admin@example.com", account.DemoPassword)
	for range 2 {
		a.newCustomer(t)
	}
	type page struct {
		Users []map[string]any `json:"users"`
		Next  *uuid.UUID       `json:"next"`
	}
	list := func(query string) page {
		t.Helper()
		resp := a.do(t, request{method: http.MethodGet, path: "/users" + query, token: admin})
		if resp.status != http.StatusOK {
			t.Fatalf("GET /users%s: status %d, body %s", query, resp.status, resp.body)
		}
		for _, secret := range []string{"password", "argon2id"} {
			if bytes.Contains(resp.body, []byte(secret)) {
				t.Errorf("the list contains %q: %s", secret, resp.body)
			}
		}
		var p page
		resp.decode(t, &p)
		return p
	}

	all := list("")
	if len(all.Users) != 5 || all.Next != nil {
		t.Fatalf("GET /users = %d users, next %v; want all 5 on one page", len(all.Users), all.Next)
	}
	// Pages of 2: 2, 2, 1, in the same order as the whole list, the last without a next.
	var paged []any
	query := "?limit=2"
	for i, want := range []int{2, 2, 1} {
		p := list(query)
		if len(p.Users) != want || (p.Next == nil) != (i == 2) {
			t.Fatalf("page %d = %d users, next %v; want %d", i+1, len(p.Users), p.Next, want)
		}
		for _, u := range p.Users {
			paged = append(paged, u["id"])
		}
		if p.Next != nil {
			query = "?limit=2&after=" + p.Next.String()
		}
	}
	for i, u := range all.Users {
		if paged[i] != u["id"] {
			t.Errorf("user %d: paged %v, whole list %v; the order must be stable", i, paged[i], u["id"])
		}
	}
	if p := list("?limit=100&after=" + uuid.Max.String()); len(p.Users) != 0 || p.Next != nil {
		t.Errorf("after the last possible ID = %+v, want an empty last page", p)
	}
	if p := list("?limit=5"); len(p.Users) != 5 || p.Next != nil {
		t.Errorf("a page exactly as long as the list = %d users, next %v; want 5 and no next", len(p.Users), p.Next)
	}
}

func TestListUsersRefusals(t *testing.T) {
	a := newAPI(t)
	_, customer := a.newCustomer(t)
	admin := a.login(t, "admin@example.com", account.DemoPassword)
	tests := []struct {
		name   string
		req    request
		status int
	}{
		{"no token", request{method: http.MethodGet, path: "/users"}, 401},
		{"a customer", request{method: http.MethodGet, path: "/users", token: customer}, 403},
		{"limit zero", request{method: http.MethodGet, path: "/users?limit=0", token: admin}, 400},
		{"limit over 100", request{method: http.MethodGet, path: "/users?limit=101", token: admin}, 400},
		{"limit not a number", request{method: http.MethodGet, path: "/users?limit=all", token: admin}, 400},
		{"after not a user ID", request{method: http.MethodGet, path: "/users?after=alice", token: admin}, 400},
		{"wrong method", request{method: http.MethodPost, path: "/users", token: admin, body: `{}`}, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.unchanged(t, func() { wantProblem(t, a.do(t, tt.req), tt.status) })
		})
	}
	if resp := a.do(t, request{method: http.MethodGet, path: "/users?limit=100", token: admin}); resp.status != http.StatusOK {
		t.Errorf("limit=100: status %d, want 200", resp.status)
	}
}

// TestTopUpIdempotencyKeyRule: the header follows the one rule of httpserver.IdempotencyKey.
func TestTopUpIdempotencyKeyRule(t *testing.T) {
	a := newAPI(t)
	_, tok := a.newCustomer(t)
	if resp := a.do(t, request{method: http.MethodPost, path: "/users/me/wallet/top-ups", token: tok,
		body: `{"amount_cents":100}`, header: map[string]string{"Idempotency-Key": strings.Repeat("k", 255)}}); resp.status != http.StatusOK {
		t.Errorf("a key of 255 characters: status %d, want 200", resp.status)
	}
	for name, key := range map[string]string{"256 characters": strings.Repeat("k", 256), "not ASCII": "clé"} {
		t.Run(name, func(t *testing.T) {
			a.unchanged(t, func() {
				wantProblem(t, a.do(t, request{method: http.MethodPost, path: "/users/me/wallet/top-ups", token: tok,
					body: `{"amount_cents":100}`, header: map[string]string{"Idempotency-Key": key}}), http.StatusBadRequest)
			})
		})
	}
}
