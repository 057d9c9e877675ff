package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// report is a run's figures, as printed and as written to JSON. Durations in the JSON are in
// milliseconds, memory in MiB.
type report struct {
	Label    string    `json:"label,omitempty"`
	Mode     string    `json:"mode"`
	Started  time.Time `json:"started"`
	Gateway  string    `json:"gateway"`
	Duration float64   `json:"duration_s"`

	Placed       int               `json:"placed"`                        // POSTs sent
	Accepted     int               `json:"accepted"`                      // answered 202
	PostFailed   map[string]int    `json:"post_failed"`                   // by status, "error" for transport errors
	PostFailure  map[string]string `json:"post_failure_sample,omitempty"` // the first answer of each failed kind
	Finished     int               `json:"finished"`                      // accepted orders seen terminal before the drain ended
	NotFinished  int               `json:"not_finished"`                  // accepted orders never seen terminal
	BacklogAtEnd int               `json:"backlog_at_load_end"`           // accepted, not yet terminal when the load stopped

	FinishedPerSecond float64        `json:"finished_per_s"` // seen terminal during the load window / its length
	OverallPerSecond  float64        `json:"overall_per_s"`  // all finished / first POST to last terminal
	DrainTook         float64        `json:"drain_s"`        // load end to the last terminal (or giving up)
	Outcomes          map[string]int `json:"outcomes"`       // final statuses as read back for the books

	Post       percentiles `json:"post_ms"`
	SagaOwn    percentiles `json:"saga_own_ms"`    // created_at → updated_at
	SagaClient percentiles `json:"saga_client_ms"` // POST sent → terminal seen
	Slowest    string      `json:"slowest_trace_id,omitempty"`

	Requests     int64   `json:"requests"`
	RateLimited  int64   `json:"rate_limited"`
	ScheduleLag  float64 `json:"schedule_lag_ms"`
	BenchCPU     float64 `json:"bench_cpu_s"`
	LateCustomer int     `json:"late_customers"`

	Books      []string          `json:"books_errors"`
	Containers []containerFigure `json:"containers,omitempty"`
}

// percentiles summarises a latency distribution, in milliseconds.
type percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// containerFigure is one container's cost during the run.
type containerFigure struct {
	Service         string  `json:"service"`
	CPUSeconds      float64 `json:"cpu_s"`
	CPUPer1000      float64 `json:"cpu_s_per_1000_orders"`
	PeakMiB         float64 `json:"peak_mib"`
	MaxUsageMiB     float64 `json:"cgroup_max_usage_mib"`
	LimitMiB        float64 `json:"limit_mib"`
	Restarts        int     `json:"restarts"`
	OOMKilled       bool    `json:"oom_killed"`
	NotRunningAtEnd bool    `json:"not_running_at_end"`
}

// newReport turns a run's raw results into the figures of the report.
func newReport(cfg config, res result, b books, usage []containerUsage) report {
	r := report{
		Label: cfg.Label, Mode: cfg.mode(), Started: res.Start, Gateway: cfg.Gateway,
		Duration:   cfg.Duration.Seconds(),
		PostFailed: map[string]int{}, PostFailure: map[string]string{}, Outcomes: b.Outcomes, Books: b.Errors,
		Requests: res.Requests, RateLimited: res.RateLimited, LateCustomer: res.LateCustomer,
		ScheduleLag: ms(res.ScheduleLag), BenchCPU: res.BenchCPU.Seconds(),
	}
	if r.Books == nil {
		r.Books = []string{}
	}
	var (
		post, own, client []time.Duration
		inWindow          int
		lastSeen          time.Time
		slowest           *orderRun
	)
	for _, o := range res.Orders {
		r.Placed++
		if !o.accepted() {
			r.postFailed(o)
			continue
		}
		r.Accepted++
		post = append(post, o.PostTook)
		if o.Final == "" {
			r.NotFinished++
			r.BacklogAtEnd++
			continue
		}
		r.Finished++
		own = append(own, o.ownSaga())
		client = append(client, o.clientSaga())
		if o.Seen.Before(res.LoadEnd) {
			inWindow++
		} else {
			r.BacklogAtEnd++
		}
		if o.Seen.After(lastSeen) {
			lastSeen = o.Seen
		}
		if slowest == nil || o.ownSaga() > slowest.ownSaga() {
			slowest = o
		}
	}
	r.FinishedPerSecond = float64(inWindow) / cfg.Duration.Seconds()
	if !lastSeen.IsZero() {
		r.OverallPerSecond = float64(r.Finished) / lastSeen.Sub(res.Start).Seconds()
	}
	r.DrainTook = max(res.End.Sub(res.LoadEnd).Seconds(), 0)
	r.Post, r.SagaOwn, r.SagaClient = summarise(post), summarise(own), summarise(client)
	if slowest != nil {
		r.Slowest = slowest.TraceID
	}
	r.Containers = containerFigures(usage, r.Finished)
	return r
}

// postFailed counts a POST that was not accepted by its status (or "error"), keeping the first
// answer of each kind.
func (r *report) postFailed(o *orderRun) {
	key := "error"
	if o.PostCode != 0 {
		key = fmt.Sprint(o.PostCode)
	}
	r.PostFailed[key]++
	if _, ok := r.PostFailure[key]; !ok {
		r.PostFailure[key] = o.PostErr
	}
}

// containerFigures turns each container's usage into the report's figures, CPU per 1,000
// finished orders included.
func containerFigures(usage []containerUsage, finished int) []containerFigure {
	var figures []containerFigure
	for _, u := range usage {
		f := containerFigure{
			Service: u.Service, CPUSeconds: u.CPU.Seconds(),
			PeakMiB: mib(u.PeakMemory), MaxUsageMiB: mib(u.MaxUsage), LimitMiB: mib(u.Limit),
			Restarts: u.Restarts, OOMKilled: u.OOMKill, NotRunningAtEnd: u.Gone,
		}
		if finished > 0 {
			f.CPUPer1000 = u.CPU.Seconds() / float64(finished) * 1000
		}
		figures = append(figures, f)
	}
	return figures
}

// summarise returns the nearest-rank percentiles of ds.
func summarise(ds []time.Duration) percentiles {
	if len(ds) == 0 {
		return percentiles{}
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(ds)))) - 1
		return ms(ds[max(i, 0)])
	}
	return percentiles{N: len(ds), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: ms(ds[len(ds)-1])}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }
func mib(b int64) float64        { return math.Round(float64(b)/(1<<20)*10) / 10 }

// writeTable prints the report as aligned plain text, the same lines in the same order every
// run, so that two runs can be put side by side or diffed.
func (r report) writeTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }

	line("sagabench\t%s", r.Mode)
	if r.Label != "" {
		line("label\t%s", r.Label)
	}
	line("started\t%s (gateway %s)", r.Started.UTC().Format(time.RFC3339), r.Gateway)
	line("orders\tplaced %d, accepted %d, POST failed %s", r.Placed, r.Accepted, counts(r.PostFailed))
	for _, k := range slices.Sorted(maps.Keys(r.PostFailure)) {
		line("  first %s\t%.160s", k, strings.ReplaceAll(r.PostFailure[k], "\n", " "))
	}
	line("sagas\tfinished %d, not finished %d, backlog when the load stopped %d, drain %.1f s",
		r.Finished, r.NotFinished, r.BacklogAtEnd, r.DrainTook)
	line("throughput\t%.1f orders/s finished during the load, %.1f orders/s first POST to last finish", r.FinishedPerSecond, r.OverallPerSecond)
	line("outcomes\t%s", counts(r.Outcomes))
	line("")
	line("latency (ms)\tn\tp50\tp90\tp99\tmax")
	for _, row := range []struct {
		name string
		p    percentiles
	}{
		{"POST /api/orders", r.Post},
		{"saga, order's own timestamps", r.SagaOwn},
		{"saga, POST sent to terminal seen", r.SagaClient},
	} {
		line("%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f", row.name, row.p.N, row.p.P50, row.p.P90, row.p.P99, row.p.Max)
	}
	line("")
	line("client\t%d requests (%.0f/s), %d answered 429, schedule lag max %.1f ms, %d customers registered late, load generator CPU %.1f s",
		r.Requests, float64(r.Requests)/math.Max(r.Duration+r.DrainTook, 1), r.RateLimited, r.ScheduleLag, r.LateCustomer, r.BenchCPU)
	if r.Slowest != "" {
		line("slowest saga\ttrace %s", r.Slowest)
	}
	if len(r.Books) == 0 {
		line("books\tbalanced: stock and money conserved, one payment per order")
	} else {
		line("books\tNOT BALANCED (%d problems):", len(r.Books))
		for _, e := range r.Books {
			line("\t%s", strings.ReplaceAll(e, "\n", "; "))
		}
	}
	if len(r.Containers) > 0 {
		line("")
		r.writeContainers(line)
	}
	tw.Flush()
}

// writeContainers writes the containers' table, with a total row.
func (r report) writeContainers(line func(format string, args ...any)) {
	line("container\tCPU s\tCPU s/1000 orders\tpeak MiB\tcgroup max MiB\tlimit MiB\trestarts\tOOM-killed\trunning")
	var cpu, peak float64
	for _, c := range r.Containers {
		line("%s\t%.1f\t%.1f\t%.0f\t%.0f\t%.0f\t%d\t%v\t%v", c.Service, c.CPUSeconds, c.CPUPer1000, c.PeakMiB,
			c.MaxUsageMiB, c.LimitMiB, c.Restarts, c.OOMKilled, !c.NotRunningAtEnd)
		cpu += c.CPUSeconds
		peak += c.PeakMiB
	}
	per1000 := 0.0
	if r.Finished > 0 {
		per1000 = cpu / float64(r.Finished) * 1000
	}
	line("all\t%.1f\t%.1f\t%.0f\t\t\t\t\t", cpu, per1000, peak)
}

// counts prints a map of counts as "A 3, B 1" in key order, or "none".
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Collect(maps.Keys(m))
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// writeJSON writes the report to path, indented.
func (r report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
