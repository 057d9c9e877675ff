// Command user-service runs tracecart's accounts, login and wallet service: it issues the JWTs
// every other service verifies, and takes payment in the order saga.
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	if err := run(context.Background(), os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "user-service:", err)
		os.Exit(1)
	}
}
