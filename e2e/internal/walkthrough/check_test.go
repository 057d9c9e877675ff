package walkthrough

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeBackends serves small, hand-written answers in the shapes of Prometheus's and Jaeger's
// HTTP APIs and of the gateway's login: enough to test the claims' logic, including the ones a
// live demo only shows under a fault (an alert firing, a breaker open).
func fakeBackends(t *testing.T) *Checker {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/query", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("query") {
		case `max(http_client_breaker_state{upstream="product-service"}) == 2`:
			w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`))
		case `max(http_client_breaker_state{upstream="product-service"})`:
			w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0"]}]}}`))
		case `max(http_client_breaker_state{upstream="product-service"}) == 0`:
			w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0"]}]}}`))
		case `1 + 1`:
			w.Write([]byte(`{"status":"success","data":{"resultType":"scalar","result":[1,"2"]}}`))
		default:
			http.Error(w, `{"status":"error","error":"parse error"}`, http.StatusBadRequest)
		}
	})
	mux.HandleFunc("/api/v1/rules", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"status":"success","data":{"groups":[{"rules":[{"name":"DeadLetters","type":"alerting"},{"name":"BreakerOpen","type":"alerting"},{"name":"OutboxEventsOld","type":"alerting"}]}]}}`))
	})
	mux.HandleFunc("/api/v1/alerts", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"status":"success","data":{"alerts":[
			{"labels":{"alertname":"DeadLetters","group":"product-service"},"state":"firing"},
			{"labels":{"alertname":"OutboxEventsOld"},"state":"pending"}]}}`))
	})
	mux.HandleFunc("/api/v1/query_exemplars", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"status":"success","data":[{"seriesLabels":{"__name__":"x_bucket"},"exemplars":[
			{"labels":{"trace_id":"aaaa"},"value":"0.08","timestamp":1},
			{"labels":{"trace_id":"bbbb"},"value":"1.4","timestamp":2},
			{"labels":{"trace_id":"gone"},"value":"2.5","timestamp":3}]}]}`))
	})
	mux.HandleFunc("/api/traces", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("service") != "gateway" {
			w.Write([]byte(`{"data":[]}`))
			return
		}
		w.Write([]byte(`{"data":[` + sampleTrace + `]}`))
	})
	mux.HandleFunc("/api/traces/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/bbbb") {
			w.Write([]byte(`{"data":[` + sampleTrace + `]}`))
			return
		}
		http.Error(w, `{"data":null,"errors":[{"code":404,"msg":"trace not found"}]}`, http.StatusNotFound)
	})
	mux.HandleFunc("POST /api/auth/login", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		json.NewDecoder(r.Body).Decode(&body)
		if body["password"] != "pw" {
			http.Error(w, `{"title":"bad credentials"}`, http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"access_token":"tok-` + body["email"] + `"}`))
	})
	mux.HandleFunc("POST /api/orders", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-alice@example.com" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"title":"upstream unavailable","detail":"circuit breaker open"}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &Checker{
		Prometheus: srv.URL, Jaeger: srv.URL, Gateway: srv.URL, Password: "pw",
		Logs: func(_ context.Context, service string) (string, error) {
			return "order-service-1  | level=WARN msg=\"breaker state change\" upstream=product-service to=open\n", nil
		},
	}
}

// sampleTrace: gateway POST /api/orders → order-service POST /orders → its client call and
// product-service's GET /products/{id} (slow, with a flag evaluation event), and a send span.
const sampleTrace = `{"traceID":"bbbb","processes":{"p1":{"serviceName":"gateway"},"p2":{"serviceName":"order-service"},"p3":{"serviceName":"product-service"}},
"spans":[
 {"spanID":"1","operationName":"POST /api/orders","processID":"p1","startTime":100,"duration":40000,"references":[]},
 {"spanID":"2","operationName":"POST /orders","processID":"p2","startTime":200,"duration":30000,"references":[{"spanID":"1"}],"tags":[{"key":"http.response.status_code","value":202}]},
 {"spanID":"3","operationName":"GET","processID":"p2","startTime":300,"duration":20000,"references":[{"spanID":"2"}]},
 {"spanID":"4","operationName":"GET /products/{id}","processID":"p3","startTime":400,"duration":1200000,"references":[{"spanID":"3"}],
  "tags":[{"key":"tracecart.slow","value":true}],
  "logs":[{"fields":[{"key":"event","value":"feature_flag.evaluation"},{"key":"feature_flag.key","value":"productCatalogSlow"}]}]},
 {"spanID":"5","operationName":"send orders","processID":"p2","startTime":350,"duration":2000,"references":[{"spanID":"2"}]}
]}`

func TestChecks(t *testing.T) {
	ch := fakeBackends(t)
	for _, tc := range []struct {
		claim string
		want  string // "" holds; otherwise a part of the error
	}{
		{`promql max(http_client_breaker_state{upstream="product-service"}) == 0`, ""},
		{`promql max(http_client_breaker_state{upstream="product-service"}) == 2`, `no sample; max(http_client_breaker_state{upstream="product-service"}) is {} 0`},
		{`promql 1 + 1`, `result type "scalar"`},
		{`promql rate(`, "400"},
		{`alert DeadLetters firing`, ""},
		{`alert BreakerOpen inactive`, ""},
		{`alert BreakerOpen firing`, "alert BreakerOpen is inactive, not firing"},
		{`alert DeadLetters inactive`, "alert DeadLetters is firing, not inactive"},
		{`alert OutboxEventsOld firing`, "is pending, not firing"},
		{`alert OutboxEventsOld inactive`, "is pending, not inactive"},
		{`alert DeadLetter inactive`, "no alerting rule of that name"},
		{`trace service=gateway root="POST /api/orders" span="POST /orders" attr:http.response.status_code=202 span="GET /products/{id}" event=feature_flag.evaluation attr:tracecart.slow=true minms=1000 services=gateway,order-service,product-service`, ""},
		{`trace service=gateway span="GET /products/{id}" minms=1500`, `lacks: a span with span="GET /products/{id}" minms=1500`},
		{`trace service=gateway span="send orders" event=feature_flag.evaluation`, `lacks: a span with span="send orders" event="feature_flag.evaluation"`},
		{`trace service=gateway root="POST /orders" services=gateway,user-service`, `root="POST /orders" (its root: ["POST /api/orders"]); a span of user-service`},
		{`trace service=user-service`, "Jaeger found no trace"},
		{`exemplar x_bucket minvalue=1`, ""},
		{`exemplar x_bucket minvalue=2`, "none whose trace Jaeger has (trace gone"},
		{`exemplar x_bucket minvalue=3`, "3 exemplars in the last 15 minutes, the largest 2.5"},
		{`http POST /api/orders status=503 body~"breaker open" auth=alice@example.com`, ""},
		{`http POST /api/orders status=503 body~"timeout" auth=alice@example.com`, `body does not match "timeout"`},
		{`http POST /api/orders status=202 auth=alice@example.com`, "answered 503, not 202"},
		{`http POST /api/orders status=503`, "answered 401, not 503"},
		{`log order-service breaker state change.*to=open`, ""},
		{`log order-service to=half-open`, "no line of order-service's log matches"},
	} {
		c, err := ParseClaim(tc.claim)
		if err != nil {
			t.Fatal(err)
		}
		err = ch.Check(t.Context(), "09-sample", c)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.claim, err)
		case tc.want != "" && err == nil:
			t.Errorf("%s: held, want an error containing %q", tc.claim, tc.want)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: error %q, want it to contain %q", tc.claim, err, tc.want)
		}
	}
}

func TestFailedTraceClaimShowsTheClosestTrace(t *testing.T) {
	ch := fakeBackends(t)
	c, _ := ParseClaim(`trace service=gateway span="handle order.created"`)
	err := ch.Check(t.Context(), "09-sample", c)
	if err == nil {
		t.Fatal("held")
	}
	for _, want := range []string{"the closest, bbbb", "gateway: POST /api/orders (40.0 ms)", "      product-service: GET /products/{id} (1200.0 ms)", "· event feature_flag.evaluation"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestRecordWritesTheMatchedTrace(t *testing.T) {
	ch := fakeBackends(t)
	ch.RecordDir = t.TempDir()
	c, _ := ParseClaim(`trace service=gateway span="send orders"`)
	c.Line = 42
	if err := ch.Check(t.Context(), "09-sample", c); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(ch.RecordDir, "09-sample-42.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := `# 09-sample.md line 42: trace service=gateway span="send orders"
# Jaeger's query API, as a tree: service: span (duration), then its events.
trace bbbb, 5 spans
gateway: POST /api/orders (40.0 ms)
  order-service: POST /orders (30.0 ms)
    order-service: GET (20.0 ms)
      product-service: GET /products/{id} (1200.0 ms)
        · event feature_flag.evaluation
    order-service: send orders (2.0 ms)
`
	if string(raw) != want {
		t.Errorf("recorded:\n%s\nwant:\n%s", raw, want)
	}
}

func TestTraceByID(t *testing.T) {
	ch := fakeBackends(t)
	file := filepath.Join(t.TempDir(), "trace")
	if err := os.WriteFile(file, []byte("bbbb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for claim, want := range map[string]string{
		`trace traceid=@` + file + ` service=product-service root="POST /api/orders" span="send orders"`: "",
		`trace traceid=bbbb span="GET /products/{id}" minms=1000`:                                        "",
		`trace traceid=@` + file + ` span="handle order.created"`:                                        `trace bbbb lacks: a span with span="handle order.created"`,
		`trace traceid=@` + file + ` service=user-service`:                                               "trace bbbb has no span of user-service",
		`trace traceid=cccc span="send orders"`:                                                          "404",
		`trace traceid=@/nonexistent/trace span=x`:                                                       "no such file",
	} {
		c, err := ParseClaim(claim)
		if err != nil {
			t.Fatal(err)
		}
		err = ch.Check(t.Context(), "09-sample", c)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: error %v, want %q", claim, err, want)
		}
	}
	if _, err := ParseClaim(`trace traceid=bbbb tag:order.id=1`); err == nil {
		t.Error("traceid= with a search tag was accepted")
	}
}
