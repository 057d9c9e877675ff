// Command pause is the sandbox ("pause") container of the local cluster's pods: it holds the
// pod's namespaces open and does nothing else. The usual image (registry.k8s.io/pause) cannot be
// pulled here, so deploy/cluster/images.sh builds this into a scratch image.
//
// As PID 1 of the pod (with a shared process namespace) it also reaps orphaned children.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
