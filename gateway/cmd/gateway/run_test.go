package main

import (
	"os"
	"strings"
	"testing"

	"github.com/tracecart/tracecart/shared/testinfra"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

func TestBinaryLifecycle(t *testing.T) {
	testinfra.CheckLifecycle(t, "gateway", nil)
}

func TestRunRejectsBadConfig(t *testing.T) {
	env := map[string]string{"HTTP_ADDR": "no-port-here"}
	err := run(t.Context(), func(k string) string { return env[k] }, os.Stdout)
	if err == nil || !strings.Contains(err.Error(), "HTTP_ADDR") {
		t.Fatalf("run(HTTP_ADDR=no-port-here) = %v, want an error naming HTTP_ADDR", err)
	}
}
