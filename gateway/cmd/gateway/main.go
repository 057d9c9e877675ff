// Command gateway runs tracecart's single entry point: it routes /api/... to the services it
// finds in Consul and serves the storefront page.
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	if err := run(context.Background(), os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}
