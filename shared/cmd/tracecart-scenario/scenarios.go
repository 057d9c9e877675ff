package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// A scenario is one flag and the variant that switches it on. Its lesson is what the
// walkthrough of the same name teaches.
type scenario struct {
	Name, Flag, OnVariant, Lesson string
}

// scenarios are every fault the demo can show, in the order of their walkthroughs.
var scenarios = []scenario{
	{"product-slow", "productCatalogSlow", "on", "product reads get slow: the latency histogram's slow buckets, an exemplar to the slow trace, the route timeout"},
	{"product-failing", "productCatalogFailure", "on", "product reads fail: order-service's breaker opens, orders get a fast 503, then recover through half-open"},
	{"payment-declines", "paymentDeclineShare", "quarter", "a quarter of payments are declined: the compensation in the order's own trace"},
	{"poison-message", "poisonMessage", "on", "a message its consumer cannot process: the dead-letter topic, its metric and alert, then the replay"},
	{"relay-paused", "outboxRelayPaused", "on", "the outbox relay stops: backlog and age grow, the alert fires, then it drains"},
	{"saga-drop-event", "sagaDropEvent", "on", "a consumer drops the saga's event: the saga timeout and its compensations"},
	{"contention", "productSingleConnection", "on", "one step serialises behind a single connection: found from a trace"},
}

func find(name string) (scenario, bool) {
	i := slices.IndexFunc(scenarios, func(s scenario) bool { return s.Name == name })
	if i < 0 {
		return scenario{}, false
	}
	return scenarios[i], true
}

// flagFile is the flag file, kept as raw JSON per flag except for what is edited, so that
// variants and any other fields survive a rewrite unchanged.
type flagFile struct {
	Schema string                                `json:"$schema,omitempty"`
	Flags  map[string]map[string]json.RawMessage `json:"flags"`
}

func load(path string) (flagFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return flagFile{}, err
	}
	var f flagFile
	if err := json.Unmarshal(data, &f); err != nil {
		return flagFile{}, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// variant is the flag's default variant: the one in force, since the file has no targeting.
func (f flagFile) variant(key string) (string, error) {
	flag, ok := f.Flags[key]
	if !ok {
		return "", fmt.Errorf("flag %s is not in the flag file", key)
	}
	var v string
	if err := json.Unmarshal(flag["defaultVariant"], &v); err != nil {
		return "", fmt.Errorf("flag %s: defaultVariant: %w", key, err)
	}
	return v, nil
}

func (f flagFile) setVariant(key, variant string) error {
	flag, ok := f.Flags[key]
	if !ok {
		return fmt.Errorf("flag %s is not in the flag file", key)
	}
	var variants map[string]json.RawMessage
	if err := json.Unmarshal(flag["variants"], &variants); err != nil {
		return fmt.Errorf("flag %s: variants: %w", key, err)
	}
	if _, ok := variants[variant]; !ok {
		return fmt.Errorf("flag %s has no variant %q", key, variant)
	}
	flag["defaultVariant"], _ = json.Marshal(variant)
	return nil
}

// save writes the file in its canonical layout (two-space indent, keys sorted) through a
// temporary file in the same directory, so a service never reads half a file.
func (f flagFile) save(path string) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	tmp, err := os.CreateTemp(filepath.Dir(path), ".flags-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, bytes.NewReader(data)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func list(path string, out io.Writer) error {
	f, err := load(path)
	if err != nil {
		return err
	}
	for _, s := range scenarios {
		v, err := f.variant(s.Flag)
		if err != nil {
			return err
		}
		state := "off"
		if v != "off" {
			state = "ON (" + v + ")"
		}
		fmt.Fprintf(out, "%-17s %-12s %-24s %s\n", s.Name, state, s.Flag, s.Lesson)
	}
	return nil
}

func set(path, name string, on bool, out io.Writer) error {
	targets := scenarios
	if name == "all" {
		if on {
			return fmt.Errorf("`all on` would mix every fault at once; switch scenarios on one by one")
		}
	} else {
		s, ok := find(name)
		if !ok {
			names := make([]string, len(scenarios))
			for i, s := range scenarios {
				names[i] = s.Name
			}
			return fmt.Errorf("no scenario %q; the scenarios are %s", name, strings.Join(names, ", "))
		}
		targets = []scenario{s}
	}
	f, err := load(path)
	if err != nil {
		return err
	}
	for _, s := range targets {
		variant := "off"
		if on {
			variant = s.OnVariant
		}
		if err := f.setVariant(s.Flag, variant); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: %s set to %q\n", s.Name, s.Flag, variant)
	}
	return f.save(path)
}
