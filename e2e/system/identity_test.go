package system

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/tracecart/tracecart/e2e/internal/shoptest"
	"github.com/tracecart/tracecart/e2e/stack"
)

// TestIdentity is the promise "a restart logs nobody out, and several user-service instances
// agree": two user-service instances behind the gateway, a token issued by each (the other one
// stopped meanwhile, so there is no doubt who signed it), and both tokens accepted everywhere a
// token is checked (the gateway, either user-service instance, order-service), before and
// after each instance restarts.
func TestIdentity(t *testing.T) {
	s := newShop(t, stack.Options{})
	const second = stack.UserService + "-2"
	s.AddInstance(t, stack.UserService, second)
	s.waitUserServices(t, stack.UserService, second)

	issuedBy := map[string]string{} // instance → a token it signed
	for _, pair := range [][2]string{{stack.UserService, second}, {second, stack.UserService}} {
		signer, stopped := pair[0], pair[1]
		s.Stop(t, stopped)
		s.waitUserServices(t, signer)
		issuedBy[signer] = s.loginEventually(t)
		s.Restart(t, stopped)
		s.waitUserServices(t, stack.UserService, second)
	}
	// user-service's token has lived through a restart of user-service-2; each token is now
	// checked by both instances, then again after each instance restarts.
	s.acceptedEverywhere(t, issuedBy)

	for _, instance := range []string{stack.UserService, second} {
		s.Stop(t, instance)
		s.Restart(t, instance)
		s.waitUserServices(t, stack.UserService, second)
		t.Logf("%s restarted", instance)
		s.acceptedEverywhere(t, issuedBy)
	}
}

// waitUserServices waits until exactly the given user-service instances pass their Consul
// checks, then until the gateway logs alice in: it routes on the same list.
func (s *shop) waitUserServices(t *testing.T, instances ...string) {
	t.Helper()
	want := slices.Sorted(slices.Values(instances))
	shoptest.Eventually(t, 30*time.Second, fmt.Sprintf("user-service instances %v passing", want), func() error {
		if got := slices.Sorted(slices.Values(s.Passing(t, stack.UserService))); !slices.Equal(got, want) {
			return fmt.Errorf("passing: %v", got)
		}
		return nil
	})
	s.loginEventually(t)
}

// loginEventually logs alice in, retrying while the gateway's view of user-service settles,
// and returns her token.
func (s *shop) loginEventually(t *testing.T) string {
	t.Helper()
	var token string
	shoptest.Eventually(t, 30*time.Second, "logging alice in through the gateway", func() error {
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		ans, err := s.api.Do(t.Context(), http.MethodPost, "/auth/login",
			map[string]string{"email": alice, "password": demoPassword}, &tok)
		if err != nil {
			return err
		}
		if ans.Status != http.StatusOK {
			return fmt.Errorf("login = %d %s", ans.Status, ans.Body)
		}
		token = tok.AccessToken
		return nil
	})
	return token
}

// acceptedEverywhere checks every token on the routes that verify it: /users/me often enough
// that both user-service instances answer it (the gateway spreads requests over them), and
// the order list, which order-service checks with its own verifier.
func (s *shop) acceptedEverywhere(t *testing.T, issuedBy map[string]string) {
	t.Helper()
	for signer, token := range issuedBy {
		api := s.api.As(token)
		for i := range 12 {
			ans, err := api.Do(t.Context(), http.MethodGet, "/users/me", nil, nil)
			if err != nil {
				t.Fatalf("token of %s, GET /users/me #%d: %v", signer, i, err)
			}
			if ans.Status != http.StatusOK {
				t.Errorf("token of %s, GET /users/me #%d = %d %s, want 200", signer, i, ans.Status, ans.Body)
			}
		}
		ans, err := api.Do(t.Context(), http.MethodGet, "/orders", nil, nil)
		if err != nil {
			t.Fatalf("token of %s, GET /orders: %v", signer, err)
		}
		if ans.Status != http.StatusOK {
			t.Errorf("token of %s, GET /orders = %d %s, want 200", signer, ans.Status, ans.Body)
		}
	}
}
