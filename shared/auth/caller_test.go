package auth

import (
	"context"
	"errors"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/tracecart/tracecart/shared/httpserver"
)

func TestCallerID(t *testing.T) {
	id := uuid.New()
	tests := []struct {
		name    string
		ctx     context.Context
		want    uuid.UUID
		wantErr bool
	}{
		{name: "verified user", ctx: WithClaims(context.Background(), &Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: id.String()}}), want: id},
		{name: "no token", ctx: context.Background(), wantErr: true},
		{name: "subject not a user ID", ctx: WithClaims(context.Background(), &Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "admin"}}), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CallerID(tt.ctx)
			if tt.wantErr != (err != nil) || got != tt.want {
				t.Fatalf("CallerID = %s, %v; want %s (error %v)", got, err, tt.want, tt.wantErr)
			}
			if err != nil && !errors.Is(err, httpserver.ErrUnauthorized) {
				t.Fatalf("error %v does not wrap httpserver.ErrUnauthorized", err)
			}
		})
	}
}
