package httpcache

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// directives are the Cache-Control directives (RFC 9111 §5.2) a shared cache acts on. Unknown
// directives are ignored, as the RFC requires.
type directives struct {
	noStore, noCache, private, public, mustRevalidate bool
	maxAge, sMaxAge                                   time.Duration
	hasMaxAge, hasSMaxAge                             bool
}

// parseCacheControl reads every Cache-Control field line of h. A directive given twice with
// different values, or a delta-seconds that does not parse, is treated the way RFC 9111 §4.2.1
// asks of invalid freshness information: as stale (a max-age of 0).
func parseCacheControl(h http.Header) directives {
	var d directives
	for _, line := range h.Values("Cache-Control") {
		for part := range strings.SplitSeq(line, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
			value = strings.Trim(strings.TrimSpace(value), `"`)
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store":
				d.noStore = true
			case "no-cache":
				d.noCache = true
			case "private":
				d.private = true
			case "public":
				d.public = true
			case "must-revalidate", "proxy-revalidate":
				d.mustRevalidate = true
			case "max-age":
				d.maxAge, d.hasMaxAge = mergeAge(d.maxAge, d.hasMaxAge, value)
			case "s-maxage":
				d.sMaxAge, d.hasSMaxAge = mergeAge(d.sMaxAge, d.hasSMaxAge, value)
			}
		}
	}
	return d
}

// mergeAge parses a delta-seconds value; a second, conflicting value makes the age 0.
func mergeAge(current time.Duration, seen bool, value string) (time.Duration, bool) {
	secs, err := strconv.ParseUint(value, 10, 31)
	age := time.Duration(secs) * time.Second
	if err != nil || (seen && age != current) {
		return 0, true
	}
	return age, true
}

// freshFor returns how long a shared cache may serve a response with these directives without
// asking the origin again, and false if it must not store it at all. Only explicit lifetimes
// count (s-maxage, else max-age): tracecart's services say what they mean, so the heuristic
// freshness of RFC 9111 §4.2.2 and the legacy Expires header are not used.
func (d directives) freshFor() (time.Duration, bool) {
	switch {
	case d.noStore, d.private, d.noCache:
		return 0, false
	case d.hasSMaxAge:
		return d.sMaxAge, d.sMaxAge > 0
	case d.hasMaxAge:
		return d.maxAge, d.maxAge > 0
	}
	return 0, false
}

// sharable reports whether a response to a request with an Authorization header may be stored
// and reused for others (RFC 9111 §3.5): only when the response says so explicitly.
func (d directives) sharable() bool {
	return d.public || d.hasSMaxAge || d.mustRevalidate
}
