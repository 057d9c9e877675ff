package httpserver

import (
	"log/slog"
	"net/http"
	"time"
)

// NewServer returns an http.Server for h listening on addr, with timeouts on every phase of a
// connection. The zero http.Server has none, so one slow client could hold a connection, and its
// goroutine, forever.
//
// The limits suit tracecart's small JSON requests; WriteTimeout bounds a whole response, so it
// is longer than any handler's own deadline should be. The server's own complaints (TLS
// handshakes, malformed requests) go to logger instead of the standard logger.
func NewServer(addr string, h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}
