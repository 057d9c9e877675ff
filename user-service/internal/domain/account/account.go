// Package account holds what user-service knows about its users: the rules a registration
// must pass, the roles, and the errors of the account use cases. It is pure: the use cases that
// register, authenticate and list users are in package app, which stores them through a port
// and hashes passwords with a tool (adapters/password).
package account

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Roles a user can hold. Every user is a customer; admins are customers too.
const (
	RoleCustomer = "customer"
	RoleAdmin    = "admin"
)

// Limits of a registration.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 128
	MaxNameLen     = 100
	// MaxEmailLen is the longest address SMTP can deliver to (RFC 5321's path limit less the
	// angle brackets).
	MaxEmailLen = 254
)

// Errors of the account rules. The HTTP layer maps them to status codes.
var (
	// ErrInvalid is a registration, or a login's email address, that breaks a rule; the
	// wrapping error says which.
	ErrInvalid = errors.New("invalid registration")
	// ErrEmailTaken is a registration for an email address that already has an account.
	ErrEmailTaken = errors.New("email address already registered")
	// ErrNotFound is a user ID or email address with no account.
	ErrNotFound = errors.New("user not found")
	// ErrInvalidCredentials is a failed login. It says neither whether the email is known nor
	// whether the password was wrong: either would help someone guessing accounts.
	ErrInvalidCredentials = errors.New("email or password is incorrect")
)

// User is an account. PasswordHash is the PHC string of the password; the store fills it only
// where it is needed (authentication), and it never leaves the service.
type User struct {
	ID           uuid.UUID
	Email        string
	Name         string
	Roles        []string
	BalanceCents int64
	PasswordHash string
}

// Registration is what a new user sends.
type Registration struct {
	Email    string
	Password string
	Name     string
}

// NormalizeEmail returns the form an email address is stored and looked up in: trimmed and
// lower-cased, so "Alice@Example.com " and "alice@example.com" are one account. (Strictly the
// local part is case-sensitive, but no real mail provider treats it so, and two accounts that
// differ only in case are always a mistake.)
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// Normalize returns r with its email normalised and its name trimmed.
func (r Registration) Normalize() Registration {
	r.Email = NormalizeEmail(r.Email)
	r.Name = strings.TrimSpace(r.Name)
	return r
}

// Validate checks a normalised registration and reports every rule it breaks at once, so a
// client fixing a form learns all of it in one round trip.
func (r Registration) Validate() error {
	var problems []string
	if !validEmail(r.Email) {
		problems = append(problems, "email must be a valid email address")
	}
	if n := utf8.RuneCountInString(r.Password); n < MinPasswordLen || n > MaxPasswordLen {
		problems = append(problems, fmt.Sprintf("password must be %d to %d characters long", MinPasswordLen, MaxPasswordLen))
	}
	if n := utf8.RuneCountInString(r.Name); n < 1 || n > MaxNameLen || !utf8.ValidString(r.Name) ||
		strings.ContainsFunc(r.Name, unicode.IsControl) {
		problems = append(problems, fmt.Sprintf("name must be 1 to %d printable characters", MaxNameLen))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// ValidateEmail checks a normalised email address by the rule registration applies, for the
// other places an address arrives from a client (logging in), so that one rule decides.
func ValidateEmail(email string) error {
	if !validEmail(email) {
		return fmt.Errorf("%w: email must be a valid email address", ErrInvalid)
	}
	return nil
}

// validEmail accepts a bare address (no display name, no angle brackets) with a domain.
func validEmail(email string) bool {
	if email == "" || len(email) > MaxEmailLen {
		return false
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Name != "" || addr.Address != email {
		return false
	}
	_, domain, _ := strings.Cut(email, "@")
	return domain != "" && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}
