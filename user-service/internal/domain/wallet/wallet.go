// Package wallet holds the money rules of user-service: how much a top-up may be, when a debit is
// allowed, and what the payment step of the order saga does with an order it is asked to charge
// or told was cancelled. It is pure: a repository loads a Wallet or an OrderPayment under the
// right row locks, a use case (package app) calls their methods to decide, and the repository
// writes what changed, so the rules can be tested without a database and read in one place.
//
// Money is in integer cents (int64) everywhere, as in every tracecart service.
package wallet

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Top-up limits. The upper bound keeps a typo (or an attacker with a stolen token) from minting
// an absurd balance in one request; 10 000 000 cents is 100 000.00 in the shop's currency.
const (
	MinTopUpCents int64 = 1
	MaxTopUpCents int64 = 10_000_000
)

// Errors of the wallet rules. The HTTP layer maps them to status codes.
var (
	// ErrInvalidAmount is an amount outside what the operation accepts.
	ErrInvalidAmount = errors.New("invalid amount")
	// ErrInsufficientFunds is a debit larger than the balance.
	ErrInsufficientFunds = errors.New("insufficient funds")
	// ErrIdempotencyKeyReused is a top-up whose Idempotency-Key was already used by the same
	// user for a different amount: replaying the first answer would hide the client's bug.
	ErrIdempotencyKeyReused = errors.New("idempotency key already used for a different top-up")
)

// ValidateTopUp checks the amount of a top-up.
func ValidateTopUp(amountCents int64) error {
	if amountCents < MinTopUpCents || amountCents > MaxTopUpCents {
		return fmt.Errorf("%w: amount_cents must be between %d and %d, got %d",
			ErrInvalidAmount, MinTopUpCents, MaxTopUpCents, amountCents)
	}
	return nil
}

// Debit returns the balance after taking amountCents from balanceCents. A wallet never goes
// negative: a debit larger than the balance is refused whole, never taken in part.
func Debit(balanceCents, amountCents int64) (int64, error) {
	if amountCents <= 0 {
		return balanceCents, fmt.Errorf("%w: a debit must be positive, got %d", ErrInvalidAmount, amountCents)
	}
	if amountCents > balanceCents {
		return balanceCents, fmt.Errorf("%w: balance %d, debit %d", ErrInsufficientFunds, balanceCents, amountCents)
	}
	return balanceCents - amountCents, nil
}

// TopUpResult is the answer to a top-up.
type TopUpResult struct {
	BalanceCents int64
	// Replayed is true when the request's Idempotency-Key had been used before: nothing was
	// credited now, and BalanceCents is the balance the first request answered with.
	Replayed bool
}

// Kind is what a wallet transaction did to the balance.
type Kind string

// The kinds of wallet transaction. Every change of a balance is one of them, so the ledger of
// transactions explains the balance: initial + topups - debits + refunds = balance.
const (
	KindTopUp  Kind = "topup"
	KindDebit  Kind = "debit"
	KindRefund Kind = "refund"
)

// Transaction is one entry of a wallet's ledger. AmountCents is always positive; Kind says in
// which direction it moved the balance. OrderID is set for debits and refunds.
type Transaction struct {
	ID          uuid.UUID
	Kind        Kind
	AmountCents int64
	OrderID     uuid.UUID // uuid.Nil for a top-up
	At          time.Time
	// BalanceAfterCents is the balance once this entry was applied.
	BalanceAfterCents int64
}

// Status is the state of the payment for one order. There is at most one payment per order.
type Status string

// Payment states. CANCELLED is a tombstone: the order was cancelled before its stock was
// reserved, and the row is there so a late inventory.reserved takes no money.
const (
	StatusPaid      Status = "PAID"
	StatusFailed    Status = "FAILED"
	StatusRefunded  Status = "REFUNDED"
	StatusCancelled Status = "CANCELLED"
)

// Reasons a payment fails, as they appear in payment.failed events.
const (
	ReasonInsufficientFunds = "insufficient_funds"
	ReasonUnknownUser       = "unknown_user"
	// ReasonDeclined is a payment refused as a card issuer would refuse it. Only the
	// payment-declines demo fault produces it (docs/walkthroughs/04-payment-declines.md).
	ReasonDeclined = "declined"
)

// Payment is what user-service remembers about one order's payment.
type Payment struct {
	OrderID     uuid.UUID
	UserID      uuid.UUID
	AmountCents int64
	Status      Status
	Reason      string // why it FAILED
}

// Account is the part of a user the charge decision needs. Found is false for a user ID this
// service does not know.
type Account struct {
	Found        bool
	BalanceCents int64
}

// ChargeOutcome is what DecideCharge tells the caller to do.
type ChargeOutcome int

// The outcomes of a charge.
const (
	// ChargeNothing: the order already has a payment (a cancellation tombstone, or a payment
	// recorded by an earlier delivery of the same reservation); no money moves, no event.
	ChargeNothing ChargeOutcome = iota
	// ChargePay: debit the wallet, record the payment PAID, publish payment.succeeded.
	ChargePay
	// ChargeFail: record the payment FAILED, publish payment.failed with the decision's Reason.
	ChargeFail
)

// ChargeDecision is the answer of DecideCharge.
type ChargeDecision struct {
	Outcome ChargeOutcome
	// NewBalanceCents is the balance after the debit, for ChargePay.
	NewBalanceCents int64
	// Reason is why the payment fails, for ChargeFail.
	Reason string
}

// DecideCharge decides what to do when the saga asks user-service to take amountCents for an
// order. prior is the order's existing payment, nil if there is none yet.
//
// An order is charged at most once: any existing payment row (PAID, FAILED, REFUNDED, or the
// CANCELLED tombstone of a cancellation that overtook the reservation) means there is nothing to
// do. The inbox already drops a redelivered event; this also covers a second, different event
// asking to charge the same order.
func DecideCharge(prior *Payment, account Account, amountCents int64) (ChargeDecision, error) {
	if amountCents <= 0 {
		return ChargeDecision{}, fmt.Errorf("%w: a charge must be positive, got %d", ErrInvalidAmount, amountCents)
	}
	if prior != nil {
		return ChargeDecision{Outcome: ChargeNothing}, nil
	}
	if !account.Found {
		return ChargeDecision{Outcome: ChargeFail, Reason: ReasonUnknownUser}, nil
	}
	balance, err := Debit(account.BalanceCents, amountCents)
	if errors.Is(err, ErrInsufficientFunds) {
		return ChargeDecision{Outcome: ChargeFail, Reason: ReasonInsufficientFunds}, nil
	}
	if err != nil {
		return ChargeDecision{}, err
	}
	return ChargeDecision{Outcome: ChargePay, NewBalanceCents: balance}, nil
}

// CancelOutcome is what DecideCancel tells the caller to do.
type CancelOutcome int

// The outcomes of a cancellation.
const (
	// CancelNothing: no money was taken (the payment FAILED), it was already given back
	// (REFUNDED), or the order was already cancelled (a tombstone).
	CancelNothing CancelOutcome = iota
	// CancelRefund: give the payment's amount back, mark it REFUNDED, publish payment.refunded.
	CancelRefund
	// CancelTombstone: no payment exists yet; record a CANCELLED tombstone so that a reservation
	// arriving later takes no money.
	CancelTombstone
)

// DecideCancel decides what to do when an order is cancelled. prior is the order's payment,
// nil if there is none yet.
func DecideCancel(prior *Payment) CancelOutcome {
	if prior == nil {
		return CancelTombstone
	}
	if prior.Status == StatusPaid {
		return CancelRefund
	}
	return CancelNothing
}

// Wallet is one user's balance, loaded for a top-up. Replay is the earlier top-up made with the
// same Idempotency-Key, nil if the key is new (or none was sent). A top-up that credits money
// leaves its ledger entry in Added, for the repository to write.
type Wallet struct {
	UserID       uuid.UUID
	BalanceCents int64
	Replay       *Transaction
	Added        *Transaction
}

// TopUp credits amountCents, or answers the earlier top-up again when the request repeats one
// (Replay): a retried request must not credit twice. The same key for another amount is
// ErrIdempotencyKeyReused.
func (w *Wallet) TopUp(amountCents int64) (TopUpResult, error) {
	if err := ValidateTopUp(amountCents); err != nil {
		return TopUpResult{}, err
	}
	if w.Replay != nil {
		if w.Replay.AmountCents != amountCents {
			return TopUpResult{}, fmt.Errorf("%w: it credited %d, this request asks for %d",
				ErrIdempotencyKeyReused, w.Replay.AmountCents, amountCents)
		}
		return TopUpResult{BalanceCents: w.Replay.BalanceAfterCents, Replayed: true}, nil
	}
	w.BalanceCents += amountCents
	w.Added = &Transaction{ID: uuid.New(), Kind: KindTopUp, AmountCents: amountCents, BalanceAfterCents: w.BalanceCents}
	return TopUpResult{BalanceCents: w.BalanceCents}, nil
}

// OrderPayment is what the payment step knows about one order, loaded for a charge or a
// cancellation: the order's payment (nil if it has none yet) and the payer's wallet (the
// payment's user, or, when there is no payment yet, the user the event names). Charge and Cancel
// change it; the repository then writes the payment, the balance and the ledger entry (Added).
type OrderPayment struct {
	OrderID uuid.UUID
	Payment *Payment
	Payer   Account
	Added   *Transaction
}

// Charge takes amountCents from userID's wallet for the order, or records why it cannot
// (DecideCharge has the rules), and returns the decision so the caller can announce it.
func (op *OrderPayment) Charge(userID uuid.UUID, amountCents int64) (ChargeDecision, error) {
	decision, err := DecideCharge(op.Payment, op.Payer, amountCents)
	if err != nil {
		return ChargeDecision{}, err
	}
	switch decision.Outcome {
	case ChargePay:
		op.Payment = &Payment{OrderID: op.OrderID, UserID: userID, AmountCents: amountCents, Status: StatusPaid}
		op.Payer.BalanceCents = decision.NewBalanceCents
		op.Added = op.entry(KindDebit, amountCents)
	case ChargeFail:
		op.Payment = &Payment{OrderID: op.OrderID, UserID: userID, AmountCents: amountCents,
			Status: StatusFailed, Reason: decision.Reason}
	}
	return decision, nil
}

// Decline records the order's payment FAILED with ReasonDeclined, without touching the wallet,
// and returns the decision so the caller can announce payment.failed. Like Charge, it acts only
// on an order with no payment yet: a redelivered or late reservation changes nothing.
func (op *OrderPayment) Decline(userID uuid.UUID, amountCents int64) (ChargeDecision, error) {
	if amountCents <= 0 {
		return ChargeDecision{}, fmt.Errorf("%w: a charge must be positive, got %d", ErrInvalidAmount, amountCents)
	}
	if op.Payment != nil {
		return ChargeDecision{Outcome: ChargeNothing}, nil
	}
	op.Payment = &Payment{OrderID: op.OrderID, UserID: userID, AmountCents: amountCents,
		Status: StatusFailed, Reason: ReasonDeclined}
	return ChargeDecision{Outcome: ChargeFail, Reason: ReasonDeclined}, nil
}

// Cancel applies the order's cancellation: a PAID payment is refunded to whoever paid, whatever
// the event says; an order with no payment yet gets a CANCELLED tombstone for userID, so that a
// late reservation takes no money; anything else is left alone (DecideCancel).
func (op *OrderPayment) Cancel(userID uuid.UUID) CancelOutcome {
	outcome := DecideCancel(op.Payment)
	switch outcome {
	case CancelRefund:
		op.Payment.Status = StatusRefunded
		op.Payer.BalanceCents += op.Payment.AmountCents
		op.Added = op.entry(KindRefund, op.Payment.AmountCents)
	case CancelTombstone:
		op.Payment = &Payment{OrderID: op.OrderID, UserID: userID, Status: StatusCancelled}
	}
	return outcome
}

// entry is the ledger entry of a debit or refund of this order, at the payer's new balance.
func (op *OrderPayment) entry(kind Kind, amountCents int64) *Transaction {
	return &Transaction{ID: uuid.New(), Kind: kind, AmountCents: amountCents, OrderID: op.OrderID,
		BalanceAfterCents: op.Payer.BalanceCents}
}
