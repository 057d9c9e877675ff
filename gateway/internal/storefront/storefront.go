// Package storefront serves tracecart's shop page: plain HTML, CSS and JavaScript modules
// embedded in the gateway's binary, with no build step, calling the gateway's own /api.
//
// The page is served from the gateway's origin, so it needs no CORS, and it is locked down
// with a Content-Security-Policy that allows scripts, styles, images and API calls from that
// origin only: no inline script, no eval, no third-party anything. The one outside address it
// knows is Jaeger's UI, which it only links to (a navigation, which CSP does not restrict).
package storefront

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/tracecart/tracecart/shared/httpserver"
)

//go:embed web
var files embed.FS

// ContentSecurityPolicy allows the page to load and call only its own origin.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Options configures the page.
type Options struct {
	// JaegerUIURL is the base URL of Jaeger's UI, such as http://127.0.0.1:16686; the page links
	// each order to <JaegerUIURL>/trace/<trace ID>.
	JaegerUIURL string
}

// asset is one file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Handler serves the page at / and its files at /assets/….
type Handler struct {
	assets map[string]asset // by URL path
}

var _ http.Handler = (*Handler)(nil)

// New reads the embedded files and renders the page for opts.
func New(opts Options) (*Handler, error) {
	u, err := url.Parse(opts.JaegerUIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("new storefront: Jaeger UI URL %q is not an http(s) URL", opts.JaegerUIURL)
	}
	h := &Handler{assets: make(map[string]asset)}

	page, err := template.ParseFS(files, "web/index.html")
	if err != nil {
		return nil, fmt.Errorf("new storefront: %w", err)
	}
	var index bytes.Buffer
	if err := page.Execute(&index, map[string]string{"JaegerUIURL": strings.TrimRight(opts.JaegerUIURL, "/")}); err != nil {
		return nil, fmt.Errorf("new storefront: render index.html: %w", err)
	}
	h.add("/", "index.html", index.Bytes())

	err = fs.WalkDir(files, "web/assets", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		h.add(strings.TrimPrefix(name, "web"), name, body)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("new storefront: read assets: %w", err)
	}
	return h, nil
}

func (h *Handler) add(urlPath, name string, body []byte) {
	contentType := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) { // the system's MIME table may lack these or name them oddly
	case ".js":
		contentType = "text/javascript; charset=utf-8"
	case ".svg":
		contentType = "image/svg+xml"
	}
	sum := sha256.Sum256(body)
	h.assets[urlPath] = asset{
		body:        body,
		contentType: contentType,
		etag:        `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`,
	}
}

// ServeHTTP answers GET and HEAD for the page and its files. Every answer carries the security
// headers; files are revalidated on each use (no-cache with an ETag), so a new gateway
// release is picked up at once and an unchanged file costs a 304.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	hdr.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")

	a, ok := h.assets[r.URL.Path]
	if !ok {
		httpserver.WriteProblem(w, r, httpserver.Problem{Status: http.StatusNotFound, Detail: fmt.Sprintf("no page at %s", r.URL.Path)})
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		httpserver.WriteProblem(w, r, httpserver.Problem{Status: http.StatusMethodNotAllowed, Detail: fmt.Sprintf("%s does not support %s", r.URL.Path, r.Method)})
		return
	}
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", a.etag)
	// ServeContent answers If-None-Match with 304, and HEAD and Range requests properly.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
