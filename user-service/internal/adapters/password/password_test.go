package password_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/tracecart/tracecart/user-service/internal/adapters/password"
)

// cheap keeps the tests fast; the format and the checks do not depend on the cost.
var cheap = password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

func newHasher(t *testing.T, p password.Params) *password.Hasher {
	t.Helper()
	h, err := password.NewHasher(p, 2*uint64(p.MemoryKiB))
	if err != nil {
		t.Fatalf("NewHasher: %v", err)
	}
	return h
}

func TestHashFormat(t *testing.T) {
	h := newHasher(t, cheap)
	first, err := h.Hash("correct horse")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if !strings.HasPrefix(first, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Count(first, "$") != 5 {
		t.Errorf("Hash = %q, want a PHC string with version and parameters", first)
	}
	second, err := h.Hash("correct horse")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if first == second {
		t.Errorf("two hashes of the same password are equal (%q): the salt is not random", first)
	}
	if strings.Contains(first, "correct horse") {
		t.Errorf("the hash contains the password")
	}
}

func TestVerify(t *testing.T) {
	h := newHasher(t, cheap)
	stored, err := h.Hash("tracecart-demo")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	// A hash made with other parameters still verifies: they travel in the string.
	stronger, err := newHasher(t, password.Params{MemoryKiB: 128, Iterations: 2, Parallelism: 2}).Hash("tracecart-demo")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	salt, key := strings.Split(stored, "$")[4], strings.Split(stored, "$")[5]
	tests := []struct {
		name     string
		password string
		encoded  string
		want     bool
		wantErr  error
	}{
		{"right password", "tracecart-demo", stored, true, nil},
		{"right password, other parameters", "tracecart-demo", stronger, true, nil},
		{"wrong password", "tracecart-dem0", stored, false, nil},
		{"empty password", "", stored, false, nil},
		{"password with a suffix", "tracecart-demo ", stored, false, nil},
		{"garbage", "tracecart-demo", "not a hash", false, password.ErrMalformedHash},
		{"empty hash", "tracecart-demo", "", false, password.ErrMalformedHash},
		{"bcrypt hash", "tracecart-demo", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", false, password.ErrMalformedHash},
		{"argon2i, not argon2id", "tracecart-demo", strings.Replace(stored, "argon2id", "argon2i", 1), false, password.ErrMalformedHash},
		{"unknown version", "tracecart-demo", strings.Replace(stored, "v=19", "v=16", 1), false, password.ErrMalformedHash},
		{"absurd memory", "tracecart-demo", "$argon2id$v=19$m=99999999,t=1,p=1$" + salt + "$" + key, false, password.ErrMalformedHash},
		{"zero iterations", "tracecart-demo", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key, false, password.ErrMalformedHash},
		{"parameters with trailing junk", "tracecart-demo", "$argon2id$v=19$m=64,t=1,p=1x$" + salt + "$" + key, false, password.ErrMalformedHash},
		{"salt not base64", "tracecart-demo", "$argon2id$v=19$m=64,t=1,p=1$!!!$" + key, false, password.ErrMalformedHash},
		{"hash truncated", "tracecart-demo", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:8], false, password.ErrMalformedHash},
		{"missing part", "tracecart-demo", "$argon2id$v=19$m=64,t=1,p=1$" + salt, false, password.ErrMalformedHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.Verify(tt.password, tt.encoded)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewHasherRejectsUnusableParams(t *testing.T) {
	for _, p := range []password.Params{
		{MemoryKiB: 0, Iterations: 1, Parallelism: 1},
		{MemoryKiB: 64, Iterations: 0, Parallelism: 1},
		{MemoryKiB: 64, Iterations: 1, Parallelism: 0},
		{MemoryKiB: 4 << 20, Iterations: 1, Parallelism: 1},
	} {
		if _, err := password.NewHasher(p, 1); err == nil {
			t.Errorf("NewHasher(%+v) succeeded, want an error", p)
		}
	}
	if _, err := password.NewHasher(password.DefaultParams, 1); err != nil {
		t.Errorf("NewHasher(DefaultParams): %v", err)
	}
}

// TestMemoryBudget checks how the budget turns into concurrency, and that hashes bigger than
// the whole budget (a stored hash made with stronger parameters) still run, one at a time.
func TestMemoryBudget(t *testing.T) {
	for _, tc := range []struct {
		budgetKiB uint64
		want      int
	}{
		{budgetKiB: 0, want: 1},
		{budgetKiB: 64, want: 1},
		{budgetKiB: 200, want: 3},
		{budgetKiB: 1 << 50, want: (1 << 40) / 64},
	} {
		h, err := password.NewHasher(cheap, tc.budgetKiB)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.Concurrency(); got != tc.want {
			t.Errorf("budget %d KiB: Concurrency() = %d, want %d", tc.budgetKiB, got, tc.want)
		}
	}

	strong := newHasher(t, password.Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1})
	stored, err := strong.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	small, err := password.NewHasher(cheap, 128) // less than one of the stored hashes
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			ok, err := small.Verify("correct horse", stored)
			if err == nil && !ok {
				err = errors.New("password did not match")
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Errorf("verifying a hash larger than the budget: %v", err)
	}
}
