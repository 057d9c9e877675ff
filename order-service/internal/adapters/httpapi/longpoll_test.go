package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tracecart/tracecart/order-service/internal/app"
)

// TestGetOrderLongPoll: GET /orders/{id} answers with an ETag; If-None-Match with the version
// the client has answers 304; adding Prefer: wait=N makes it wait for the next version, whether
// the change is made through this process (woken at once) or behind its back (another replica,
// here plain SQL: found by the periodic re-read).
func TestGetOrderLongPoll(t *testing.T) {
	e := newEnv(t)
	placed := e.post(alice, fmt.Sprintf(`{"lines":[{"product_id":%q,"quantity":1}]}`, mug), nil)
	if placed.status != http.StatusAccepted {
		t.Fatalf("POST /orders = %d %s", placed.status, placed.body)
	}
	o := decode[orderJSON](t, placed)
	path := "/orders/" + o.ID.String()
	pending := placed.header.Get("ETag")
	if pending == "" {
		t.Fatal("POST /orders answered no ETag")
	}
	get := func(header map[string]string) response {
		return e.do(request{method: http.MethodGet, path: path, token: e.token(alice), header: header})
	}

	if r := get(nil); r.status != http.StatusOK || r.header.Get("ETag") != pending {
		t.Fatalf("GET = %d with ETag %q, want 200 with the POST's %q", r.status, r.header.Get("ETag"), pending)
	}
	if r := get(map[string]string{"If-None-Match": pending}); r.status != http.StatusNotModified || len(r.body) != 0 {
		t.Errorf("GET If-None-Match the current version = %d %q, want 304 and no body", r.status, r.body)
	}
	// Without If-None-Match there is nothing to wait for: the answer comes at once.
	if r := get(map[string]string{"Prefer": "wait=3"}); r.status != http.StatusOK || r.header.Get("Preference-Applied") != "" {
		t.Errorf("GET Prefer: wait without If-None-Match = %d, Preference-Applied %q; want 200 and none",
			r.status, r.header.Get("Preference-Applied"))
	}

	start := time.Now()
	r := get(map[string]string{"If-None-Match": pending, "Prefer": "wait=1"})
	if r.status != http.StatusNotModified || r.header.Get("Preference-Applied") != "wait=1" {
		t.Errorf("long poll on an unchanged order = %d, Preference-Applied %q; want 304 and wait=1",
			r.status, r.header.Get("Preference-Applied"))
	}
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Errorf("long poll on an unchanged order answered after %v, before its one-second wait", took)
	}

	// Another replica confirms the order (plain SQL: this process is not told).
	if _, err := e.pool.Exec(context.Background(),
		`UPDATE orders SET status = 'CONFIRMED', updated_at = now() WHERE id = $1`, o.ID); err != nil {
		t.Fatal(err)
	}
	r = get(map[string]string{"If-None-Match": pending, "Prefer": "wait=4"})
	confirmed := r.header.Get("ETag")
	if r.status != http.StatusOK || decode[orderJSON](t, r).Status != "CONFIRMED" || confirmed == pending {
		t.Fatalf("long poll after another replica's change = %d %s (ETag %q), want 200 CONFIRMED with a new ETag", r.status, r.body, confirmed)
	}

}

// TestGetOrderLongPollIsWokenByAChange: a change made through this process answers a waiting
// request at once; the periodic re-read is switched off here, so nothing else could.
func TestGetOrderLongPollIsWokenByAChange(t *testing.T) {
	e := newEnv(t, func(o *app.Options) { o.Recheck = time.Hour })
	o := e.placeOrder(alice, fmt.Sprintf(`{"lines":[{"product_id":%q,"quantity":1}]}`, mug))
	path := "/orders/" + o.ID.String()
	// CONFIRMED as the saga would leave it, so the customer may cancel it.
	if _, err := e.pool.Exec(context.Background(), `UPDATE orders SET status = 'CONFIRMED' WHERE id = $1`, o.ID); err != nil {
		t.Fatal(err)
	}
	confirmed := e.do(request{method: http.MethodGet, path: path, token: e.token(alice)}).header.Get("ETag")

	answered := make(chan string, 1)
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.api.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+e.token(alice))
		req.Header.Set("If-None-Match", confirmed)
		req.Header.Set("Prefer", "wait=3")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- err.Error()
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		answered <- fmt.Sprintf("%d %s", resp.StatusCode, body)
	}()
	time.Sleep(300 * time.Millisecond) // the request is waiting (were it not, it would answer 200 too)
	if c := e.do(request{method: http.MethodPost, path: path + "/cancel", token: e.token(alice)}); c.status != http.StatusOK {
		t.Fatalf("cancel = %d %s", c.status, c.body)
	}
	// Unwoken, the request would answer 304 when its 3 s wait ends.
	if got := <-answered; !containsAll(got, "200 ", `"status":"CANCELLED"`) {
		t.Errorf("the waiting request answered %q, want 200 with the cancelled order", got)
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
