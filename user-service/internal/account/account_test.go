package account_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/tracecart/tracecart/user-service/internal/account"
	"github.com/tracecart/tracecart/user-service/internal/password"
)

func TestRegistrationValidate(t *testing.T) {
	valid := account.Registration{Email: "carol@example.com", Password: "long enough", Name: "Carol"}
	tests := []struct {
		name    string
		change  func(*account.Registration)
		wantErr string // "" for valid; otherwise a fragment of the message
	}{
		{"valid", func(*account.Registration) {}, ""},
		{"email is normalised first", func(r *account.Registration) { r.Email = "  Carol@Example.COM " }, ""},
		{"no at sign", func(r *account.Registration) { r.Email = "carol.example.com" }, "email"},
		{"no domain", func(r *account.Registration) { r.Email = "carol@" }, "email"},
		{"domain starts with a dot", func(r *account.Registration) { r.Email = "carol@.example.com" }, "email"},
		{"display name", func(r *account.Registration) { r.Email = "Carol <carol@example.com>" }, "email"},
		{"two addresses", func(r *account.Registration) { r.Email = "a@example.com, b@example.com" }, "email"},
		{"empty email", func(r *account.Registration) { r.Email = "" }, "email"},
		{"email too long", func(r *account.Registration) { r.Email = strings.Repeat("a", 250) + "@example.com" }, "email"},
		{"password of 7", func(r *account.Registration) { r.Password = "1234567" }, "password"},
		{"password of 8", func(r *account.Registration) { r.Password = "12345678" }, ""},
		{"password of 8 runes, more bytes", func(r *account.Registration) { r.Password = "ééééé€€€" }, ""},
		{"password of 128", func(r *account.Registration) { r.Password = strings.Repeat("p", 128) }, ""},
		{"password of 129", func(r *account.Registration) { r.Password = strings.Repeat("p", 129) }, "password"},
		{"empty name", func(r *account.Registration) { r.Name = "" }, "name"},
		{"blank name", func(r *account.Registration) { r.Name = "   " }, "name"},
		{"name of 100", func(r *account.Registration) { r.Name = strings.Repeat("n", 100) }, ""},
		{"name of 101", func(r *account.Registration) { r.Name = strings.Repeat("n", 101) }, "name"},
		{"name with a control character", func(r *account.Registration) { r.Name = "Car\x00ol" }, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid
			tt.change(&r)
			err := r.Normalize().Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Validate(%+v) = %v, want nil", r, err)
				}
				return
			}
			if !errors.Is(err, account.ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate(%+v) = %v, want ErrInvalid about %s", r, err, tt.wantErr)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	err := account.Registration{Email: "nope", Password: "short", Name: ""}.Validate()
	for _, field := range []string{"email", "password", "name"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate = %v, want it to mention %s", err, field)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	if got := account.NormalizeEmail("  Alice@Example.COM\t"); got != "alice@example.com" {
		t.Errorf("NormalizeEmail = %q, want alice@example.com", got)
	}
}

// memUsers is an in-memory account.Users for testing the Service's logic; the real store is
// tested against Postgres in package postgres.
type memUsers struct {
	mu     sync.Mutex
	byMail map[string]account.User
}

func (m *memUsers) CreateUser(_ context.Context, u account.User, _ int64) error {
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

func newService(t *testing.T) (*account.Service, *memUsers) {
	t.Helper()
	h, err := password.NewHasher(password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 64)
	if err != nil {
		t.Fatal(err)
	}
	users := &memUsers{byMail: map[string]account.User{}}
	s, err := account.NewService(users, h)
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
