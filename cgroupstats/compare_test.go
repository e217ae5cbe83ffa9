package cgroupstats

import (
	"fmt"
	"maps"
	"slices"

	"github.com/snadboy/docker-monitor/dockerstats"
)

// compareStats checks a sample read from the files against two Docker API
// answers for the same container, one before and one after it, and returns
// what does not fit: a counter outside [before, after], a gauge outside
// both answers by more than their drift allows, a limit or a set of
// interfaces or devices that differs.
func compareStats(before, got, after *dockerstats.Stats) []string {
	c := &checker{before: before, got: got, after: after}
	if got.Read.IsZero() {
		c.problems = append(c.problems, "no read time")
	}
	c.cpu()
	c.memory()
	c.networks()
	c.blkio()
	return c.problems
}

type checker struct {
	before, got, after *dockerstats.Stats
	problems           []string
}

func (c *checker) counter(what string, f func(*dockerstats.Stats) uint64) {
	if lo, v, hi := f(c.before), f(c.got), f(c.after); v < lo || v > hi {
		c.problems = append(c.problems, fmt.Sprintf("%s: %d from the files, API read %d before and %d after", what, v, lo, hi))
	}
}

func (c *checker) gauge(what string, slack, a, v, b uint64) {
	lo, hi := min(a, b), max(a, b)
	if v+slack < lo || v > hi+slack {
		c.problems = append(c.problems, fmt.Sprintf("%s: %d from the files, API read %d and %d", what, v, a, b))
	}
}

func (c *checker) exact(what string, want, v any) {
	if fmt.Sprint(want) != fmt.Sprint(v) {
		c.problems = append(c.problems, fmt.Sprintf("%s: %v from the files, %v from the API", what, v, want))
	}
}

func (c *checker) cpu() {
	c.counter("cpu total", func(s *dockerstats.Stats) uint64 { return s.CPUStats.CPUUsage.TotalUsage })
	c.counter("cpu kernel", func(s *dockerstats.Stats) uint64 { return s.CPUStats.CPUUsage.UsageInKernelmode })
	c.counter("cpu user", func(s *dockerstats.Stats) uint64 { return s.CPUStats.CPUUsage.UsageInUsermode })
	c.counter("system cpu", func(s *dockerstats.Stats) uint64 { return s.CPUStats.SystemUsage })
	c.counter("throttling periods", func(s *dockerstats.Stats) uint64 { return s.CPUStats.ThrottlingData.Periods })
	c.counter("throttled periods", func(s *dockerstats.Stats) uint64 { return s.CPUStats.ThrottlingData.ThrottledPeriods })
	c.counter("throttled time", func(s *dockerstats.Stats) uint64 { return s.CPUStats.ThrottlingData.ThrottledTime })
	c.exact("online cpus", c.before.CPUStats.OnlineCPUs, c.got.CPUStats.OnlineCPUs)
}

// memory allows gauges 5% and 1 MiB of drift beyond the two API reads,
// PIDs two: the fixture's Go runtime starts threads at will.
func (c *checker) memory() {
	a, v, b := c.before.MemoryStats, c.got.MemoryStats, c.after.MemoryStats
	slack := max(a.Usage, b.Usage)/20 + 1<<20
	c.gauge("memory usage", slack, a.Usage, v.Usage, b.Usage)
	c.gauge("memory working set", slack, a.WorkingSet(), v.WorkingSet(), b.WorkingSet())
	c.exact("memory limit", a.Limit, v.Limit)
	for what, f := range map[string]func(dockerstats.MemoryStats) *uint64{
		"total_inactive_file": func(m dockerstats.MemoryStats) *uint64 { return m.Stats.TotalInactiveFile },
		"inactive_file":       func(m dockerstats.MemoryStats) *uint64 { return m.Stats.InactiveFile },
	} {
		if pa, pv, pb := f(a), f(v), f(b); (pa == nil) != (pv == nil) || (pb == nil) != (pv == nil) {
			c.problems = append(c.problems, fmt.Sprintf("%s: present %v in the files, %v in the API", what, pv != nil, pa != nil))
		} else if pv != nil {
			c.gauge(what, slack, *pa, *pv, *pb)
		}
	}
	c.gauge("pids", 2, c.before.PidsStats.Current, c.got.PidsStats.Current, c.after.PidsStats.Current)
	c.exact("pids limit", c.before.PidsStats.Limit, c.got.PidsStats.Limit)
}

var netCounters = map[string]func(dockerstats.NetworkStats) uint64{
	"rx_bytes": func(n dockerstats.NetworkStats) uint64 { return n.RxBytes }, "rx_packets": func(n dockerstats.NetworkStats) uint64 { return n.RxPackets },
	"rx_errors": func(n dockerstats.NetworkStats) uint64 { return n.RxErrors }, "rx_dropped": func(n dockerstats.NetworkStats) uint64 { return n.RxDropped },
	"tx_bytes": func(n dockerstats.NetworkStats) uint64 { return n.TxBytes }, "tx_packets": func(n dockerstats.NetworkStats) uint64 { return n.TxPackets },
	"tx_errors": func(n dockerstats.NetworkStats) uint64 { return n.TxErrors }, "tx_dropped": func(n dockerstats.NetworkStats) uint64 { return n.TxDropped },
}

func (c *checker) networks() {
	c.exact("interfaces", slices.Sorted(maps.Keys(c.before.Networks)), slices.Sorted(maps.Keys(c.got.Networks)))
	for name := range c.got.Networks {
		for what, f := range netCounters {
			c.counter(name+" "+what, func(s *dockerstats.Stats) uint64 { return f(s.Networks[name]) })
		}
	}
}

func blkioOf(s *dockerstats.Stats) map[string]uint64 {
	out := map[string]uint64{}
	for _, e := range s.BlkioStats.IoServiceBytesRecursive {
		out[fmt.Sprintf("%d:%d %s", e.Major, e.Minor, e.Op)] = e.Value
	}
	return out
}

func (c *checker) blkio() {
	c.exact("block devices and ops", slices.Sorted(maps.Keys(blkioOf(c.before))), slices.Sorted(maps.Keys(blkioOf(c.got))))
	for k := range blkioOf(c.got) {
		c.counter("blkio "+k, func(s *dockerstats.Stats) uint64 { return blkioOf(s)[k] })
	}
}
