package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/httpserver"
	"github.com/tracecart/tracecart/user-service/internal/domain/wallet"
)

// Wallet history paging: how many transactions GET /users/me/wallet shows by default and at most.
const (
	defaultHistory = 20
	maxHistory     = 100
)

type walletResponse struct {
	BalanceCents int64                 `json:"balance_cents"`
	Transactions []transactionResponse `json:"transactions"`
}

type transactionResponse struct {
	ID          uuid.UUID   `json:"id"`
	Kind        wallet.Kind `json:"kind"`
	AmountCents int64       `json:"amount_cents"`
	OrderID     *uuid.UUID  `json:"order_id,omitempty"`
	At          time.Time   `json:"at"`
}

// wallet answers the signed-in user's balance and latest transactions (?limit=1..100).
func (s *server) wallet(w http.ResponseWriter, r *http.Request) {
	userID, err := auth.CallerID(r.Context())
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	limit, err := limitParam(r, defaultHistory, maxHistory)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	balance, txs, err := s.app.GetWallet(r.Context(), userID, limit)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	resp := walletResponse{BalanceCents: balance, Transactions: make([]transactionResponse, 0, len(txs))}
	for _, t := range txs {
		tr := transactionResponse{ID: t.ID, Kind: t.Kind, AmountCents: t.AmountCents, At: t.At.UTC()}
		if t.OrderID != uuid.Nil {
			tr.OrderID = &t.OrderID
		}
		resp.Transactions = append(resp.Transactions, tr)
	}
	httpserver.WriteJSON(w, http.StatusOK, resp)
}

type topUpRequest struct {
	AmountCents int64 `json:"amount_cents"`
}

type topUpResponse struct {
	BalanceCents int64 `json:"balance_cents"`
}

// topUp credits the signed-in user's wallet. An Idempotency-Key header makes a retry safe: the
// same key answers the first result again and credits nothing more.
func (s *server) topUp(w http.ResponseWriter, r *http.Request) {
	userID, err := auth.CallerID(r.Context())
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	key, err := httpserver.IdempotencyKey(r)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	var req topUpRequest
	if err := httpserver.DecodeJSON(r, &req); err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	result, err := s.app.TopUp(r.Context(), userID, req.AmountCents, key)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	if result.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	httpserver.WriteJSON(w, http.StatusOK, topUpResponse{BalanceCents: result.BalanceCents})
}
