package wallet_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/tracecart/tracecart/user-service/internal/domain/wallet"
)

func TestValidateTopUp(t *testing.T) {
	tests := []struct {
		amount  int64
		wantErr bool
	}{
		{-500, true},
		{-1, true},
		{0, true},
		{1, false},
		{2500, false},
		{10_000_000, false},
		{10_000_001, true},
		{1 << 62, true},
	}
	for _, tt := range tests {
		err := wallet.ValidateTopUp(tt.amount)
		if gotErr := err != nil; gotErr != tt.wantErr {
			t.Errorf("ValidateTopUp(%d) = %v, want error %v", tt.amount, err, tt.wantErr)
		}
		if err != nil && !errors.Is(err, wallet.ErrInvalidAmount) {
			t.Errorf("ValidateTopUp(%d) = %v, want it to wrap ErrInvalidAmount", tt.amount, err)
		}
	}
}

func TestDebit(t *testing.T) {
	tests := []struct {
		name        string
		balance     int64
		amount      int64
		wantBalance int64
		wantErr     error
	}{
		{"less than the balance", 5000, 1200, 3800, nil},
		{"exactly the balance", 5000, 5000, 0, nil},
		{"one cent more than the balance", 5000, 5001, 5000, wallet.ErrInsufficientFunds},
		{"empty wallet", 0, 1, 0, wallet.ErrInsufficientFunds},
		{"zero", 5000, 0, 5000, wallet.ErrInvalidAmount},
		{"negative (would be a credit)", 5000, -100, 5000, wallet.ErrInvalidAmount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := wallet.Debit(tt.balance, tt.amount)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Debit(%d, %d) error = %v, want %v", tt.balance, tt.amount, err, tt.wantErr)
			}
			if got != tt.wantBalance {
				t.Errorf("Debit(%d, %d) = %d, want %d", tt.balance, tt.amount, got, tt.wantBalance)
			}
		})
	}
}

func TestDecideCharge(t *testing.T) {
	payment := func(s wallet.Status) *wallet.Payment {
		return &wallet.Payment{OrderID: uuid.New(), UserID: uuid.New(), AmountCents: 1200, Status: s}
	}
	rich := wallet.Account{Found: true, BalanceCents: 10_000}
	tests := []struct {
		name    string
		prior   *wallet.Payment
		account wallet.Account
		amount  int64
		want    wallet.ChargeDecision
		wantErr error
	}{
		{"enough money", nil, rich, 1200, wallet.ChargeDecision{Outcome: wallet.ChargePay, NewBalanceCents: 8800}, nil},
		{"exactly enough", nil, rich, 10_000, wallet.ChargeDecision{Outcome: wallet.ChargePay, NewBalanceCents: 0}, nil},
		{"not enough", nil, wallet.Account{Found: true, BalanceCents: 1199}, 1200,
			wallet.ChargeDecision{Outcome: wallet.ChargeFail, Reason: wallet.ReasonInsufficientFunds}, nil},
		{"unknown user", nil, wallet.Account{}, 1200,
			wallet.ChargeDecision{Outcome: wallet.ChargeFail, Reason: wallet.ReasonUnknownUser}, nil},
		{"cancelled before the reservation (tombstone)", payment(wallet.StatusCancelled), rich, 1200,
			wallet.ChargeDecision{Outcome: wallet.ChargeNothing}, nil},
		{"tombstone wins over an unknown user", payment(wallet.StatusCancelled), wallet.Account{}, 1200,
			wallet.ChargeDecision{Outcome: wallet.ChargeNothing}, nil},
		{"already paid", payment(wallet.StatusPaid), rich, 1200, wallet.ChargeDecision{Outcome: wallet.ChargeNothing}, nil},
		{"already failed", payment(wallet.StatusFailed), rich, 1200, wallet.ChargeDecision{Outcome: wallet.ChargeNothing}, nil},
		{"already refunded", payment(wallet.StatusRefunded), rich, 1200, wallet.ChargeDecision{Outcome: wallet.ChargeNothing}, nil},
		{"zero total", nil, rich, 0, wallet.ChargeDecision{}, wallet.ErrInvalidAmount},
		{"negative total", nil, rich, -1200, wallet.ChargeDecision{}, wallet.ErrInvalidAmount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := wallet.DecideCharge(tt.prior, tt.account, tt.amount)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("DecideCharge error = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("DecideCharge = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecideCancel(t *testing.T) {
	tests := []struct {
		name  string
		prior *wallet.Payment
		want  wallet.CancelOutcome
	}{
		{"paid: refund", &wallet.Payment{Status: wallet.StatusPaid, AmountCents: 1200}, wallet.CancelRefund},
		{"failed: no money was taken", &wallet.Payment{Status: wallet.StatusFailed}, wallet.CancelNothing},
		{"refunded: never refund twice", &wallet.Payment{Status: wallet.StatusRefunded, AmountCents: 1200}, wallet.CancelNothing},
		{"already cancelled: keep the tombstone", &wallet.Payment{Status: wallet.StatusCancelled}, wallet.CancelNothing},
		{"no payment yet: tombstone", nil, wallet.CancelTombstone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wallet.DecideCancel(tt.prior); got != tt.want {
				t.Errorf("DecideCancel = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCancelThenChargeTakesNoMoney plays the race the tombstone exists for, with the two pure
// decisions in the order the events arrive.
func TestCancelThenChargeTakesNoMoney(t *testing.T) {
	if got := wallet.DecideCancel(nil); got != wallet.CancelTombstone {
		t.Fatalf("DecideCancel(nil) = %v, want CancelTombstone", got)
	}
	tombstone := &wallet.Payment{Status: wallet.StatusCancelled}
	got, err := wallet.DecideCharge(tombstone, wallet.Account{Found: true, BalanceCents: 1_000_000}, 1200)
	if err != nil || got.Outcome != wallet.ChargeNothing {
		t.Errorf("DecideCharge after a tombstone = %+v, %v; want ChargeNothing", got, err)
	}
}

func TestDeclineRecordsAFailedPaymentOnceAndMovesNoMoney(t *testing.T) {
	userID := uuid.New()
	op := &wallet.OrderPayment{OrderID: uuid.New(), Payer: wallet.Account{Found: true, BalanceCents: 5000}}
	d, err := op.Decline(userID, 1200)
	if err != nil || d.Outcome != wallet.ChargeFail || d.Reason != wallet.ReasonDeclined {
		t.Fatalf("Decline = %+v, %v; want ChargeFail, declined", d, err)
	}
	if op.Payment == nil || op.Payment.Status != wallet.StatusFailed || op.Added != nil || op.Payer.BalanceCents != 5000 {
		t.Errorf("after Decline: payment %+v, ledger %+v, balance %d; want FAILED, none, 5000", op.Payment, op.Added, op.Payer.BalanceCents)
	}
	if d, _ := op.Decline(userID, 1200); d.Outcome != wallet.ChargeNothing {
		t.Errorf("a second Decline = %+v, want ChargeNothing", d)
	}
	if _, err := (&wallet.OrderPayment{}).Decline(userID, 0); !errors.Is(err, wallet.ErrInvalidAmount) {
		t.Errorf("Decline(0) = %v, want ErrInvalidAmount", err)
	}
}
