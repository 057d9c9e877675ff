package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/product-service/internal/domain/inventory"
	"github.com/tracecart/tracecart/shared/events"
)

// settleOn does to order orderID's reservation what the event eventType does to it
// (inventory.Next): sell it, release it, restock it, leave a tombstone, or nothing. It is the
// common part of ConfirmSale, ReleaseStock and CancelReservation.
func (a *App) settleOn(ctx context.Context, orderID uuid.UUID, eventType string) error {
	var t inventory.Transition
	err := a.reservations.Update(ctx, orderID, nil, func(r *Reservation) ([]events.Message, error) {
		t = inventory.Next(r.Status, eventType)
		return settle(r, t)
	})
	if err != nil {
		return err
	}
	countAfterCommit(ctx, a.released, "reason", t.ReleaseReason)
	return nil
}

// settle applies t to r, which is locked: the stock changes of its effect on what r holds, the
// new status, and inventory.released when stock goes back. Events and the reconciler both
// settle reservations through it, so a reservation healed by the reconciler ends exactly like
// one whose event arrived.
func settle(r *Reservation, t inventory.Transition) ([]events.Message, error) {
	if t.Effect == inventory.EffectNone {
		return nil, nil
	}
	r.Changes = t.Effect.Changes(r.Lines)
	r.Status = t.To
	if t.ReleaseReason == "" {
		return nil, nil
	}
	msg, err := events.NewMessage(events.InventoryReleased, r.OrderID, events.InventoryReleasedPayload{Reason: t.ReleaseReason})
	return []events.Message{msg}, err
}
