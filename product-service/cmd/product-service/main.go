// Command product-service runs tracecart's catalogue and inventory service: it reserves stock
// in the order saga and releases it when the saga compensates.
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	if err := run(context.Background(), os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "product-service:", err)
		os.Exit(1)
	}
}
