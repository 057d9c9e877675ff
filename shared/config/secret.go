package config

import (
	"fmt"
	"log/slog"
)

// Secret is a configuration value that must never be printed, such as a private key or an ACL
// token: fmt, slog and JSON all show "[redacted]" instead (compare DSN, which keeps the
// harmless part of a connection string). Convert it with string(s) where it is used.
type Secret string

var (
	_ fmt.Stringer   = Secret("")
	_ fmt.GoStringer = Secret("")
	_ slog.LogValuer = Secret("")
)

// String returns "[redacted]", or "" for an empty secret, so a log can say whether it is set.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString keeps %#v redacted too.
func (s Secret) GoString() string { return "config.Secret(" + s.String() + ")" }

// LogValue makes slog log the redacted form.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText makes encoding/json write the redacted form.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
