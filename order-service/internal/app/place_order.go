package app

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/order-service/internal/domain/order"
)

// PlaceOrder places userID's order of requested: it validates the lines, prices them with the
// catalogue, and stores the order PENDING with its order.created event, which starts the saga.
//
// With an idempotency key (key != ""), a repeat of the same request by the same user returns
// the order the first one placed, as it is now, and places nothing; the same key with a
// different request is an error wrapping order.ErrIdempotencyKeyReused.
func (a *App) PlaceOrder(ctx context.Context, userID uuid.UUID, requested []order.Item, key string) (order.Order, error) {
	items, err := order.NewItems(requested)
	if err != nil {
		return order.Order{}, err
	}
	hash := requestHash(items)
	if key != "" {
		// A repeat is answered before product-service is asked anything, so it works even
		// while product-service is down. Create checks again, for repeats that race this one.
		existing, storedHash, err := a.orders.FindByIdempotencyKey(ctx, userID, key)
		switch {
		case err == nil && bytes.Equal(storedHash, hash):
			return existing, nil
		case err == nil:
			return order.Order{}, fmt.Errorf("idempotency key %q: %w", key, order.ErrIdempotencyKeyReused)
		case !errors.Is(err, order.ErrNotFound):
			return order.Order{}, err
		}
	}

	prices, err := a.catalog.Prices(ctx, order.ProductIDs(items))
	if err != nil {
		return order.Order{}, err
	}
	o, err := order.New(uuid.New(), userID, items, prices)
	if err != nil {
		return order.Order{}, err
	}
	created, err := orderCreated(o)
	if err != nil {
		return order.Order{}, err
	}
	return a.orders.Create(ctx, o, key, hash, created)
}

// requestHash fingerprints what an order request asks for, so that a repeat of an idempotency
// key can be told apart from a different request reusing it. It hashes the validated items
// sorted by product, not the raw body: whitespace, the order of the lines and how a product's
// quantity is split over duplicate lines do not change what is being ordered.
func requestHash(items []order.Item) []byte {
	sorted := slices.Clone(items)
	slices.SortFunc(sorted, func(a, b order.Item) int { return cmp.Compare(a.ProductID.String(), b.ProductID.String()) })
	h := sha256.New()
	for _, it := range sorted {
		fmt.Fprintf(h, "%s:%d\n", it.ProductID, it.Quantity)
	}
	return h.Sum(nil)
}
