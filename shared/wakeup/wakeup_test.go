package wakeup_test

import (
	"testing"

	"github.com/tracecart/tracecart/shared/wakeup"
)

func woken(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestHub(t *testing.T) {
	h := wakeup.New[string]()
	a1, stopA1 := h.Watch("a")
	a2, stopA2 := h.Watch("a")
	b, stopB := h.Watch("b")
	defer stopA2()
	defer stopB()

	h.Signal("a")
	h.Signal("a") // a second signal before the watcher woke is the same wake-up, and never blocks
	if !woken(a1) || !woken(a2) {
		t.Error("a watcher of a was not woken by Signal(a)")
	}
	if woken(a1) {
		t.Error("two signals woke a watcher twice; one pending wake-up should stand for both")
	}
	if woken(b) {
		t.Error("Signal(a) woke a watcher of b")
	}

	stopA1()
	h.Signal("a")
	if woken(a1) {
		t.Error("a watcher that stopped was woken")
	}
	if !woken(a2) {
		t.Error("the other watcher of a was not woken after the first stopped")
	}
}
