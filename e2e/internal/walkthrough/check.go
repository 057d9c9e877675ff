package walkthrough

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Checker checks claims against a running demo.
type Checker struct {
	Prometheus string // e.g. http://127.0.0.1:9090
	Jaeger     string // e.g. http://127.0.0.1:16686
	Gateway    string // e.g. http://127.0.0.1:8080; also the base of relative http claim URLs
	// Logs returns `docker compose logs` of one compose service of the stack under test.
	Logs func(ctx context.Context, service string) (string, error)
	// RecordDir, when set, receives the matched trace of every trace claim that held, as a text
	// tree, in <page>-<line>.txt (TRACECART_WALKTHROUGH_RECORD).
	RecordDir string
	// Password is the demo users' password, for http claims with auth=.
	Password string
	Client   *http.Client
}

// Check checks a claim once: nil when it holds, otherwise an error saying what was found
// instead. page names the page, for the recordings.
func (ch *Checker) Check(ctx context.Context, page string, c Claim) error {
	switch c.Kind {
	case "promql":
		return ch.checkPromQL(ctx, c.Expr)
	case "alert":
		return ch.checkAlert(ctx, c.Alert, c.AlertState)
	case "trace":
		tree, err := ch.checkTrace(ctx, c.Trace)
		if err == nil && ch.RecordDir != "" {
			err = ch.record(page, c, tree)
		}
		return err
	case "exemplar":
		return ch.checkExemplar(ctx, c.Expr, c.MinValue)
	case "http":
		return ch.checkHTTP(ctx, c)
	case "log":
		out, err := ch.Logs(ctx, c.Service)
		if err != nil {
			return fmt.Errorf("docker compose logs %s: %v", c.Service, err)
		}
		if c.LogMatch.MatchString(out) {
			return nil
		}
		return fmt.Errorf("no line of %s's log matches %q; its last lines:\n%s", c.Service, c.LogMatch, lastLines(out, 15))
	}
	return fmt.Errorf("unknown claim kind %q", c.Kind)
}

// Eventually retries a claim until it holds or its Within passes, and returns the last error.
func (ch *Checker) Eventually(ctx context.Context, page string, c Claim) error {
	deadline := time.Now().Add(c.Within)
	for {
		attempt, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := ch.Check(attempt, page, c)
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%v (then: %v)", err, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

func (ch *Checker) record(page string, c Claim, tree string) error {
	if err := os.MkdirAll(ch.RecordDir, 0o755); err != nil {
		return err
	}
	header := fmt.Sprintf("# %s.md line %d: %s\n# Jaeger's query API, as a tree: service: span (duration), then its events.\n", page, c.Line, c.Text)
	return os.WriteFile(filepath.Join(ch.RecordDir, fmt.Sprintf("%s-%d.txt", page, c.Line)), []byte(header+tree), 0o644)
}

// getJSON GETs base+path with the query and decodes a 200 answer.
func (ch *Checker) getJSON(ctx context.Context, base, path string, query url.Values, out any) error {
	u := base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	status, body, err := ch.do(ctx, http.MethodGet, u, "", nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s = %d: %.300s", u, status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: %v", u, err)
	}
	return nil
}

func (ch *Checker) do(ctx context.Context, method, u, token string, payload any) (int, []byte, error) {
	var reader io.Reader
	if payload != nil {
		raw, err := json.Marshal(payload)
		if err != nil {
			return 0, nil, err
		}
		reader = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, reader)
	if err != nil {
		return 0, nil, err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := ch.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	// Jaeger's search answers are large (a saga's trace is about 100 KB): allow 64 MiB, and say
	// so when an answer is cut rather than fail later on half a JSON document.
	const limit = 64 << 20
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err == nil && len(body) > limit {
		err = fmt.Errorf("%s %s: the answer is larger than %d MiB; narrow the query", method, u, limit>>20)
	}
	return resp.StatusCode, body, err
}

func (ch *Checker) checkHTTP(ctx context.Context, c Claim) error {
	u := c.URL
	if strings.HasPrefix(u, "/") {
		u = ch.Gateway + u
	}
	token := ""
	if c.AuthEmail != "" {
		var err error
		if token, err = ch.login(ctx, c.AuthEmail); err != nil {
			return err
		}
	}
	status, body, err := ch.do(ctx, c.Method, u, token, nil)
	if err != nil {
		return err
	}
	if status != c.Status {
		return fmt.Errorf("%s %s answered %d, not %d: %.300s", c.Method, u, status, c.Status, body)
	}
	if c.BodyRegexp != nil && !c.BodyRegexp.Match(body) {
		return fmt.Errorf("%s %s answered %d but its body does not match %q: %.500s", c.Method, u, status, c.BodyRegexp, body)
	}
	return nil
}

// login signs a demo user in through the gateway and returns the access token.
func (ch *Checker) login(ctx context.Context, email string) (string, error) {
	status, body, err := ch.do(ctx, http.MethodPost, ch.Gateway+"/api/auth/login", "",
		map[string]string{"email": email, "password": ch.Password})
	if err != nil {
		return "", fmt.Errorf("log in as %s: %v", email, err)
	}
	var answer struct {
		AccessToken string `json:"access_token"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &answer) != nil || answer.AccessToken == "" {
		return "", fmt.Errorf("log in as %s = %d: %.200s", email, status, body)
	}
	return answer.AccessToken, nil
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// micros is the Jaeger API's time format: microseconds since the epoch.
func micros(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }
