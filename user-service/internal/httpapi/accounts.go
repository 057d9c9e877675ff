package httpapi

import (
	"fmt"
	"net/http"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/httpserver"
	"github.com/tracecart/tracecart/user-service/internal/account"
)

// userResponse is a user as the API shows it: never the password hash.
type userResponse struct {
	ID    uuid.UUID `json:"id"`
	Email string    `json:"email"`
	Name  string    `json:"name"`
	Roles []string  `json:"roles"`
	// BalanceCents is shown to the user themself (and admins), not in the registration answer.
	BalanceCents *int64 `json:"balance_cents,omitempty"`
}

func newUserResponse(u account.User, withBalance bool) userResponse {
	resp := userResponse{ID: u.ID, Email: u.Email, Name: u.Name, Roles: u.Roles}
	if withBalance {
		resp.BalanceCents = &u.BalanceCents
	}
	return resp
}

type registerRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

// register creates a customer account: 201 with the user and its Location.
func (s *server) register(w http.ResponseWriter, r *http.Request) {
	var req registerRequest
	if err := httpserver.DecodeJSON(r, &req); err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	u, err := s.Accounts.Register(r.Context(), account.Registration{Email: req.Email, Password: req.Password, Name: req.Name})
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", "/users/"+u.ID.String())
	httpserver.WriteJSON(w, http.StatusCreated, newUserResponse(u, false))
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// loginResponse is an OAuth 2.0-style token response (RFC 6749 §5.1).
type loginResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"` // seconds
}

// login exchanges an email address and password for an access token. Every failure, unknown
// address or wrong password, is the same 401.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := httpserver.DecodeJSON(r, &req); err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	u, err := s.Accounts.Authenticate(r.Context(), req.Email, req.Password)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	tok, err := s.Tokens.Issue(u.ID, u.Roles)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	// A token is a credential: no cache may keep it (RFC 6749 §5.1).
	w.Header().Set("Cache-Control", "no-store")
	httpserver.WriteJSON(w, http.StatusOK, loginResponse{
		AccessToken: tok.AccessToken,
		TokenType:   "Bearer",
		ExpiresIn:   int64(tok.ExpiresIn.Seconds()),
	})
}

// me answers the signed-in user's own account, balance included.
func (s *server) me(w http.ResponseWriter, r *http.Request) {
	userID, err := currentUserID(r)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	u, err := s.Store.UserByID(r.Context(), userID)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, newUserResponse(u, true))
}

// user answers one account by ID: the caller's own, or anyone's for an admin.
func (s *server) user(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(mux.Vars(r)["id"])
	if err != nil {
		httpserver.WriteError(w, r, &httpserver.RequestError{Status: http.StatusBadRequest, Detail: "user ID must be a UUID", Err: err})
		return
	}
	claims, _ := auth.ClaimsFrom(r.Context()) // the middleware guarantees them
	if claims.Subject != id.String() && !claims.HasRole(account.RoleAdmin) {
		httpserver.WriteError(w, r, fmt.Errorf("only admins may read other users: %w", httpserver.ErrForbidden))
		return
	}
	u, err := s.Store.UserByID(r.Context(), id)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, newUserResponse(u, true))
}

// currentUserID returns the ID of the user whose verified token this request carries.
func currentUserID(r *http.Request) (uuid.UUID, error) {
	claims, ok := auth.ClaimsFrom(r.Context())
	if !ok {
		return uuid.Nil, fmt.Errorf("no verified token: %w", httpserver.ErrUnauthorized)
	}
	id, err := uuid.Parse(claims.Subject)
	if err != nil {
		return uuid.Nil, fmt.Errorf("token subject is not a user ID: %w", httpserver.ErrUnauthorized)
	}
	return id, nil
}
