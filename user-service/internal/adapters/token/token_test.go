package token_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/user-service/internal/adapters/token"
)

func newKeys(t *testing.T) *auth.KeySet {
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

func TestIssueAndVerify(t *testing.T) {
	keys := newKeys(t)
	now := time.Now()
	issuer, err := token.NewIssuer(token.Options{Keys: keys, Issuer: "tracecart", Audience: "tracecart", TTL: time.Hour,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	v, err := token.NewVerifier(token.VerifierOptions{Keys: keys, Issuer: "tracecart", Audience: "tracecart"})
	if err != nil {
		t.Fatal(err)
	}
	userID := uuid.New()
	tok, err := issuer.Issue(userID, []string{"customer", "admin"})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if tok.ExpiresIn != time.Hour {
		t.Errorf("ExpiresIn = %s, want 1h", tok.ExpiresIn)
	}
	claims, err := v.Verify(t.Context(), tok.AccessToken)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if claims.Subject != userID.String() || !claims.HasRole("admin") || claims.ID == "" ||
		claims.IssuedAt == nil || claims.ExpiresAt.Sub(claims.IssuedAt.Time) != time.Hour {
		t.Errorf("claims = %+v", claims)
	}

	// The same verifier refuses what another service would refuse.
	otherAudience, err := token.NewVerifier(token.VerifierOptions{Keys: keys, Issuer: "tracecart", Audience: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := otherAudience.Verify(t.Context(), tok.AccessToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("Verify for another audience = %v, want ErrInvalidToken", err)
	}
	forged, err := token.NewIssuer(token.Options{Keys: newKeys(t), Issuer: "tracecart", Audience: "tracecart", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ft, err := forged.Issue(userID, []string{"admin"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), ft.AccessToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("Verify of a token signed by another key = %v, want ErrInvalidToken", err)
	}
}
