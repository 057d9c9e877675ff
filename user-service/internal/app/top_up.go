package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/user-service/internal/domain/wallet"
)

// TopUp credits amountCents to a user's wallet. With a non-empty idempotencyKey, a repeated
// request with the same key for the same user credits nothing and gets the first answer again;
// the same key with another amount is wallet.ErrIdempotencyKeyReused.
func (a *App) TopUp(ctx context.Context, userID uuid.UUID, amountCents int64, idempotencyKey string) (wallet.TopUpResult, error) {
	// Checked before the wallet is locked: a refused amount costs no database work.
	if err := wallet.ValidateTopUp(amountCents); err != nil {
		return wallet.TopUpResult{}, err
	}
	var result wallet.TopUpResult
	err := a.wallets.UpdateWallet(ctx, userID, idempotencyKey, func(w *wallet.Wallet) ([]events.Message, error) {
		var err error
		result, err = w.TopUp(amountCents)
		return nil, err // a top-up announces nothing
	})
	if err != nil {
		return wallet.TopUpResult{}, err
	}
	return result, nil
}
