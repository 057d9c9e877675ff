package system

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tracecart/tracecart/e2e/internal/shoptest"
	"github.com/tracecart/tracecart/e2e/stack"
	"github.com/tracecart/tracecart/shared/testinfra"
)

// TestIdentity covers who may be trusted. First discovery, the way the gateway finds
// user-service and its key set: Consul refuses a registration without a token, and a service's
// token cannot register another service. Then the promise "a restart logs nobody out, and
// several user-service instances agree": two user-service instances behind the gateway, a token
// issued by each (the other one stopped meanwhile, so there is no doubt who signed it), and both
// tokens accepted everywhere a token is checked (the gateway, either user-service instance,
// order-service), before and after each instance restarts.
func TestIdentity(t *testing.T) {
	s := newShop(t, stack.Options{})

	t.Run("Consul refuses impostors", func(t *testing.T) {
		consul := s.ConsulURL(t)
		productToken := demoToken(t, stack.ProductService)
		impostor := func(name string) map[string]any {
			// A TTL check starts critical, so even an accepted registration is never routed to.
			return map[string]any{"Name": name, "ID": "impostor-" + name, "Address": "203.0.113.66", "Port": 8080,
				"Check": map[string]any{"TTL": "30s"}}
		}
		for _, tc := range []struct {
			what, token, name string
			want              int
		}{
			{"no token", "", stack.UserService, http.StatusForbidden},
			{"product-service's token, registering user-service", productToken, stack.UserService, http.StatusForbidden},
			{"product-service's token, registering the gateway", productToken, stack.Gateway, http.StatusForbidden},
			{"product-service's token, registering product-service", productToken, stack.ProductService, http.StatusOK},
		} {
			status, body := consulPut(t, consul+"/v1/agent/service/register", tc.token, impostor(tc.name))
			if status != tc.want {
				t.Errorf("%s: register = %d %s, want %d", tc.what, status, body, tc.want)
			}
		}
		// Clean up the one allowed registration, with the token that made it.
		if status, body := consulPut(t, consul+"/v1/agent/service/deregister/impostor-"+stack.ProductService, productToken, nil); status != http.StatusOK {
			t.Errorf("deregister = %d %s", status, body)
		}
		// Nothing of the refused ones is in the catalogue, and without a token nothing is visible.
		if got := s.Passing(t, stack.UserService); slices.Contains(got, "203.0.113.66") {
			t.Errorf("user-service instances %v include the impostor", got)
		}
		status, body := consulGet(t, consul+"/v1/health/service/"+stack.UserService, "")
		if status != http.StatusOK || strings.TrimSpace(body) != "[]" {
			t.Errorf("anonymous catalogue read = %d %s, want 200 []", status, body)
		}
	})

	t.Run("the gateway's public port tells nothing about its internals", func(t *testing.T) {
		for _, path := range []string{"/metrics", "/version"} {
			status, body := consulGet(t, s.GatewayURL(t)+path, "")
			if status != http.StatusNotFound {
				t.Errorf("GET %s on the gateway's public port = %d %.200s, want 404", path, status, body)
			}
		}
	})

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

// demoToken is a party's Consul ACL token from infra/consul, where the compose file and the
// stack take it from.
func demoToken(t *testing.T, name string) string {
	t.Helper()
	token, err := testinfra.ConsulDemoToken(name)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// consulPut sends a PUT to Consul's HTTP API with token (if any) and returns the status and body.
func consulPut(t *testing.T, url, token string, body any) (int, string) {
	t.Helper()
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		reader = bytes.NewReader(b)
	}
	return consulDo(t, http.MethodPut, url, token, reader)
}

// consulGet sends a GET with a Consul token (if any): to Consul's HTTP API, or anywhere.
func consulGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	return consulDo(t, http.MethodGet, url, token, nil)
}

func consulDo(t *testing.T, method, url, token string, body io.Reader) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Consul-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
