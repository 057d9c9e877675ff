package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/user-service/internal/domain/wallet"
)

// GetWallet returns a user's balance and their latest transactions, newest first, at most limit
// of them; the list always explains the balance shown.
func (a *App) GetWallet(ctx context.Context, userID uuid.UUID, limit int) (balanceCents int64, txs []wallet.Transaction, err error) {
	return a.wallets.Wallet(ctx, userID, limit)
}
