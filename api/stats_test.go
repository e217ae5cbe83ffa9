package api

import (
	"math"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/dockerstats"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// sample is a stats sample with the given cumulative CPU figures.
func sample(read time.Time, total, system uint64, cpus uint32) *dockerstats.Stats {
	s := &dockerstats.Stats{Read: read}
	s.CPUStats.CPUUsage.TotalUsage = total
	s.CPUStats.SystemUsage = system
	s.CPUStats.OnlineCPUs = cpus
	return s
}

func TestStatsOf(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	v := &hostView{host: &hostpool.Host{Host: config.Host{Alias: "h"}}, snap: hostpool.Snapshot{Info: hostpool.Info{CPUs: 8}}}
	c := &hostpool.Container{ID: "abc", Name: "web", State: "running", MemoryLimit: 1000}
	// 0.5 s of CPU over 10 s of host CPU time on 4 CPUs: docker stats
	// shows 20%.
	prev := sample(t0, 1e9, 100e9, 4)
	cur := sample(t0.Add(2500*time.Millisecond), 1.5e9, 110e9, 4)
	inactive := uint64(100)
	cur.MemoryStats.Usage = 600
	cur.MemoryStats.Stats.InactiveFile = &inactive
	cur.Networks = map[string]dockerstats.NetworkStats{"eth0": {RxBytes: 10, TxBytes: 20}, "eth1": {RxBytes: 1, TxBytes: 2}}
	cur.BlkioStats.IoServiceBytesRecursive = []dockerstats.BlkioEntry{{Op: "read", Value: 5}, {Op: "write", Value: 7}, {Op: "Read", Value: 1}}
	cur.PidsStats.Current = 3

	got := statsOf(v, c, cur, prev)
	if got.CPUPercent == nil || math.Abs(*got.CPUPercent-20) > 1e-9 {
		t.Errorf("cpu_percent %v, want 20", got.CPUPercent)
	}
	if got.CPUWindowSeconds == nil || *got.CPUWindowSeconds != 2.5 {
		t.Errorf("cpu_window_seconds %v, want 2.5", got.CPUWindowSeconds)
	}
	if got.CPUSeconds != 1.5 || got.OnlineCPUs != 4 {
		t.Errorf("cpu_seconds %v online_cpus %d", got.CPUSeconds, got.OnlineCPUs)
	}
	if got.MemoryUsage != 600 || got.MemoryWorkingSet != 500 || got.MemoryLimit == nil || *got.MemoryLimit != 1000 ||
		got.MemoryPercent == nil || *got.MemoryPercent != 50 {
		t.Errorf("memory: %+v", got)
	}
	if got.NetworkRx != 11 || got.NetworkTx != 22 || got.BlockRead != 6 || got.BlockWrite != 7 || got.PIDs != 3 {
		t.Errorf("io: %+v", got)
	}
	if got.Read.Location() != time.UTC || !got.Read.Equal(cur.Read) || got.Host != "h" || got.ID != "abc" || got.Name != "web" {
		t.Errorf("identity: %+v", got)
	}

	// No earlier sample, no limit, and a sample that does not say how many
	// CPUs are online.
	c.MemoryLimit = 0
	cur.CPUStats.OnlineCPUs = 0
	got = statsOf(v, c, cur, nil)
	if got.CPUPercent != nil || got.CPUWindowSeconds != nil || got.MemoryLimit != nil || got.MemoryPercent != nil {
		t.Errorf("want nulls: %+v", got)
	}
	if got.OnlineCPUs != 8 {
		t.Errorf("online_cpus %d, want the host's 8", got.OnlineCPUs)
	}
	// Samples that span no host CPU time give no percent.
	if got = statsOf(v, c, cur, cur); got.CPUPercent != nil {
		t.Errorf("same sample twice: cpu_percent %v, want null", *got.CPUPercent)
	}
}

// TestStatsSharesRounds: the API reads stats from the host's shared
// rounds, never a call of its own. With --stats.max-age long, every
// request is answered from two rounds: the first request needs a second
// sample for its CPU percent, and the others reuse that round and the one
// before it (Prev).
func TestStatsSharesRounds(t *testing.T) {
	hopts := hostpool.DefaultOptions
	hopts.StatsMaxAge = time.Hour
	fake := restFakeServer(t)
	a, _ := restAPI(t, hopts, DefaultOptions, true, testlab.Host(t, "fake", fake.Host))
	before := fake.Requests("stats")
	for _, ref := range []string{"web", "healthy", "web", "writer"} {
		var s ContainerStats
		restGetJSON(t, a, "/containers/fake/"+ref+"/stats", 200, &s)
		if s.Name != ref || s.Read.IsZero() {
			t.Errorf("%s: %+v", ref, s)
		}
	}
	if n := fake.Requests("stats") - before; n != 8 {
		t.Errorf("%d stats calls for 4 requests, want 8: two rounds of the 4 running containers", n)
	}
}

// TestStatsErrors: each case on a pool of its own, as a failed round is
// shared for a second like any other.
func TestStatsErrors(t *testing.T) {
	opts := DefaultOptions
	opts.StatsTimeout = 50 * time.Millisecond
	t.Run("timeout", func(t *testing.T) {
		a, fake, _ := restFake(t, hostpool.DefaultOptions, opts)
		release := fake.HoldStats()
		defer release()
		// The round ends at the request's deadline too: either may say so.
		restWantError(t, a, "/containers/fake/web/stats", 504, "no stats ")
	})
	t.Run("failed", func(t *testing.T) {
		a, _, faults := restFake(t, hostpool.DefaultOptions, opts)
		faults.statsFail.Store(true)
		restWantError(t, a, "/containers/deco/writer/stats", 502, `container "writer": the daemon's stats call failed`)
	})
	t.Run("stopped", func(t *testing.T) {
		a, fake, _ := restFake(t, hostpool.DefaultOptions, opts)
		fake.EndStats("healthy")
		restWantError(t, a, "/containers/fake/healthy/stats", 409, `container "healthy" is not running`)
	})
}
