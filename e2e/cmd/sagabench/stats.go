package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"
)

// containerUsage is what one container of the stack spent during a run.
type containerUsage struct {
	Service string // the compose service name
	CPU     time.Duration
	// PeakMemory is the highest memory in use seen in the samples, counted as `docker stats`
	// counts it: usage less inactive file cache, which the kernel reclaims before it kills.
	PeakMemory int64
	// MaxUsage is the cgroup's own high-water mark (cgroup v1 memory.max_usage_in_bytes),
	// page cache included, since the container started. 0 where the engine does not report it
	// (cgroup v2).
	MaxUsage int64
	Limit    int64 // the container's memory limit; 0 for none
	Restarts int   // restarts during the run (an OOM kill with a restart policy shows here)
	OOMKill  bool  // the kernel killed the container for memory at its last exit
	Gone     bool  // the container was not running at the end of the run
}

// statsSampler reads the Docker engine's statistics for every container of a compose project
// once a second. It talks to the engine API over its socket, as `docker stats` does.
type statsSampler struct {
	client     *http.Client
	containers []*sampled
	stopSample context.CancelFunc
	done       chan struct{}
}

// sampled is one container's samples so far.
type sampled struct {
	id       string
	usage    containerUsage
	cpuStart uint64
	cpuLast  uint64
	restarts int // RestartCount at the start
}

func startStats(ctx context.Context, socket, project string) (*statsSampler, error) {
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}
	s := &statsSampler{client: client, done: make(chan struct{})}

	filter := fmt.Sprintf(`{"label":["com.docker.compose.project=%s"]}`, project)
	var list []struct {
		ID     string            `json:"Id"`
		Labels map[string]string `json:"Labels"`
	}
	// all=true: a container that died in an earlier run and was not restarted is part of the
	// picture too.
	if err := s.get(ctx, "/containers/json?all=true&filters="+url.QueryEscape(filter), &list); err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("no container of compose project %q", project)
	}
	for _, c := range list {
		sc := &sampled{id: c.ID, usage: containerUsage{Service: c.Labels["com.docker.compose.service"]}}
		in, err := s.inspect(ctx, c.ID)
		if err != nil {
			return nil, err
		}
		sc.restarts = in.RestartCount
		sc.usage.Limit = in.HostConfig.Memory
		if in.State.Running {
			st, err := s.stats(ctx, c.ID)
			if err != nil {
				return nil, err
			}
			sc.cpuStart, sc.cpuLast = st.CPUStats.CPUUsage.TotalUsage, st.CPUStats.CPUUsage.TotalUsage
		}
		s.containers = append(s.containers, sc)
	}
	sort.Slice(s.containers, func(i, j int) bool { return s.containers[i].usage.Service < s.containers[j].usage.Service })

	sampleCtx, cancel := context.WithCancel(ctx)
	s.stopSample = cancel
	go s.loop(sampleCtx)
	return s, nil
}

// loop samples every container once a second until stopped.
func (s *statsSampler) loop(ctx context.Context) {
	defer close(s.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		s.sampleAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sampleAll reads every container's statistics at once. A container that is restarting has
// none for a moment; its last CPU reading stands (CPU time restarts from zero with the process,
// so a restart loses some of it: the report shows restarts next to the CPU).
func (s *statsSampler) sampleAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range s.containers {
		wg.Go(func() {
			st, err := s.stats(ctx, c.id)
			if err != nil || st.Read.IsZero() || st.MemoryStats.Usage == 0 {
				return
			}
			if st.CPUStats.CPUUsage.TotalUsage >= c.cpuLast {
				c.cpuLast = st.CPUStats.CPUUsage.TotalUsage
			}
			inUse := int64(st.MemoryStats.Usage) - int64(st.MemoryStats.Stats["total_inactive_file"])
			c.usage.PeakMemory = max(c.usage.PeakMemory, inUse)
			c.usage.MaxUsage = max(c.usage.MaxUsage, int64(st.MemoryStats.MaxUsage))
		})
	}
	wg.Wait()
}

// stop takes the last samples and returns each container's usage over the run.
func (s *statsSampler) stop(ctx context.Context) ([]containerUsage, error) {
	s.stopSample()
	<-s.done
	s.sampleAll(ctx)
	out := make([]containerUsage, 0, len(s.containers))
	for _, c := range s.containers {
		in, err := s.inspect(ctx, c.id)
		if err != nil {
			return nil, err
		}
		c.usage.Restarts = in.RestartCount - c.restarts
		c.usage.OOMKill = in.State.OOMKilled
		c.usage.Gone = !in.State.Running
		c.usage.CPU = time.Duration(c.cpuLast - c.cpuStart)
		out = append(out, c.usage)
	}
	return out, nil
}

// containerStats is the part of the engine's /containers/{id}/stats answer the sampler reads.
type containerStats struct {
	Read     time.Time `json:"read"`
	CPUStats struct {
		CPUUsage struct {
			TotalUsage uint64 `json:"total_usage"` // nanoseconds
		} `json:"cpu_usage"`
	} `json:"cpu_stats"`
	MemoryStats struct {
		Usage    uint64            `json:"usage"`
		MaxUsage uint64            `json:"max_usage"`
		Stats    map[string]uint64 `json:"stats"`
	} `json:"memory_stats"`
}

// containerInspect is the part of the engine's /containers/{id}/json answer the sampler reads.
type containerInspect struct {
	RestartCount int `json:"RestartCount"`
	State        struct {
		Running   bool `json:"Running"`
		OOMKilled bool `json:"OOMKilled"`
	} `json:"State"`
	HostConfig struct {
		Memory int64 `json:"Memory"`
	} `json:"HostConfig"`
}

func (s *statsSampler) stats(ctx context.Context, id string) (containerStats, error) {
	var st containerStats
	// one-shot: answer at once with one reading instead of waiting a second for a second one.
	err := s.get(ctx, "/containers/"+id+"/stats?stream=false&one-shot=true", &st)
	return st, err
}

func (s *statsSampler) inspect(ctx context.Context, id string) (containerInspect, error) {
	var in containerInspect
	err := s.get(ctx, "/containers/"+id+"/json", &in)
	return in, err
}

// get calls the engine API (version 1.41, Docker 20.10, the oldest engine tracecart runs on).
func (s *statsSampler) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/v1.41"+path, nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("docker engine: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("docker engine: GET %s = %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
