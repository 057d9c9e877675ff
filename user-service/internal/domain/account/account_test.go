package account_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tracecart/tracecart/user-service/internal/domain/account"
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
