// Command plainproxy is the benchmark's reference point for what Go's own reverse proxy costs:
// an httputil.ReverseProxy with a pooled transport and nothing else — no tracing, logging,
// discovery, breaker, retries, rate limit or cache. The distance between it and nginx is the
// price of net/http; the distance between it and the gateway is the price of the gateway's
// features.
package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: plainproxy LISTEN_ADDR UPSTREAM_URL")
		os.Exit(2)
	}
	target, err := url.Parse(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "plainproxy:", err)
		os.Exit(2)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.URL.Path = strings.TrimPrefix(pr.In.URL.Path, "/api")
		},
		Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second},
		// wrk closes its connections mid-request when it stops; that is not worth a log line.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	srv := &http.Server{Addr: os.Args[1], Handler: proxy, ReadHeaderTimeout: 5 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "plainproxy:", err)
		os.Exit(1)
	}
}
