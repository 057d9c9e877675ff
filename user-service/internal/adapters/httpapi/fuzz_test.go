package httpapi

import (
	"testing"

	"github.com/tracecart/tracecart/shared/httpserver/httpservertest"
	"github.com/tracecart/tracecart/user-service/internal/domain/account"
	"github.com/tracecart/tracecart/user-service/internal/domain/wallet"
)

// The fuzz targets check the first half of the handlers, what they make of the client's input
// before the store is asked anything: whatever arrives, it is refused with a 4xx or becomes a
// registration, login or top-up the service can store. Their seed corpora are in testdata/fuzz;
// plain `go test` runs them.

// FuzzRegisterRequest: the body of POST /auth/register, through the rules of a registration.
func FuzzRegisterRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		req, ok := httpservertest.Decode[registerRequest](t, body)
		if !ok {
			return
		}
		r := account.Registration{Email: req.Email, Password: req.Password, Name: req.Name}.Normalize()
		httpservertest.AssertClientError(t, r.Validate(), mapError)
	})
}

// FuzzLoginRequest: the body of POST /auth/login, through the check of its email address.
func FuzzLoginRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		req, ok := httpservertest.Decode[loginRequest](t, body)
		if !ok {
			return
		}
		httpservertest.AssertClientError(t, account.ValidateEmail(account.NormalizeEmail(req.Email)), mapError)
	})
}

// FuzzTopUpRequest: the body of POST /users/me/wallet/top-ups.
func FuzzTopUpRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		req, ok := httpservertest.Decode[topUpRequest](t, body)
		if !ok {
			return
		}
		httpservertest.AssertClientError(t, wallet.ValidateTopUp(req.AmountCents), mapError)
	})
}
