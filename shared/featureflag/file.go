package featureflag

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
)

// ProviderName is the provider's name in OpenFeature's metadata and in the
// feature_flag.provider.name attribute of every evaluation event.
const ProviderName = "tracecart-file"

// flagSet is one parsed flag file, in flagd's format (https://flagd.dev/reference/flag-definitions/):
//
//	{"flags": {"productCatalogSlow": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"}}}
//
// Only what a static file needs is supported: a flag's state, its variants and its default
// variant. flagd's targeting rules (JsonLogic) are not evaluated; a flag that has them is
// reported when the file is loaded and evaluates to its default variant.
type flagSet struct {
	Flags map[string]flagDef `json:"flags"`
}

type flagDef struct {
	State          string                     `json:"state"`
	Variants       map[string]json.RawMessage `json:"variants"`
	DefaultVariant string                     `json:"defaultVariant"`
	Targeting      json.RawMessage            `json:"targeting,omitempty"`
}

// parseFlags parses and checks a flag file: every flag's state is ENABLED or DISABLED and its
// default variant is one of its variants. A file that fails is rejected whole, so a typo never
// switches some flags and not others.
func parseFlags(data []byte) (flagSet, error) {
	var set flagSet
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&set); err != nil {
		return flagSet{}, fmt.Errorf("flag file: %w", err)
	}
	for key, def := range set.Flags {
		switch def.State {
		case "ENABLED", "DISABLED":
		default:
			return flagSet{}, fmt.Errorf("flag %q: state %q is neither ENABLED nor DISABLED", key, def.State)
		}
		if _, ok := def.Variants[def.DefaultVariant]; !ok {
			return flagSet{}, fmt.Errorf("flag %q: default variant %q is not one of its variants", key, def.DefaultVariant)
		}
	}
	return set, nil
}

// hasTargeting reports whether a flag has targeting rules, which this provider does not run.
func (d flagDef) hasTargeting() bool {
	t := bytes.TrimSpace(d.Targeting)
	return len(t) > 0 && !bytes.Equal(t, []byte("{}")) && !bytes.Equal(t, []byte("null"))
}

// fileProvider is an OpenFeature provider that serves the flags of one file and re-reads it
// when it changes. It polls the file's size and modification time rather than subscribing to
// file-system notifications: polling works the same on a Docker bind mount, a Kubernetes
// ConfigMap (updated through a symlink swap) and with editors that replace the file, where
// inotify misses changes or is not delivered at all. A one-second poll of one stat is nothing.
type fileProvider struct {
	path     string
	interval time.Duration
	log      *slog.Logger

	flags   atomic.Pointer[flagSet]
	stamp   fileStamp
	stop    context.CancelFunc
	stopped chan struct{}
}

type fileStamp struct {
	size    int64
	modTime time.Time
}

func newFileProvider(path string, interval time.Duration, log *slog.Logger) (*fileProvider, error) {
	p := &fileProvider{path: path, interval: interval, log: log}
	if err := p.reload(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.stop, p.stopped = cancel, make(chan struct{})
	go p.watch(ctx)
	return p, nil
}

// reload reads the file when its stamp changed. On error the flags in force stay as they were.
func (p *fileProvider) reload() error {
	info, err := os.Stat(p.path)
	if err != nil {
		return fmt.Errorf("flag file: %w", err)
	}
	stamp := fileStamp{size: info.Size(), modTime: info.ModTime()}
	if stamp == p.stamp && p.flags.Load() != nil {
		return nil
	}
	data, err := os.ReadFile(p.path)
	if err != nil {
		return fmt.Errorf("flag file: %w", err)
	}
	set, err := parseFlags(data)
	if err != nil {
		return err
	}
	p.stamp = stamp
	old := p.flags.Swap(&set)
	p.logChanges(old, &set)
	return nil
}

// logChanges logs each flag whose default variant (what the scenario switch changes) is new,
// so that the log says when a fault was switched on or off, next to what it caused.
func (p *fileProvider) logChanges(old, cur *flagSet) {
	for key, def := range cur.Flags {
		if def.hasTargeting() {
			p.log.Warn("feature flag has targeting rules, which are not evaluated: its default variant is used",
				slog.String("feature_flag.key", key))
		}
		if old != nil {
			if prev, ok := old.Flags[key]; ok && prev.DefaultVariant == def.DefaultVariant && prev.State == def.State {
				continue
			}
		}
		if old == nil && def.DefaultVariant == "off" {
			continue // the usual start: nothing switched on
		}
		p.log.Info("feature flag set", slog.String("feature_flag.key", key),
			slog.String("feature_flag.result.variant", def.DefaultVariant), slog.String("state", def.State))
	}
}

func (p *fileProvider) watch(ctx context.Context) {
	defer close(p.stopped)
	ticker := time.NewTicker(p.interval)
	defer ticker.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		// Log a broken file once, not every second; the flags in force stay.
		msg := ""
		if err := p.reload(); err != nil {
			if msg = err.Error(); msg != lastErr {
				p.log.Error("flag file not reloaded; the flags in force are kept", slog.Any("error", err))
			}
		}
		lastErr = msg
	}
}

func (p *fileProvider) close() {
	p.stop()
	<-p.stopped
}

func (p *fileProvider) Metadata() openfeature.Metadata {
	return openfeature.Metadata{Name: ProviderName}
}

func (p *fileProvider) Hooks() []openfeature.Hook { return nil }

// resolve finds key's value in its default variant and decodes it into T.
func resolve[T any](p *fileProvider, key string, def T) (T, openfeature.ProviderResolutionDetail) {
	set := p.flags.Load()
	flag, ok := set.Flags[key]
	if !ok {
		return def, openfeature.ProviderResolutionDetail{
			ResolutionError: openfeature.NewFlagNotFoundResolutionError(key + " is not in " + p.path),
			Reason:          openfeature.ErrorReason,
		}
	}
	if flag.State == "DISABLED" {
		return def, openfeature.ProviderResolutionDetail{Reason: openfeature.DisabledReason}
	}
	var v T
	if err := json.Unmarshal(flag.Variants[flag.DefaultVariant], &v); err != nil {
		var typeErr *json.UnmarshalTypeError
		msg := fmt.Sprintf("variant %q of %s: %v", flag.DefaultVariant, key, err)
		resErr := openfeature.NewParseErrorResolutionError(msg)
		if errors.As(err, &typeErr) {
			resErr = openfeature.NewTypeMismatchResolutionError(msg)
		}
		return def, openfeature.ProviderResolutionDetail{ResolutionError: resErr, Reason: openfeature.ErrorReason}
	}
	return v, openfeature.ProviderResolutionDetail{Reason: openfeature.StaticReason, Variant: flag.DefaultVariant}
}

func (p *fileProvider) BooleanEvaluation(_ context.Context, flag string, def bool, _ openfeature.FlattenedContext) openfeature.BoolResolutionDetail {
	v, d := resolve(p, flag, def)
	return openfeature.BoolResolutionDetail{Value: v, ProviderResolutionDetail: d}
}

func (p *fileProvider) StringEvaluation(_ context.Context, flag string, def string, _ openfeature.FlattenedContext) openfeature.StringResolutionDetail {
	v, d := resolve(p, flag, def)
	return openfeature.StringResolutionDetail{Value: v, ProviderResolutionDetail: d}
}

func (p *fileProvider) FloatEvaluation(_ context.Context, flag string, def float64, _ openfeature.FlattenedContext) openfeature.FloatResolutionDetail {
	v, d := resolve(p, flag, def)
	return openfeature.FloatResolutionDetail{Value: v, ProviderResolutionDetail: d}
}

func (p *fileProvider) IntEvaluation(_ context.Context, flag string, def int64, _ openfeature.FlattenedContext) openfeature.IntResolutionDetail {
	v, d := resolve(p, flag, def)
	return openfeature.IntResolutionDetail{Value: v, ProviderResolutionDetail: d}
}

func (p *fileProvider) ObjectEvaluation(_ context.Context, flag string, def any, _ openfeature.FlattenedContext) openfeature.InterfaceResolutionDetail {
	v, d := resolve(p, flag, def)
	return openfeature.InterfaceResolutionDetail{Value: v, ProviderResolutionDetail: d}
}
