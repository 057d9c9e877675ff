package postgres_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tracecart/tracecart/shared/events"
	sharedpg "github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/postgres/pgtest"
	"github.com/tracecart/tracecart/shared/testinfra"
	"github.com/tracecart/tracecart/user-service/internal/adapters/postgres"
	"github.com/tracecart/tracecart/user-service/internal/adapters/postgres/postgrestest"
	"github.com/tracecart/tracecart/user-service/internal/domain/account"
	"github.com/tracecart/tracecart/user-service/internal/domain/wallet"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

// The repositories run whatever decision they are given; these helpers give them the domain's,
// as the use cases in package app do.

func topUp(ctx context.Context, s *postgres.Store, userID uuid.UUID, amountCents int64, key string) (wallet.TopUpResult, error) {
	var result wallet.TopUpResult
	err := s.UpdateWallet(ctx, userID, key, func(w *wallet.Wallet) (_ []events.Message, err error) {
		result, err = w.TopUp(amountCents)
		return nil, err
	})
	return result, err
}

func charge(ctx context.Context, s *postgres.Store, orderID, userID uuid.UUID, amountCents int64) (wallet.ChargeDecision, error) {
	var decision wallet.ChargeDecision
	err := s.UpdatePayment(ctx, orderID, userID, func(op *wallet.OrderPayment) (_ []events.Message, err error) {
		decision, err = op.Charge(userID, amountCents)
		return nil, err
	})
	return decision, err
}

func cancel(ctx context.Context, s *postgres.Store, orderID, userID uuid.UUID) (wallet.CancelOutcome, wallet.Payment, error) {
	var (
		outcome wallet.CancelOutcome
		payment wallet.Payment
	)
	err := s.UpdatePayment(ctx, orderID, userID, func(op *wallet.OrderPayment) ([]events.Message, error) {
		outcome = op.Cancel(userID)
		if op.Payment != nil {
			payment = *op.Payment
		}
		return nil, nil
	})
	return outcome, payment, err
}

func newUser(email string) account.User {
	return account.User{ID: uuid.New(), Email: email, Name: "N", Roles: []string{account.RoleCustomer}, PasswordHash: "h"}
}

func TestUsers(t *testing.T) {
	pool := postgrestest.Open(t)
	s := postgres.New(pool)
	ctx := t.Context()

	u := newUser("erin@example.com")
	if err := s.CreateUser(ctx, u, 300); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if err := s.CreateUser(ctx, newUser("erin@example.com"), 0); !errors.Is(err, account.ErrEmailTaken) {
		t.Errorf("CreateUser with a taken email = %v, want ErrEmailTaken", err)
	}
	got, err := s.UserByEmail(ctx, "erin@example.com")
	if err != nil || got.ID != u.ID || got.PasswordHash != "h" || got.BalanceCents != 300 {
		t.Errorf("UserByEmail = %+v, %v", got, err)
	}
	if got, err := s.UserByID(ctx, u.ID); err != nil || got.Email != u.Email || got.PasswordHash != "" {
		t.Errorf("UserByID = %+v, %v; want the user without its hash", got, err)
	}
	if _, err := s.UserByID(ctx, uuid.New()); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("UserByID(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("UserByEmail(unknown) = %v, want ErrNotFound", err)
	}
	// An address that was not normalised is refused by the schema, not stored twice.
	if err := s.CreateUser(ctx, newUser("Erin@Example.com"), 0); err == nil {
		t.Errorf("CreateUser stored an email that is not normalised")
	}

	// Seeding skips a clash on the ID or on the email address, and changes nothing.
	for _, clash := range []account.User{{ID: u.ID, Email: "other@example.com", Roles: u.Roles, PasswordHash: "x"}, newUser("erin@example.com")} {
		created, err := s.SeedUser(ctx, clash, 999)
		if err != nil || created {
			t.Errorf("SeedUser(%s, %s) = %v, %v; want false, nil", clash.ID, clash.Email, created, err)
		}
	}
	if got, _ := s.UserByID(ctx, u.ID); got.BalanceCents != 300 {
		t.Errorf("balance = %d after seeding clashes, want 300", got.BalanceCents)
	}
}

func TestTopUpAndWalletRules(t *testing.T) {
	pool := postgrestest.Open(t)
	s := postgres.New(pool)
	ctx := t.Context()
	u := newUser("fay@example.com")
	if err := s.CreateUser(ctx, u, 0); err != nil {
		t.Fatal(err)
	}

	if _, err := topUp(ctx, s, uuid.New(), 100, ""); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("TopUp for an unknown user = %v, want ErrNotFound", err)
	}
	for _, bad := range []int64{0, -1, wallet.MaxTopUpCents + 1} {
		if _, err := topUp(ctx, s, u.ID, bad, ""); !errors.Is(err, wallet.ErrInvalidAmount) {
			t.Errorf("TopUp(%d) = %v, want ErrInvalidAmount", bad, err)
		}
	}

	// Top-ups without a key racing one another are all applied, one after the other.
	const n = 20
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := topUp(ctx, s, u.ID, 50, ""); err != nil {
				t.Errorf("TopUp: %v", err)
			}
		})
	}
	wg.Wait()
	balance, txs, err := s.Wallet(ctx, u.ID, 5)
	if err != nil {
		t.Fatalf("Wallet: %v", err)
	}
	if balance != n*50 || len(txs) != 5 {
		t.Errorf("Wallet = %d with %d transactions, want %d with the last 5", balance, len(txs), n*50)
	}
	for _, tx := range txs {
		if tx.Kind != wallet.KindTopUp || tx.AmountCents != 50 || tx.OrderID != uuid.Nil || tx.At.IsZero() {
			t.Errorf("transaction = %+v", tx)
		}
	}
	if _, _, err := s.Wallet(ctx, uuid.New(), 5); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("Wallet(unknown) = %v, want ErrNotFound", err)
	}
	postgrestest.CheckMoneyInvariant(t, pool)
}

func TestChargeAndCancelLedger(t *testing.T) {
	pool := postgrestest.Open(t)
	s := postgres.New(pool)
	ctx := t.Context()
	u := newUser("gus@example.com")
	if err := s.CreateUser(ctx, u, 5000); err != nil {
		t.Fatal(err)
	}
	orderID := uuid.New()
	d, err := charge(ctx, s, orderID, u.ID, 1200)
	if err != nil || d.Outcome != wallet.ChargePay || d.NewBalanceCents != 3800 {
		t.Fatalf("charge = %+v, %v", d, err)
	}
	// A rolled-back cancellation leaves the payment PAID and the money where it was: the
	// repository joins the transaction in the context, as it joins the saga consumer's.
	errRollback := errors.New("roll back")
	err = sharedpg.Atomic(ctx, pool, func(ctx context.Context, _ pgx.Tx) error {
		if _, _, err := cancel(ctx, s, orderID, u.ID); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("Atomic = %v", err)
	}
	if b := pgtest.Count(t, pool, `SELECT balance_cents FROM users WHERE id = $1`, u.ID); b != 3800 {
		t.Errorf("balance after a rolled-back refund = %d, want 3800", b)
	}
	outcome, p, err := cancel(ctx, s, orderID, uuid.New()) // the refund goes to the payer, whatever the event says
	if err != nil || outcome != wallet.CancelRefund || p.UserID != u.ID || p.AmountCents != 1200 {
		t.Fatalf("cancel = %v, %+v, %v", outcome, p, err)
	}
	_, txs, err := s.Wallet(ctx, u.ID, 10)
	if err != nil || len(txs) != 2 || txs[0].Kind != wallet.KindRefund || txs[1].Kind != wallet.KindDebit || txs[0].OrderID != orderID {
		t.Errorf("Wallet transactions = %+v, %v; want refund then debit of the order", txs, err)
	}
	postgrestest.CheckMoneyInvariant(t, pool)
}

func TestUpdatesWriteTheirEventsOrNothing(t *testing.T) {
	pool := postgrestest.Open(t)
	s := postgres.New(pool)
	ctx := t.Context()
	u := newUser("hal@example.com")
	registered, err := events.NewUserMessage(events.UserRegistered, u.ID, events.UserRegisteredPayload{UserID: u.ID, Role: account.RoleCustomer})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, u, 5000, registered); err != nil {
		t.Fatal(err)
	}
	if got := pgtest.OutboxEvents(t, pool, u.ID.String(), events.UserRegistered); len(got) != 1 || got[0].Topic != events.TopicUsers {
		t.Fatalf("outbox after CreateUser = %+v, want one user.registered on users", got)
	}
	// A clash writes neither the user nor its event.
	clash := newUser("hal@example.com")
	again, _ := events.NewUserMessage(events.UserRegistered, clash.ID, events.UserRegisteredPayload{UserID: clash.ID})
	if err := s.CreateUser(ctx, clash, 0, again); !errors.Is(err, account.ErrEmailTaken) {
		t.Fatalf("CreateUser with a taken email = %v", err)
	}
	if n := pgtest.Count(t, pool, `SELECT count(*) FROM outbox`); n != 1 {
		t.Errorf("%d outbox rows after a refused registration, want 1", n)
	}

	// A decision that fails writes nothing, not even the events it would have announced.
	orderID, errDecide := uuid.New(), errors.New("decided against it")
	err = s.UpdatePayment(ctx, orderID, u.ID, func(op *wallet.OrderPayment) ([]events.Message, error) {
		if _, err := op.Charge(u.ID, 100); err != nil {
			return nil, err
		}
		return nil, errDecide
	})
	if !errors.Is(err, errDecide) {
		t.Fatalf("UpdatePayment = %v, want the decision's error", err)
	}
	if rows := postgrestest.Rows(t, pool); rows["payments"] != 0 || rows["wallet_transactions"] != 0 || rows["sum(balance_cents)"] != 5000 {
		t.Errorf("a failed decision wrote %v", rows)
	}
	msg, _ := events.NewMessage(events.PaymentSucceeded, orderID, events.PaymentSucceededPayload{UserID: u.ID, AmountCents: 100})
	err = s.UpdatePayment(ctx, orderID, u.ID, func(op *wallet.OrderPayment) ([]events.Message, error) {
		_, err := op.Charge(u.ID, 100)
		return []events.Message{msg}, err
	})
	if got := pgtest.OutboxEvents(t, pool, orderID.String()); err != nil || len(got) != 1 || got[0].Envelope.Type != events.PaymentSucceeded {
		t.Errorf("UpdatePayment = %v, outbox %+v; want the payment.succeeded it returned", err, got)
	}
	postgrestest.CheckMoneyInvariant(t, pool)
}

func TestListUsers(t *testing.T) {
	pool := postgrestest.Open(t)
	s := postgres.New(pool)
	ctx := t.Context()
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		if err := s.CreateUser(ctx, newUser(email), 0); err != nil {
			t.Fatal(err)
		}
	}
	first, err := s.ListUsers(ctx, uuid.Nil, 2)
	if err != nil || len(first) != 2 || first[0].ID.String() >= first[1].ID.String() {
		t.Fatalf("ListUsers(first 2) = %+v, %v; want two users in ID order", first, err)
	}
	rest, err := s.ListUsers(ctx, first[1].ID, 2)
	if err != nil || len(rest) != 1 || rest[0].ID.String() <= first[1].ID.String() {
		t.Fatalf("ListUsers(after the second) = %+v, %v; want the third", rest, err)
	}
	for _, u := range append(first, rest...) {
		if u.PasswordHash != "" || u.Email == "" {
			t.Errorf("listed user %+v: want its email and no password hash", u)
		}
	}
}
