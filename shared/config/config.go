// Package config loads a service's typed configuration from the environment.
//
// Every tracecart service declares one Config struct, built by embedding the pieces it needs
// (Service, Postgres, Kafka) next to its own fields, and calls Load once at the top of run.
// The result is a plain value passed down to the constructors that need it, so no code below
// run ever reads the environment and tests can configure a service with a map:
//
//	type Config struct {
//		config.Service
//		config.Postgres
//		config.Kafka
//		SagaTimeout time.Duration `env:"SAGA_TIMEOUT" envDefault:"30s"`
//	}
//
//	cfg, err := config.Load[Config](config.WithDefaults(getenv, map[string]string{
//		"SERVICE_NAME": "order-service",
//	}))
//
// Parsing is done by github.com/caarlos0/env with its usual struct tags (env, envDefault,
// envPrefix, envSeparator, required, notEmpty); Load adds what a service needs on top: reading
// through an injected getenv, errors that name the variable to fix, and a Validate hook.
package config

import (
	"errors"
	"fmt"

	"github.com/caarlos0/env/v11"
)

// ErrRequired is wrapped by the error Load returns when a required variable is unset or empty.
var ErrRequired = errors.New("required but not set")

// VarError reports an environment variable whose value could not be used. Operators fix
// variables, not Go fields, so every error Load returns about a value names its variable.
type VarError struct {
	// Key is the variable's name, prefix included, for example "SHUTDOWN_TIMEOUT".
	Key string
	// Err is why the value was rejected: ErrRequired, or the parser's error.
	Err error
}

func (e *VarError) Error() string { return e.Key + ": " + e.Err.Error() }

// Unwrap lets errors.Is find ErrRequired or the parser's error.
func (e *VarError) Unwrap() error { return e.Err }

// Validator is implemented by configs with rules that struct tags cannot express, such as
// "a positive duration" or "a host:port". Load calls Validate after parsing. Return a
// *VarError, or several joined with errors.Join, so the message names the variable to fix.
type Validator interface {
	Validate() error
}

// Load parses the environment, as seen through getenv, into a new T and validates it.
//
// getenv is os.Getenv in production and a map lookup in tests. The library needs a map, so
// Load asks it which variables T reads (nested envPrefix included) and looks up only those.
// If T or *T implements Validator, its Validate method runs last; note that a Config which
// defines its own Validate hides the one of an embedded Service, so it should call it.
//
// Slices of structs, whose variables are numbered (PREFIX_0_NAME), are not supported: their
// names cannot be known without listing the whole environment.
func Load[T any](getenv func(string) string) (T, error) {
	var cfg T
	params, err := env.GetFieldParamsWithOptions(&cfg, env.Options{Environment: map[string]string{}})
	if err != nil {
		return cfg, fmt.Errorf("load config: inspect %T: %w", cfg, err)
	}
	vars := make(map[string]string, len(params))
	keys := make([]string, 0, len(params))
	for _, p := range params {
		// An unset variable and an empty one both fall back to envDefault, as with os.Getenv.
		if value := getenv(p.Key); value != "" {
			vars[p.Key] = value
			keys = append(keys, p.Key)
		}
	}

	if err := env.ParseWithOptions(&cfg, env.Options{Environment: vars}); err != nil {
		var zero T
		return zero, fmt.Errorf("load config: %w", nameVariables[T](err, keys, vars))
	}
	if v, ok := any(&cfg).(Validator); ok {
		if err := v.Validate(); err != nil {
			var zero T
			return zero, fmt.Errorf("validate config: %w", err)
		}
	}
	return cfg, nil
}

// WithDefaults returns a getenv that falls back to defaults for variables that getenv leaves
// unset or empty. It is how one piece of configuration shared by every service, such as
// SERVICE_NAME, gets a different default in each service without a struct tag per service.
func WithDefaults(getenv func(string) string, defaults map[string]string) func(string) string {
	return func(key string) string {
		if value := getenv(key); value != "" {
			return value
		}
		return defaults[key]
	}
}

// nameVariables rewrites the library's errors so that each one names its variable.
func nameVariables[T any](err error, keys []string, vars map[string]string) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	var (
		errs     = make([]error, 0, len(agg.Errors))
		notSet   env.VarIsNotSetError
		empty    env.EmptyVarError
		badValue env.ParseError
	)
	for _, e := range agg.Errors {
		switch {
		case errors.As(e, &notSet):
			errs = append(errs, &VarError{Key: notSet.Key, Err: ErrRequired})
		case errors.As(e, &empty):
			errs = append(errs, &VarError{Key: empty.Key, Err: ErrRequired})
		case errors.As(e, &badValue):
			key, ok := culprit[T](badValue, keys, vars)
			if !ok {
				// No variable is to blame, so the envDefault tag itself does not parse.
				errs = append(errs, fmt.Errorf("default value: %w", e))
				continue
			}
			errs = append(errs, &VarError{Key: key, Err: badValue.Err})
		default:
			errs = append(errs, e)
		}
	}
	return errors.Join(errs...)
}

// culprit finds the variable whose value caused bad. The library names the Go field
// ("ShutdownTimeout"), not the variable, and the field-to-variable mapping depends on
// envPrefix tags it does not expose. So parse again without each set variable in turn: the
// one whose absence makes the error go away is the one to fix. This runs only after loading
// has already failed, and a config has a few dozen variables at most.
func culprit[T any](bad env.ParseError, keys []string, vars map[string]string) (string, bool) {
	failures := func(vars map[string]string) int {
		var probe T
		err := env.ParseWithOptions(&probe, env.Options{Environment: vars})
		var agg env.AggregateError
		if !errors.As(err, &agg) {
			return 0
		}
		n := 0
		for _, e := range agg.Errors {
			var pe env.ParseError
			if errors.As(e, &pe) && pe.Name == bad.Name && pe.Type == bad.Type {
				n++
			}
		}
		return n
	}

	want := failures(vars)
	for _, key := range keys {
		without := make(map[string]string, len(vars)-1)
		for k, v := range vars {
			if k != key {
				without[k] = v
			}
		}
		if failures(without) < want {
			return key, true
		}
	}
	return "", false
}
