package postgres_test

import (
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	sharedpg "github.com/tracecart/tracecart/shared/postgres"
	"github.com/tracecart/tracecart/shared/testinfra"
	"github.com/tracecart/tracecart/user-service/internal/account"
	"github.com/tracecart/tracecart/user-service/internal/postgres"
	"github.com/tracecart/tracecart/user-service/internal/testdb"
	"github.com/tracecart/tracecart/user-service/internal/wallet"
)

func TestMain(m *testing.M) { os.Exit(testinfra.Main(m)) }

func newUser(email string) account.User {
	return account.User{ID: uuid.New(), Email: email, Name: "N", Roles: []string{account.RoleCustomer}, PasswordHash: "h"}
}

func TestUsers(t *testing.T) {
	pool := testdb.Open(t)
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
	pool := testdb.Open(t)
	s := postgres.New(pool)
	ctx := t.Context()
	u := newUser("fay@example.com")
	if err := s.CreateUser(ctx, u, 0); err != nil {
		t.Fatal(err)
	}

	if _, err := s.TopUp(ctx, uuid.New(), 100, ""); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("TopUp for an unknown user = %v, want ErrNotFound", err)
	}
	for _, bad := range []int64{0, -1, wallet.MaxTopUpCents + 1} {
		if _, err := s.TopUp(ctx, u.ID, bad, ""); !errors.Is(err, wallet.ErrInvalidAmount) {
			t.Errorf("TopUp(%d) = %v, want ErrInvalidAmount", bad, err)
		}
	}

	// Top-ups without a key racing one another are all applied, one after the other.
	const n = 20
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := s.TopUp(ctx, u.ID, 50, ""); err != nil {
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
	testdb.CheckMoneyInvariant(t, pool)
}

func TestChargeAndCancelLedger(t *testing.T) {
	pool := testdb.Open(t)
	s := postgres.New(pool)
	ctx := t.Context()
	u := newUser("gus@example.com")
	if err := s.CreateUser(ctx, u, 5000); err != nil {
		t.Fatal(err)
	}
	orderID := uuid.New()
	err := sharedpg.InTx(ctx, pool, func(tx pgx.Tx) error {
		d, err := s.Charge(ctx, tx, orderID, u.ID, 1200)
		if err != nil || d.Outcome != wallet.ChargePay || d.NewBalanceCents != 3800 {
			t.Errorf("Charge = %+v, %v", d, err)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// A rolled-back cancellation leaves the payment PAID and the money where it was.
	errRollback := errors.New("roll back")
	err = sharedpg.InTx(ctx, pool, func(tx pgx.Tx) error {
		if _, _, err := s.Cancel(ctx, tx, orderID, u.ID); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("InTx = %v", err)
	}
	if b := testdb.Count(t, pool, `SELECT balance_cents FROM users WHERE id = $1`, u.ID); b != 3800 {
		t.Errorf("balance after a rolled-back refund = %d, want 3800", b)
	}
	err = sharedpg.InTx(ctx, pool, func(tx pgx.Tx) error {
		outcome, p, err := s.Cancel(ctx, tx, orderID, uuid.New()) // the refund goes to the payer, whatever the event says
		if err != nil || outcome != wallet.CancelRefund || p.UserID != u.ID || p.AmountCents != 1200 {
			t.Errorf("Cancel = %v, %+v, %v", outcome, p, err)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	_, txs, err := s.Wallet(ctx, u.ID, 10)
	if err != nil || len(txs) != 2 || txs[0].Kind != wallet.KindRefund || txs[1].Kind != wallet.KindDebit || txs[0].OrderID != orderID {
		t.Errorf("Wallet transactions = %+v, %v; want refund then debit of the order", txs, err)
	}
	testdb.CheckMoneyInvariant(t, pool)
}
