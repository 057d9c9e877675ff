package kafka

import "errors"

// PermanentError marks a handler error that retrying cannot fix, such as an event whose JSON does
// not parse. The [Consumer] sends such a message to the dead-letter topic at once instead of
// spending its retries and backoff on it. Create one with [Permanent]; detect one with [errors.As]
// or [IsPermanent].
type PermanentError struct {
	Err error
}

// Permanent wraps err so that the consumer dead-letters the message without retrying. It returns
// nil when err is nil, so `return kafka.Permanent(decode(rec))` reads naturally.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// Error returns the wrapped error's text unchanged: "permanent" is a property of the error, not a
// part of its message.
func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap lets errors.Is and errors.As see the wrapped error.
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err, or any error it wraps, was marked with [Permanent].
func IsPermanent(err error) bool {
	var permanent *PermanentError
	return errors.As(err, &permanent)
}
