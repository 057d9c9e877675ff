package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/shared/httpserver"
	"github.com/tracecart/tracecart/user-service/internal/wallet"
)

// Wallet history paging: how many transactions GET /users/me/wallet shows by default and at most.
const (
	defaultHistory = 20
	maxHistory     = 100
)

// idempotencyKeyHeader is the header that makes a top-up safe to retry (the name
// shared/httpclient's retries look for; not imported from there, to keep the client
// stack out of this server).
const idempotencyKeyHeader = "Idempotency-Key"

// maxIdempotencyKeyLen bounds the Idempotency-Key header; clients send UUIDs or similar.
const maxIdempotencyKeyLen = 255

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
	userID, err := currentUserID(r)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	limit := defaultHistory
	if raw := r.URL.Query().Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxHistory {
			httpserver.WriteError(w, r, &httpserver.RequestError{Status: http.StatusBadRequest,
				Detail: "limit must be a whole number from 1 to " + strconv.Itoa(maxHistory)})
			return
		}
		limit = n
	}
	balance, txs, err := s.Store.Wallet(r.Context(), userID, limit)
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
	userID, err := currentUserID(r)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	key := r.Header.Get(idempotencyKeyHeader)
	if !validIdempotencyKey(key) {
		httpserver.WriteError(w, r, &httpserver.RequestError{Status: http.StatusBadRequest,
			Detail: "Idempotency-Key must be 1 to 255 printable ASCII characters"})
		return
	}
	var req topUpRequest
	if err := httpserver.DecodeJSON(r, &req); err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	result, err := s.Store.TopUp(r.Context(), userID, req.AmountCents, key)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	if result.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	httpserver.WriteJSON(w, http.StatusOK, topUpResponse{BalanceCents: result.BalanceCents})
}

// validIdempotencyKey accepts no key at all, or a short printable ASCII one.
func validIdempotencyKey(key string) bool {
	if len(key) > maxIdempotencyKeyLen {
		return false
	}
	for i := range len(key) {
		if key[i] < 0x21 || key[i] > 0x7e {
			return false
		}
	}
	return true
}
