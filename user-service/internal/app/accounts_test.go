package app_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/events"
	"github.com/tracecart/tracecart/user-service/internal/adapters/password"
	"github.com/tracecart/tracecart/user-service/internal/adapters/token"
	"github.com/tracecart/tracecart/user-service/internal/app"
	"github.com/tracecart/tracecart/user-service/internal/domain/account"
)

// memUsers is an in-memory app.Users for testing the use cases' logic; the real store is
// tested against Postgres in package postgres.
type memUsers struct {
	mu     sync.Mutex
	byMail map[string]account.User
}

func (m *memUsers) CreateUser(_ context.Context, u account.User, _ int64, _ ...events.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byMail[u.Email]; ok {
		return account.ErrEmailTaken
	}
	m.byMail[u.Email] = u
	return nil
}

func (m *memUsers) UserByEmail(_ context.Context, email string) (account.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.byMail[email]
	if !ok {
		return account.User{}, account.ErrNotFound
	}
	return u, nil
}

func (m *memUsers) SeedUser(ctx context.Context, u account.User, b int64) (bool, error) {
	if err := m.CreateUser(ctx, u, b); errors.Is(err, account.ErrEmailTaken) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, nil
}

// noWallets and noPayments stand in for the ports the account use cases do not use; calling
// them panics.
type (
	noWallets  struct{ app.Wallets }
	noPayments struct{ app.Payments }
)

func (m *memUsers) UserByID(_ context.Context, id uuid.UUID) (account.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.byMail {
		if u.ID == id {
			u.PasswordHash = ""
			return u, nil
		}
	}
	return account.User{}, account.ErrNotFound
}

func (m *memUsers) ListUsers(_ context.Context, after uuid.UUID, limit int) ([]account.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var users []account.User
	for _, u := range m.byMail {
		if u.ID.String() > after.String() {
			u.PasswordHash = ""
			users = append(users, u)
		}
	}
	slices.SortFunc(users, func(a, b account.User) int { return strings.Compare(a.ID.String(), b.ID.String()) })
	return users[:min(limit, len(users))], nil
}

func newService(t *testing.T) (*app.App, *memUsers) {
	t.Helper()
	h, err := password.NewHasher(password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 64)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keySet, err := auth.NewKeySet(keys)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := token.NewIssuer(token.Options{Keys: keySet, Issuer: "tracecart", Audience: "tracecart", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	users := &memUsers{byMail: map[string]account.User{}}
	s, err := app.New(app.Deps{Users: users, Wallets: noWallets{}, Payments: noPayments{}, Hasher: h, Tokens: tokens,
		MeterProvider: noop.NewMeterProvider()})
	if err != nil {
		t.Fatal(err)
	}
	return s, users
}

func TestRegisterAndAuthenticate(t *testing.T) {
	s, users := newService(t)
	ctx := t.Context()
	u, err := s.Register(ctx, account.Registration{Email: " Carol@Example.com", Password: "s3cret-pass", Name: " Carol "})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if u.Email != "carol@example.com" || u.Name != "Carol" || len(u.Roles) != 1 || u.Roles[0] != account.RoleCustomer {
		t.Errorf("Register = %+v, want normalised email and name, role customer", u)
	}
	if u.PasswordHash != "" {
		t.Errorf("Register returned the password hash")
	}
	if stored := users.byMail["carol@example.com"].PasswordHash; !strings.HasPrefix(stored, "$argon2id$") {
		t.Errorf("stored hash = %q, want an argon2id PHC string", stored)
	}
	if _, err := s.Register(ctx, account.Registration{Email: "CAROL@example.com", Password: "another-pass", Name: "C"}); !errors.Is(err, account.ErrEmailTaken) {
		t.Errorf("second Register with the same email = %v, want ErrEmailTaken", err)
	}

	tests := []struct {
		name, email, password string
		wantErr               error
	}{
		{"right", "carol@example.com", "s3cret-pass", nil},
		{"email in another case", "  CAROL@example.com", "s3cret-pass", nil},
		{"wrong password", "carol@example.com", "s3cret-pasS", account.ErrInvalidCredentials},
		{"unknown email", "dave@example.com", "s3cret-pass", account.ErrInvalidCredentials},
		// An address registration would refuse never reaches the store (whose database would
		// refuse the NUL with an error of its own).
		{"empty", "", "", account.ErrInvalid},
		{"not an address", "carol", "s3cret-pass", account.ErrInvalid},
		{"NUL", "\x00", "whatever1", account.ErrInvalid},
		{"NUL inside an address", "carol\x00@example.com", "s3cret-pass", account.ErrInvalid},
		{"display name", "Carol <carol@example.com>", "s3cret-pass", account.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Authenticate(ctx, tt.email, tt.password)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Authenticate = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (got.ID != u.ID || got.PasswordHash != "") {
				t.Errorf("Authenticate = %+v, want user %s without its hash", got, u.ID)
			}
			if errors.Is(err, account.ErrInvalidCredentials) && err.Error() != account.ErrInvalidCredentials.Error() {
				t.Errorf("error %q says more than ErrInvalidCredentials", err)
			}
		})
	}
}

func TestAuthenticateWithCorruptStoredHash(t *testing.T) {
	s, users := newService(t)
	users.byMail["eve@example.com"] = account.User{Email: "eve@example.com", PasswordHash: "garbage"}
	_, err := s.Authenticate(t.Context(), "eve@example.com", "whatever-pass")
	if !errors.Is(err, password.ErrMalformedHash) || errors.Is(err, account.ErrInvalidCredentials) {
		t.Errorf("Authenticate = %v, want ErrMalformedHash (a server fault, not a wrong password)", err)
	}
}

func TestSeedDemoUsersIsIdempotent(t *testing.T) {
	s, users := newService(t)
	for i, want := range []int{3, 0} {
		n, err := s.SeedDemoUsers(t.Context())
		if err != nil || n != want {
			t.Fatalf("SeedDemoUsers run %d = %d, %v; want %d", i+1, n, err, want)
		}
	}
	if _, err := s.Authenticate(t.Context(), "admin@example.com", account.DemoPassword); err != nil {
		t.Errorf("admin cannot log in with the demo password: %v", err)
	}
	if admin := users.byMail["admin@example.com"]; admin.ID != account.AdminID || len(admin.Roles) != 2 {
		t.Errorf("admin = %+v, want the fixed ID and roles customer+admin", admin)
	}
}

func TestLoginIssuesATokenForTheUser(t *testing.T) {
	s, _ := newService(t)
	if _, err := s.SeedDemoUsers(t.Context()); err != nil {
		t.Fatal(err)
	}
	tok, err := s.Login(t.Context(), "Alice@example.com", account.DemoPassword)
	if err != nil || tok.AccessToken == "" || tok.ExpiresIn != time.Hour {
		t.Fatalf("Login = %+v, %v; want a token for an hour", tok, err)
	}
	if _, err := s.Login(t.Context(), "alice@example.com", "wrong-password"); !errors.Is(err, account.ErrInvalidCredentials) {
		t.Errorf("Login with a wrong password = %v, want ErrInvalidCredentials", err)
	}
}

func TestListUsersPages(t *testing.T) {
	s, _ := newService(t)
	if _, err := s.SeedDemoUsers(t.Context()); err != nil { // three users
		t.Fatal(err)
	}
	for _, limit := range []int{0, -1, app.MaxUserPage + 1} {
		if _, err := s.ListUsers(t.Context(), uuid.Nil, limit); !errors.Is(err, account.ErrInvalid) {
			t.Errorf("ListUsers(limit %d) = %v, want ErrInvalid", limit, err)
		}
	}
	tests := []struct {
		limit, want int
		more        bool
	}{{1, 1, true}, {2, 2, true}, {3, 3, false}, {app.MaxUserPage, 3, false}}
	for _, tt := range tests {
		page, err := s.ListUsers(t.Context(), uuid.Nil, tt.limit)
		if err != nil || len(page.Users) != tt.want || (page.Next != uuid.Nil) != tt.more {
			t.Errorf("ListUsers(limit %d) = %d users, next %s, %v; want %d, more %v", tt.limit, len(page.Users), page.Next, err, tt.want, tt.more)
		}
		if tt.more && page.Next != page.Users[len(page.Users)-1].ID {
			t.Errorf("ListUsers(limit %d): next %s is not the page's last user", tt.limit, page.Next)
		}
	}
}
