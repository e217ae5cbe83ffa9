package hostpool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/dockerstats"
)

// fakeLocal answers every read with err, or with a sample when err is nil;
// the real reader (cgroupstats) is tested against a real daemon.
type fakeLocal struct {
	mu    sync.Mutex
	err   error
	reads int
	nets  map[string]bool // hostNetwork by container ID, as read
}

func (f *fakeLocal) Read(id string, pid int, hostNetwork bool) (*dockerstats.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.nets == nil {
		f.nets = map[string]bool{}
	}
	f.nets[id] = hostNetwork
	if f.err != nil {
		return nil, f.err
	}
	return &dockerstats.Stats{Read: time.Now()}, nil
}

func (f *fakeLocal) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

// withPID counts the recorded running containers with a PID, the ones a
// local read can be tried for.
func withPID(h *Host) (n int) {
	for _, c := range h.Snapshot().Containers {
		if c.Running() && c.Pid > 0 {
			n++
		}
	}
	return n
}

func statsRound(t *testing.T, h *Host) *Round {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, ok := h.StatsRound(ctx, -1)
	if !ok {
		t.Fatal("stats round did not finish")
	}
	return r
}

func TestLocalStatsSource(t *testing.T) {
	notHere := fmt.Errorf("read /proc/1/cgroup: %w", ErrNotRunning)
	for _, tc := range []struct {
		name   string
		source string
		err    error
		// after two rounds: local reads per round, API calls in all,
		// samples per round and the errors counted
		wantLocal, wantAPIRounds int
		wantErrors               map[string]int
	}{
		{name: "auto, files readable", source: StatsAuto, wantLocal: 2},
		{name: "api", source: StatsAPI, wantAPIRounds: 2},
		// Permission denied on the first read: the daemon from then on.
		{name: "auto, files unreadable", source: StatsAuto, err: errors.New("permission denied"), wantLocal: -1, wantAPIRounds: 2},
		// Every process missing while the daemon says running: another PID namespace.
		{name: "auto, other pid namespace", source: StatsAuto, err: notHere, wantLocal: -disownedLimit, wantAPIRounds: 2},
		{name: "cgroup, files unreadable", source: StatsCgroup, err: errors.New("permission denied"), wantLocal: 2, wantErrors: map[string]int{"error": 2}},
		{name: "cgroup, gone", source: StatsCgroup, err: notHere, wantLocal: 2, wantErrors: map[string]int{"not_running": 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := startFake(t)
			local := &fakeLocal{err: tc.err}
			opts := DefaultOptions
			opts.StatsSource, opts.LocalStats = tc.source, local
			opts.StatsConcurrency = 1 // auto's decision is made by the first reads in order
			pool, m := startPool(t, fake, opts)
			waitUntil(t, "first sync", pool.Ready)
			h := pool.Hosts()[0]
			n, running := withPID(h), len(runningIDs(h))
			if n == 0 || n != running {
				t.Fatalf("%d of %d recorded running containers have a PID; the test needs them all", n, running)
			}
			statsRound(t, h)
			statsRound(t, h)
			wantLocal := tc.wantLocal * n
			if tc.wantLocal < 0 { // reads until auto gives up, then none
				wantLocal = -tc.wantLocal
			}
			if got := local.count(); got != wantLocal {
				t.Errorf("%d local reads, want %d", got, wantLocal)
			}
			if got, want := fake.Requests("stats"), int64(tc.wantAPIRounds*running); got != want {
				t.Errorf("%d stats calls to the daemon, want %d", got, want)
			}
			for _, reason := range []string{"error", "not_running", "timeout"} {
				got := int(testutil.ToFloat64(m.StatsErrors.WithLabelValues("fake", reason)))
				if want := tc.wantErrors[reason] * n; got != want {
					t.Errorf("stats errors %q: %d, want %d", reason, got, want)
				}
			}
			if tc.err == nil && tc.source != StatsAPI {
				if got := testutil.ToFloat64(m.StatsReads.WithLabelValues("fake", "cgroup")); got != float64(2*n) {
					t.Errorf("docker_monitor_stats_reads_total{source=cgroup} = %v, want %d", got, 2*n)
				}
			}
		})
	}
}

// The host's network mode reaches the reader: a container on the host's
// network has no interfaces of its own, and Docker reports none.
func TestLocalStatsHostNetwork(t *testing.T) {
	fake := startFake(t)
	local := &fakeLocal{}
	opts := DefaultOptions
	opts.StatsSource, opts.LocalStats = StatsAuto, local
	pool, _ := startPool(t, fake, opts)
	waitUntil(t, "first sync", pool.Ready)
	h := pool.Hosts()[0]
	statsRound(t, h)
	for _, c := range h.Snapshot().Containers {
		if got, ok := local.nets[c.ID]; ok && got != (c.NetworkMode == "host") {
			t.Errorf("%s (network mode %q) read with hostNetwork %v", c.Name, c.NetworkMode, got)
		}
	}
}

// Only a local socket reaches a daemon whose containers are this machine's
// processes: SSH and TCP hosts never read the files, whatever the flag says.
func TestLocalStatsRemoteHosts(t *testing.T) {
	for _, conn := range []string{config.ConnSSH, config.ConnTCP} {
		for _, source := range []string{StatsAuto, StatsCgroup} {
			h := &Host{Host: config.Host{Connection: conn}, opts: Options{StatsSource: source, LocalStats: &fakeLocal{}}}
			h.initLocal()
			if h.local.state.Load() != localOff {
				t.Errorf("%s host with --stats.source=%s would read the local cgroup files", conn, source)
			}
		}
	}
}
