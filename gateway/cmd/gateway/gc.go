package main

import (
	"runtime/debug"
)

// Garbage collector settings the gateway picks when the operator has not: the standard GOGC
// and GOMEMLIMIT variables, read by the Go runtime itself, still win.
//
// The gateway allocates about 26 KB per proxied request (mostly net/http's request copies and
// header maps, and the spans) on a live heap of about 8 MB, so at the default GOGC=100 it
// collects dozens of times a second under load. BenchmarkHandlerChain with GODEBUG=gctrace=1
// measured 50 collections and 10 % of the CPU in the collector at GOGC=100, 14 collections and
// 2 % at GOGC=400, for a heap goal of 54 MB instead of 18 MB (docs/performance-gateway.md). The
// memory limit keeps a much larger heap (a full catalogue cache, a burst of slow upstreams)
// from growing without bound: near it the collector runs more often, whatever GOGC says.
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 256 << 20 // bytes
)

// tuneGC applies the gateway's defaults for what getenv leaves unset.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}
