package auth_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tracecart/tracecart/shared/auth"
)

// whoami is the protected handler: it answers with the subject Middleware put in the context.
var whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	claims, ok := auth.ClaimsFrom(r.Context())
	if !ok {
		http.Error(w, "no claims in context", http.StatusInternalServerError)
		return
	}
	fmt.Fprint(w, claims.Subject)
})

func TestMiddleware(t *testing.T) {
	key := newSigner(t)
	keys := newKeySet(t, key)
	clk := newClock()
	now := clk.Now()
	v := newVerifier(t, newIssuer(t, keys).URL, clk)

	admin := validClaims(now)
	admin.Subject = "user-7"
	admin.Roles = []string{"customer", "admin"}
	expired := validClaims(now.Add(-time.Hour))

	protected := auth.Middleware(v)(whoami)
	adminOnly := auth.Middleware(v)(auth.RequireRole("admin")(whoami))

	tests := []struct {
		name          string
		handler       http.Handler
		authorization []string // the request's Authorization header values
		wantStatus    int
		wantBody      string // for 200
		wantChallenge string // WWW-Authenticate
	}{
		{
			name:          "valid token",
			handler:       protected,
			authorization: []string{"Bearer " + signValid(t, keys, now)},
			wantStatus:    http.StatusOK,
			wantBody:      "user-42",
		},
		{
			name:          "scheme in lower case",
			handler:       protected,
			authorization: []string{"bearer " + signValid(t, keys, now)},
			wantStatus:    http.StatusOK,
			wantBody:      "user-42",
		},
		{
			name:          "no Authorization header",
			handler:       protected,
			wantStatus:    http.StatusUnauthorized,
			wantChallenge: `Bearer`,
		},
		{
			name:          "other scheme",
			handler:       protected,
			authorization: []string{"Basic dXNlcjpwYXNz"},
			wantStatus:    http.StatusUnauthorized,
			wantChallenge: `Bearer`,
		},
		{
			name:          "empty bearer token",
			handler:       protected,
			authorization: []string{"Bearer "},
			wantStatus:    http.StatusUnauthorized,
			wantChallenge: `Bearer`,
		},
		{
			name:          "two Authorization headers",
			handler:       protected,
			authorization: []string{"Bearer " + signValid(t, keys, now), "Bearer " + signValid(t, keys, now)},
			wantStatus:    http.StatusUnauthorized,
			wantChallenge: `Bearer`,
		},
		{
			name:          "garbage token",
			handler:       protected,
			authorization: []string{"Bearer garbage"},
			wantStatus:    http.StatusUnauthorized,
			wantChallenge: `Bearer error="invalid_token", error_description="the token is invalid"`,
		},
		{
			name:          "forged token",
			handler:       protected,
			authorization: []string{"Bearer " + newSigner(t).sign(t, admin, map[string]any{"kid": key.ID()})},
			wantStatus:    http.StatusUnauthorized,
			wantChallenge: `Bearer error="invalid_token", error_description="the token is invalid"`,
		},
		{
			name:          "expired token",
			handler:       protected,
			authorization: []string{"Bearer " + key.sign(t, expired, nil)},
			wantStatus:    http.StatusUnauthorized,
			wantChallenge: `Bearer error="invalid_token", error_description="the token has expired"`,
		},
		{
			name:          "role present",
			handler:       adminOnly,
			authorization: []string{"Bearer " + key.sign(t, admin, nil)},
			wantStatus:    http.StatusOK,
			wantBody:      "user-7",
		},
		{
			name:          "role missing",
			handler:       adminOnly,
			authorization: []string{"Bearer " + signValid(t, keys, now)},
			wantStatus:    http.StatusForbidden,
			wantChallenge: `Bearer error="insufficient_scope"`,
		},
		{
			name:          "RequireRole without Middleware",
			handler:       auth.RequireRole("admin")(whoami),
			authorization: []string{"Bearer " + key.sign(t, admin, nil)},
			wantStatus:    http.StatusUnauthorized,
			wantChallenge: `Bearer`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/orders", nil)
			for _, value := range tt.authorization {
				req.Header.Add("Authorization", value)
			}
			rec := httptest.NewRecorder()
			tt.handler.ServeHTTP(rec, req)

			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.wantChallenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wantChallenge)
			}
			if tt.wantStatus == http.StatusOK {
				if got := rec.Body.String(); got != tt.wantBody {
					t.Errorf("handler saw subject %q, want %q", got, tt.wantBody)
				}
				return
			}
			assertProblem(t, rec, tt.wantStatus)
		})
	}
}

func TestMiddlewareWithoutKeySet(t *testing.T) {
	keys := newKeySet(t, newSigner(t))
	clk := newClock()
	iss := newIssuer(t, keys)
	iss.failing.Store(true)
	v := newVerifier(t, iss.URL, clk)

	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/orders", nil)
	req.Header.Set("Authorization", "Bearer "+signValid(t, keys, clk.Now()))
	rec := httptest.NewRecorder()
	auth.Middleware(v)(whoami).ServeHTTP(rec, req)

	// The token may be fine: this is the server's trouble, not a reason to log the user out.
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", rec.Code)
	}
	if got := rec.Header().Get("WWW-Authenticate"); got != "" {
		t.Errorf("WWW-Authenticate = %q, want none", got)
	}
	assertProblem(t, rec, http.StatusServiceUnavailable)
}

func TestClaimsFrom(t *testing.T) {
	if _, ok := auth.ClaimsFrom(t.Context()); ok {
		t.Error("ClaimsFrom an empty context reports claims")
	}
	want := &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "user-1"}}
	got, ok := auth.ClaimsFrom(auth.WithClaims(t.Context(), want))
	if !ok || got != want {
		t.Errorf("ClaimsFrom(WithClaims(c)) = %v, %v; want c, true", got, ok)
	}
	if _, ok := auth.ClaimsFrom(auth.WithClaims(t.Context(), nil)); ok {
		t.Error("ClaimsFrom reports nil claims as present")
	}
}

// assertProblem checks that rec holds an RFC 9457 problem+json answer for status.
func assertProblem(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if got := rec.Header().Get("Content-Type"); got != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", got)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("decode problem %q: %v", rec.Body, err)
	}
	detail, _ := body["detail"].(string)
	if detail == "" {
		t.Errorf("problem %v has no detail", body)
	}
	want := map[string]any{
		"type":   "about:blank",
		"title":  http.StatusText(status),
		"status": float64(status),
		"detail": detail,
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("problem = %v, want %v", body, want)
	}
}
