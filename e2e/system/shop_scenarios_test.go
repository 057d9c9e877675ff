// Package system is tracecart's end-to-end suite: the whole system runs in containers (package
// stack) and every scenario goes through the gateway's /api as a customer would, then looks
// at Jaeger and Consul, as an operator would, to check what happened inside.
//
// Scenarios that leave the system as they found it share one stack (TestShop); scenarios that
// stop, kill or restart parts of it get a stack of their own (TestResilience), and each of them
// proves the system healthy again before the next begins.
package system

import (
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/tracecart/tracecart/e2e/stack"

	"github.com/tracecart/tracecart/e2e/internal/shoptest"
)

var traceIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestShop(t *testing.T) {
	s := newShop(t, stack.Options{})
	aliceToken := s.login(t, alice, demoPassword)
	bobToken := s.login(t, bob, demoPassword)

	t.Run("a new customer tops up, buys and is charged", func(t *testing.T) {
		p := s.newProduct(t, 1250, 10)
		token := s.newUser(t, 5000)
		if b := s.balance(t, token); b != 5000 {
			t.Fatalf("balance after top-up %d, want 5000", b)
		}
		o, ans := s.placeOrder(t, token, shoptest.OrderLine{ProductID: p.ID, Quantity: 3})
		if loc := ans.Header.Get("Location"); loc == "" {
			t.Errorf("202 without Location")
		}
		got := s.waitTerminal(t, token, o.ID)
		if got.Status != "CONFIRMED" {
			t.Fatalf("order ended %s (%s), want CONFIRMED", got.Status, got.Reason)
		}
		if got.TotalCents != 3*1250 {
			t.Errorf("total %d, want %d", got.TotalCents, 3*1250)
		}
		shoptest.Eventually(t, 10*time.Second, "the sale to be recorded", func() error {
			if now := s.product(t, p.ID); now.Stock != 7 || now.Sold != 3 {
				return fmt.Errorf("stock %d sold %d, want 7 and 3", now.Stock, now.Sold)
			}
			return nil
		})
		if b := s.balance(t, token); b != 5000-3*1250 {
			t.Errorf("balance %d, want %d", b, 5000-3*1250)
		}
	})

	t.Run("out of stock rejects and changes nothing", func(t *testing.T) {
		before, lamp := s.balance(t, aliceToken), s.product(t, lastOneLamp)
		o, _ := s.placeOrder(t, aliceToken, shoptest.OrderLine{ProductID: lastOneLamp, Quantity: lamp.Stock + 1})
		if got := s.waitTerminal(t, aliceToken, o.ID); got.Status != "REJECTED" {
			t.Fatalf("order ended %s, want REJECTED", got.Status)
		}
		if now := s.product(t, lastOneLamp); now.Stock != lamp.Stock || now.Sold != lamp.Sold {
			t.Errorf("stock %d sold %d changed from %d %d", now.Stock, now.Sold, lamp.Stock, lamp.Sold)
		}
		if b := s.balance(t, aliceToken); b != before {
			t.Errorf("balance %d changed from %d", b, before)
		}
	})

	t.Run("insufficient funds cancels and releases the reservation", func(t *testing.T) {
		before, keyboard := s.balance(t, bobToken), s.product(t, contextKeyboard)
		if before >= keyboard.PriceCents {
			t.Fatalf("bob can afford the keyboard (%d >= %d): the seed data changed", before, keyboard.PriceCents)
		}
		o, _ := s.placeOrder(t, bobToken, shoptest.OrderLine{ProductID: contextKeyboard, Quantity: 1})
		if got := s.waitTerminal(t, bobToken, o.ID); got.Status != "CANCELLED" {
			t.Fatalf("order ended %s, want CANCELLED", got.Status)
		}
		shoptest.Eventually(t, 10*time.Second, "the reservation to be released", func() error {
			if now := s.product(t, contextKeyboard); now.Stock != keyboard.Stock || now.Sold != keyboard.Sold {
				return fmt.Errorf("stock %d sold %d, want %d %d", now.Stock, now.Sold, keyboard.Stock, keyboard.Sold)
			}
			return nil
		})
		if b := s.balance(t, bobToken); b != before {
			t.Errorf("balance %d changed from %d", b, before)
		}
	})

	t.Run("cancelling a confirmed order restocks and refunds", func(t *testing.T) {
		before, socks := s.balance(t, aliceToken), s.product(t, spanSocks)
		o, _ := s.placeOrder(t, aliceToken, shoptest.OrderLine{ProductID: spanSocks, Quantity: 2})
		if got := s.waitTerminal(t, aliceToken, o.ID); got.Status != "CONFIRMED" {
			t.Fatalf("order ended %s, want CONFIRMED", got.Status)
		}
		var cancelled shoptest.Order
		s.api.As(aliceToken).Must(t, http.StatusOK, http.MethodPost, "/orders/"+o.ID+"/cancel", nil, &cancelled)
		if cancelled.Status != "CANCELLED" {
			t.Errorf("cancelled order is %s", cancelled.Status)
		}
		shoptest.Eventually(t, 15*time.Second, "restock and refund", func() error {
			if now := s.product(t, spanSocks); now.Stock != socks.Stock || now.Sold != socks.Sold {
				return fmt.Errorf("stock %d sold %d, want %d %d", now.Stock, now.Sold, socks.Stock, socks.Sold)
			}
			if b := s.balance(t, aliceToken); b != before {
				return fmt.Errorf("balance %d, want %d", b, before)
			}
			return nil
		})
	})

	t.Run("one order is one trace from the gateway to the last consumer", func(t *testing.T) {
		o, ans := s.placeOrder(t, aliceToken, shoptest.OrderLine{ProductID: tracingMug, Quantity: 1})
		traceID := ans.Header.Get("X-Trace-Id")
		if !traceIDPattern.MatchString(traceID) {
			t.Fatalf("X-Trace-Id %q, want 32 hex digits", traceID)
		}
		if got := s.waitTerminal(t, aliceToken, o.ID); got.Status != "CONFIRMED" {
			t.Fatalf("order ended %s, want CONFIRMED", got.Status)
		}
		assertOneTrace(t, s.JaegerURL(t), traceID)
	})

	t.Run("a replayed event has one effect, stopped by the inbox", func(t *testing.T) {
		assertReplayHasOneEffect(t, s)
	})

	t.Run("a burst of concurrent orders on contended stock keeps the books exact", func(t *testing.T) {
		assertInvariantsUnderContention(t, s)
	})
}
