package walkthrough

import (
	"strings"
	"testing"
	"time"
)

const samplePage = "# A page\n" + // 1
	"\n" + // 2
	"```sh\n" + // 3
	"echo one\n" + // 4
	"```\n" + // 5
	"Prose with a ```inline``` fence-like run.\n" + // 6
	"````go\n" + // 7: another info string: prose to the runner
	"```\n" + // 8: shorter than its fence, so content
	"````\n" + // 9
	"  ~~~~ expect\n" + // 10
	"# a comment\n" + // 11
	"\n" + // 12
	"promql up == 1 within 5s\n" + // 13
	"alert BreakerOpen inactive\n" + // 14
	"~~~~~\n" + // 15: closes (at least as long)
	"```sh norun\n" + // 16
	"# opens a browser\n" + // 17
	"```\n" // 18

func TestParseFindsBlocksInOrderWithLines(t *testing.T) {
	page, err := Parse("docs/walkthroughs/09-sample.md", samplePage)
	if err != nil {
		t.Fatal(err)
	}
	if page.Name != "09-sample" {
		t.Errorf("name %q", page.Name)
	}
	if len(page.Blocks) != 3 {
		t.Fatalf("%d blocks, want 3 (sh, expect, sh norun): %+v", len(page.Blocks), page.Blocks)
	}
	sh, expect, norun := page.Blocks[0], page.Blocks[1], page.Blocks[2]
	if sh.Kind != Shell || sh.Line != 3 || sh.Text != "echo one" {
		t.Errorf("sh block = %+v", sh)
	}
	if expect.Kind != Expect || expect.Line != 10 {
		t.Errorf("expect block = %+v", expect)
	}
	if len(expect.Claims) != 2 || expect.Claims[0].Line != 13 || expect.Claims[1].Line != 14 || expect.Claims[0].Within != 5*time.Second {
		t.Fatalf("claims %+v", expect.Claims)
	}
	if norun.Kind != ShellNoRun || norun.Line != 16 {
		t.Errorf("norun block = %+v", norun)
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	for name, tc := range map[string]struct{ src, want string }{
		"unclosed":      {"text\n```sh\necho\n", "p.md:2: code block is never closed"},
		"bad claim":     {"```expect\n\npromql up\nflux up\n```\n", "p.md:4: claim \"flux up\": unknown kind"},
		"bad sh option": {"```sh quietly\n```\n", "p.md:1: unknown sh option"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("p.md", tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseClaimKinds(t *testing.T) {
	c := mustClaim(t, `promql max(http_client_breaker_state{upstream="product-service"}) == 2 within 90s`)
	if c.Kind != "promql" || c.Expr != `max(http_client_breaker_state{upstream="product-service"}) == 2` || c.Within != 90*time.Second {
		t.Errorf("promql: %+v", c)
	}
	if c := mustClaim(t, "promql up"); c.Within != DefaultWithin {
		t.Errorf("default within = %s", c.Within)
	}
	if c := mustClaim(t, "alert DeadLetters firing"); c.Alert != "DeadLetters" || c.AlertState != "firing" {
		t.Errorf("alert: %+v", c)
	}
	c = mustClaim(t, `trace service=product-service operation="handle order.created" tag:order.id=42 root="POST /api/orders" event=x span="handle order.created" event=feature_flag.evaluation attr:feature_flag.key=productCatalogSlow minms=50 span=db services=gateway,user-service`)
	q := c.Trace
	if q.Service != "product-service" || q.Operation != "handle order.created" || q.Tags["order.id"] != "42" || q.Root != "POST /api/orders" {
		t.Errorf("trace search: %+v", q)
	}
	if len(q.Services) != 2 || q.Services[1] != "user-service" {
		t.Errorf("services: %v", q.Services)
	}
	if len(q.Spans) != 3 {
		t.Fatalf("span conditions: %+v", q.Spans)
	}
	if q.Spans[0].Name != "" || q.Spans[0].Event != "x" {
		t.Errorf("the unnamed condition: %+v", q.Spans[0])
	}
	if s := q.Spans[1]; s.Name != "handle order.created" || s.Event != "feature_flag.evaluation" || s.Attrs["feature_flag.key"] != "productCatalogSlow" || s.MinMS != 50 {
		t.Errorf("the named condition: %+v", s)
	}
	if c := mustClaim(t, `exemplar http_server_request_duration_seconds_bucket{service="product-service"} minvalue=1`); c.Expr != `http_server_request_duration_seconds_bucket{service="product-service"}` || c.MinValue != 1 {
		t.Errorf("exemplar: %+v", c)
	}
	c = mustClaim(t, `http POST /api/orders status=503 body~"circuit breaker" auth=alice@example.com within 2m`)
	if c.Method != "POST" || c.URL != "/api/orders" || c.Status != 503 || c.BodyRegexp.String() != "circuit breaker" || c.AuthEmail != "alice@example.com" || c.Within != 2*time.Minute {
		t.Errorf("http: %+v", c)
	}
	if c := mustClaim(t, `log order-service breaker .* open`); c.Service != "order-service" || c.LogMatch.String() != "breaker .* open" {
		t.Errorf("log: %+v", c)
	}
}

func TestParseClaimRejects(t *testing.T) {
	for _, line := range []string{
		"promql",
		"promql up within soon",
		"alert DeadLetters pending",
		"alert DeadLetters",
		"trace span=x",                     // no service
		"trace service=a colour=blue",      // unknown term
		`trace service=a span="unclosed`,   // quotes
		"trace service=a minms=fast",       // not a number
		"exemplar some_metric",             // no minvalue
		"http GET /api/products",           // no status
		"http GET /api/products status=ok", // not a number
		"http GET /x status=200 body~(",    // bad regexp
		"log gateway",
		"log gateway (",
		"guess something",
	} {
		if _, err := ParseClaim(line); err == nil {
			t.Errorf("ParseClaim(%q) accepted it", line)
		}
	}
}

func mustClaim(t *testing.T, line string) Claim {
	t.Helper()
	c, err := ParseClaim(line)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestComparisonLeft(t *testing.T) {
	for expr, want := range map[string]string{
		`max(x{a="b"}) == 2`:     `max(x{a="b"})`,
		`sum(rate(y[5m])) > 0.5`: `sum(rate(y[5m]))`,
		`x{a!="=="} >= 1`:        `x{a!="=="}`,
		`up`:                     "",
		`x{a="b"}`:               "",
	} {
		got, ok := comparisonLeft(expr)
		if got != want || ok != (want != "") {
			t.Errorf("comparisonLeft(%q) = %q, %v; want %q", expr, got, ok, want)
		}
	}
}
