package account

import "github.com/google/uuid"

// DemoPassword is the password of every demo user. It is published in the README: the demo
// accounts exist so anyone can click through the shop, and must never be seeded in production
// (SEED_DEMO_DATA=false).
const DemoPassword = "tracecart-demo"

// The demo users' IDs are fixed, so the other services' seed data, the docs and the end-to-end
// tests can refer to them.
var (
	AliceID = uuid.MustParse("00000000-0000-4000-8000-00000000a11c")
	BobID   = uuid.MustParse("00000000-0000-4000-8000-000000000b0b")
	AdminID = uuid.MustParse("00000000-0000-4000-8000-0000000ad111")
)

// DemoUser is one seeded account with its starting balance.
type DemoUser struct {
	User
	InitialBalanceCents int64
}

// DemoUsers are the accounts SEED_DEMO_DATA creates: alice has plenty of money, bob little
// (so his bigger orders fail for insufficient funds), and admin none.
func DemoUsers() []DemoUser {
	return []DemoUser{
		{User{ID: AliceID, Email: "alice@example.com", Name: "Alice", Roles: []string{RoleCustomer}}, 100_000},
		{User{ID: BobID, Email: "bob@example.com", Name: "Bob", Roles: []string{RoleCustomer}}, 5_000},
		{User{ID: AdminID, Email: "admin@example.com", Name: "Admin", Roles: []string{RoleCustomer, RoleAdmin}}, 0},
	}
}
