package httpapi

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/tracecart/tracecart/shared/auth"
	"github.com/tracecart/tracecart/shared/httpserver"
	"github.com/tracecart/tracecart/user-service/internal/app"
	"github.com/tracecart/tracecart/user-service/internal/domain/account"
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
	u, err := s.app.Register(r.Context(), account.Registration{Email: req.Email, Password: req.Password, Name: req.Name})
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
	tok, err := s.app.Login(r.Context(), req.Email, req.Password)
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
	userID, err := auth.CallerID(r.Context())
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	u, err := s.app.GetUser(r.Context(), userID)
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
	u, err := s.app.GetUser(r.Context(), id)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, newUserResponse(u, true))
}

type usersResponse struct {
	Users []userResponse `json:"users"`
	// Next is the after of the following page; absent on the last page.
	Next *uuid.UUID `json:"next,omitempty"`
}

// listUsers answers a page of every account, for admins (the route checks the role):
// ?limit=1..100 (20 by default) users in ID order, starting after the user ID ?after names (the
// next of the previous page).
func (s *server) listUsers(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r, app.DefaultUserPage, app.MaxUserPage)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	var after uuid.UUID
	if raw := r.URL.Query().Get("after"); raw != "" {
		if after, err = uuid.Parse(raw); err != nil {
			httpserver.WriteError(w, r, &httpserver.RequestError{Status: http.StatusBadRequest,
				Detail: "after must be a user ID (the next of the previous page)", Err: err})
			return
		}
	}
	page, err := s.app.ListUsers(r.Context(), after, limit)
	if err != nil {
		httpserver.WriteError(w, r, err)
		return
	}
	resp := usersResponse{Users: make([]userResponse, 0, len(page.Users))}
	for _, u := range page.Users {
		resp.Users = append(resp.Users, newUserResponse(u, true))
	}
	if page.Next != uuid.Nil {
		resp.Next = &page.Next
	}
	httpserver.WriteJSON(w, http.StatusOK, resp)
}

// limitParam reads the page size ?limit: fallback when absent, else a whole number from 1 to
// most, or a 400.
func limitParam(r *http.Request, fallback, most int) (int, error) {
	raw := r.URL.Query().Get("limit")
	if raw == "" {
		return fallback, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > most {
		return 0, &httpserver.RequestError{Status: http.StatusBadRequest,
			Detail: "limit must be a whole number from 1 to " + strconv.Itoa(most)}
	}
	return n, nil
}
