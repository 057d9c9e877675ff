package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
)

// MaxWait is the longest a GET /orders/{id} waits for a change (Prefer: wait). It must stay
// below the gateway's timeout for order-service (ORDERS_TIMEOUT, 5 s by default), or the gateway
// would give up on a wait that was about to be answered.
const MaxWait = 4 * time.Second

// orderETag is the entity tag of an order's representation. Everything in it that can change
// (status, reason) moves updated_at, so the status and that time identify a version.
func orderETag(o order.Order) string {
	return fmt.Sprintf(`"%s.%d"`, o.Status, o.UpdatedAt.UnixMicro())
}

// matchesNoneOf reports whether tag is one of the entity tags of If-None-Match (RFC 9110
// §13.1.2, weak comparison: a W/ prefix is ignored), so the client already has this version.
func matchesNoneOf(r *http.Request, tag string) bool {
	for _, line := range r.Header.Values("If-None-Match") {
		for candidate := range strings.SplitSeq(line, ",") {
			candidate = strings.TrimPrefix(strings.TrimSpace(candidate), "W/")
			if candidate == "*" || candidate == tag {
				return true
			}
		}
	}
	return false
}

// preferredWait reads the wait preference of RFC 7240 (Prefer: wait=N, N in seconds) and returns
// it capped at MaxWait; ok is false when the request states none, or one that does not parse
// (a preference the server cannot honour is ignored, as the RFC says).
func preferredWait(r *http.Request) (wait time.Duration, ok bool) {
	for _, line := range r.Header.Values("Prefer") {
		for pref := range strings.SplitSeq(line, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(pref), "=")
			if !strings.EqualFold(strings.TrimSpace(name), "wait") {
				continue
			}
			seconds, err := strconv.Atoi(strings.Trim(strings.TrimSpace(value), `"`))
			if err != nil || seconds < 0 {
				return 0, false
			}
			return min(time.Duration(seconds)*time.Second, MaxWait), true
		}
	}
	return 0, false
}
