// Package password hashes and checks user passwords with Argon2id (RFC 9106), the
// memory-hard function OWASP recommends, storing each hash as a self-describing PHC string:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// The string carries the algorithm version, the cost parameters and the random salt, so the
// parameters can be raised later without invalidating stored hashes: each is checked with the
// parameters it was made with.
//
// It is an adapter, not a domain package: the rules about passwords (how long one must be) are
// account's; this is the tool that hashes them, with cryptography, randomness and a memory
// budget, and the use cases reach it through the app.PasswordHasher port.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/sync/semaphore"

	"github.com/tracecart/tracecart/user-service/internal/app"
)

// ErrMalformedHash means a stored hash is not a PHC string this package can check. It is an
// error of the stored data, not a wrong password.
var ErrMalformedHash = errors.New("malformed password hash")

// Params are Argon2id's cost parameters.
type Params struct {
	// MemoryKiB is the memory each hash uses, in KiB.
	MemoryKiB uint32
	// Iterations is the number of passes over the memory.
	Iterations uint32
	// Parallelism is the number of lanes (threads).
	Parallelism uint8
}

// DefaultParams is OWASP's first recommended Argon2id configuration (19 MiB, 2 passes, 1 lane):
// a few tens of milliseconds per hash on a small server, which a login can afford and a
// password-guessing attacker cannot.
var DefaultParams = Params{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1}

const (
	saltLen = 16
	keyLen  = 32
	// maxMemoryKiB and maxIterations bound the parameters Verify accepts from a stored string, so
	// a corrupted or planted row cannot make one login allocate gigabytes or spin for minutes.
	maxMemoryKiB  = 1 << 20 // 1 GiB
	maxIterations = 64
)

// b64 is the encoding the PHC string format uses: standard alphabet, no padding.
var b64 = base64.RawStdEncoding

// The use cases hash passwords here.
var _ app.PasswordHasher = (*Hasher)(nil)

// Hasher hashes and verifies passwords with fixed parameters. Hashing is deliberately
// expensive in memory, so a Hasher also bounds the memory all hashes running at once may use:
// a burst of logins waits its turn instead of allocating MemoryKiB each at the same time and
// getting the process killed for running out of memory.
type Hasher struct {
	params    Params
	budgetKiB int64
	memory    *semaphore.Weighted // KiB of the budget in use by running hashes
}

// NewHasher returns a Hasher that hashes with p and lets hashes run together only while their
// memory adds up to at most budgetKiB. A budget smaller than one hash still lets one run at a
// time, as does a stored hash made with more memory than the whole budget.
func NewHasher(p Params, budgetKiB uint64) (*Hasher, error) {
	if p.MemoryKiB < 8*uint32(p.Parallelism) || p.MemoryKiB > maxMemoryKiB ||
		p.Iterations < 1 || p.Iterations > maxIterations || p.Parallelism < 1 {
		return nil, fmt.Errorf("new password hasher: unusable parameters %+v", p)
	}
	budget := int64(max(budgetKiB, uint64(p.MemoryKiB)))
	if budgetKiB > 1<<40 {
		budget = 1 << 40 // no machine has a petabyte; keeps the int64 arithmetic safe
	}
	return &Hasher{params: p, budgetKiB: budget, memory: semaphore.NewWeighted(budget)}, nil
}

// Concurrency is how many hashes with the Hasher's own parameters run at once at most.
func (h *Hasher) Concurrency() int { return int(h.budgetKiB / int64(h.params.MemoryKiB)) }

// Hash returns the PHC string of password with a fresh random salt.
func (h *Hasher) Hash(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: read salt: %w", err)
	}
	key := h.derive(password, salt, h.params, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.params.MemoryKiB, h.params.Iterations, h.params.Parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches encoded, a string made by Hash (with any
// parameters). The comparison takes the same time wherever the first differing byte is. It
// returns ErrMalformedHash, and false, when encoded cannot be parsed.
func (h *Hasher) Verify(password, encoded string) (bool, error) {
	p, salt, want, err := parse(encoded)
	if err != nil {
		return false, err
	}
	got := h.derive(password, salt, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// derive runs Argon2id once p.MemoryKiB of the budget is free (the whole budget if it needs
// more).
func (h *Hasher) derive(password string, salt []byte, p Params, n uint32) []byte {
	weight := min(int64(p.MemoryKiB), h.budgetKiB)
	_ = h.memory.Acquire(context.Background(), weight) // cannot fail: the context never ends
	defer h.memory.Release(weight)
	return argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, n)
}

// parse splits a PHC string into its parameters, salt and hash, checking each.
func parse(encoded string) (p Params, salt, key []byte, err error) {
	// "$argon2id$v=19$m=...,t=...,p=...$salt$hash" splits into 6 parts, the first empty.
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, fmt.Errorf("%w: not an argon2id PHC string", ErrMalformedHash)
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return Params{}, nil, nil, fmt.Errorf("%w: version %q, want v=%d", ErrMalformedHash, parts[2], argon2.Version)
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil ||
		fmt.Sprintf("m=%d,t=%d,p=%d", p.MemoryKiB, p.Iterations, p.Parallelism) != parts[3] {
		return Params{}, nil, nil, fmt.Errorf("%w: parameters %q", ErrMalformedHash, parts[3])
	}
	if p.MemoryKiB < 8*uint32(p.Parallelism) || p.MemoryKiB > maxMemoryKiB ||
		p.Iterations < 1 || p.Iterations > maxIterations || p.Parallelism < 1 {
		return Params{}, nil, nil, fmt.Errorf("%w: parameters %q out of bounds", ErrMalformedHash, parts[3])
	}
	if salt, err = b64.Strict().DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return Params{}, nil, nil, fmt.Errorf("%w: salt", ErrMalformedHash)
	}
	if key, err = b64.Strict().DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return Params{}, nil, nil, fmt.Errorf("%w: hash", ErrMalformedHash)
	}
	return p, salt, key, nil
}
