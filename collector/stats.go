package collector

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/snadboy/docker-monitor/dockerstats"
	"github.com/snadboy/docker-monitor/hostpool"
)

func statsDesc(name, help string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc("docker_container_"+name, help, append([]string{"host", "name"}, extra...), nil)
}

var (
	cpuUsageDesc       = statsDesc("cpu_usage_seconds_total", "CPU time the container consumed, user and system.")
	cpuUserDesc        = statsDesc("cpu_user_seconds_total", "CPU time the container consumed in user mode.")
	cpuSystemDesc      = statsDesc("cpu_system_seconds_total", "CPU time the container consumed in kernel mode.")
	cpuPeriodsDesc     = statsDesc("cpu_periods_total", "CFS enforcement periods that elapsed while the container had a CPU quota.")
	cpuThrottledPDesc  = statsDesc("cpu_throttled_periods_total", "CFS periods in which the container was throttled.")
	cpuThrottledSDesc  = statsDesc("cpu_throttled_seconds_total", "Time the container was throttled by its CPU quota.")
	memUsageDesc       = statsDesc("memory_usage_bytes", "Memory the container's cgroup uses, page cache included.")
	memWorkingSetDesc  = statsDesc("memory_working_set_bytes", "Memory usage minus inactive file cache, as `docker stats` shows it.")
	memLimitDesc       = statsDesc("memory_limit_bytes", "Memory limit of the container; absent when unlimited.")
	blockReadDesc      = statsDesc("block_io_read_bytes_total", "Bytes the container read from block devices.")
	blockWriteDesc     = statsDesc("block_io_write_bytes_total", "Bytes the container wrote to block devices.")
	pidsDesc           = statsDesc("pids", "Processes and threads in the container.")
	pidsLimitDesc      = statsDesc("pids_limit", "Limit on processes and threads in the container; absent when unlimited.")
	netDescs           = map[string]*prometheus.Desc{}
	netDescOrder       []string
	errStatsIncomplete = errors.New("stats missing for some running containers")
)

var netHelp = map[string]string{
	"receive_bytes":    "Bytes the container's network interface received.",
	"receive_packets":  "Packets the container's network interface received.",
	"receive_errors":   "Receive errors on the container's network interface.",
	"receive_dropped":  "Incoming packets the container's network interface dropped.",
	"transmit_bytes":   "Bytes the container's network interface sent.",
	"transmit_packets": "Packets the container's network interface sent.",
	"transmit_errors":  "Transmit errors on the container's network interface.",
	"transmit_dropped": "Outgoing packets the container's network interface dropped.",
}

func init() {
	for _, dir := range []string{"receive", "transmit"} {
		for _, what := range []string{"bytes", "packets", "errors", "dropped"} {
			k := dir + "_" + what
			netDescs[k] = statsDesc("network_"+k+"_total", netHelp[k], "interface")
			netDescOrder = append(netDescOrder, k)
		}
	}
}

// statsConcern reports the samples of each host's stats round, which
// overlapping scrapes (and the API) share, so two Prometheus servers do not
// double the load on the daemon.
type statsConcern struct{}

func (statsConcern) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cpuUsageDesc, cpuUserDesc, cpuSystemDesc, cpuPeriodsDesc, cpuThrottledPDesc, cpuThrottledSDesc,
		memUsageDesc, memWorkingSetDesc, memLimitDesc, blockReadDesc, blockWriteDesc, pidsDesc, pidsLimitDesc} {
		ch <- d
	}
	for _, k := range netDescOrder {
		ch <- netDescs[k]
	}
}

func (statsConcern) update(ctx context.Context, views []*hostView, ch chan<- prometheus.Metric) error {
	// The rounds are read together, each waiting for its daemon; the
	// samples are then emitted host by host in the order of views, and by
	// container name, the order the registry sorts each family in, so that
	// its sort is one pass (see statesByValue).
	rounds := make([]*hostpool.Round, len(views))
	var wg sync.WaitGroup
	for i, v := range views {
		if v.cacheUsable() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r, ok := v.host.StatsRound(v.ctx, 0); ok {
					rounds[i] = r
				}
			}()
		}
	}
	wg.Wait()
	complete := true
	for i, v := range views {
		if v.cacheUsable() && !emitRound(ch, v, rounds[i]) {
			complete = false
		}
	}
	if !complete {
		return errStatsIncomplete
	}
	return anySyncing(views)
}

// emitRound emits a host's samples and says whether every running
// container had one. A nil round is one this scrape stopped waiting for
// (another caller started it): the round counts what it misses, this
// scrape counts what it left out.
func emitRound(ch chan<- prometheus.Metric, v *hostView, round *hostpool.Round) bool {
	complete := true
	for _, c := range v.snap.Containers {
		if !c.Running() {
			continue
		}
		if round == nil {
			v.host.CountStatsError("timeout")
			complete = false
			continue
		}
		s, found := round.Samples[c.ID]
		switch {
		case !found:
			complete = false
		case s != nil:
			emitStats(ch, v.host.Alias, c, s)
		}
	}
	return complete
}

// emitStats writes one container's sample. The limits come from the cached
// inspect: Docker's stats report the host's memory as the limit of a
// container without one, and a period count of 0 without a quota, and
// neither is a limit.
func emitStats(ch chan<- prometheus.Metric, host string, c *hostpool.Container, s *dockerstats.Stats) {
	name := c.Name
	counter := func(d *prometheus.Desc, v float64, extra ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, append([]string{host, name}, extra...)...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, host, name)
	}
	cpu := s.CPUStats.CPUUsage
	counter(cpuUsageDesc, nanos(cpu.TotalUsage))
	counter(cpuUserDesc, nanos(cpu.UsageInUsermode))
	counter(cpuSystemDesc, nanos(cpu.UsageInKernelmode))
	if t := s.CPUStats.ThrottlingData; c.CPULimit > 0 || t.Periods > 0 {
		counter(cpuPeriodsDesc, float64(t.Periods))
	}
	counter(cpuThrottledPDesc, float64(s.CPUStats.ThrottlingData.ThrottledPeriods))
	counter(cpuThrottledSDesc, nanos(s.CPUStats.ThrottlingData.ThrottledTime))

	gauge(memUsageDesc, float64(s.MemoryStats.Usage))
	gauge(memWorkingSetDesc, float64(s.MemoryStats.WorkingSet()))
	if c.MemoryLimit > 0 && s.MemoryStats.Limit > 0 {
		gauge(memLimitDesc, float64(s.MemoryStats.Limit))
	}

	// Interfaces by name, and no map per interface: the registry's order,
	// and no garbage per container.
	for _, iface := range slices.Sorted(maps.Keys(s.Networks)) {
		n := s.Networks[iface]
		for i, v := range [...]uint64{n.RxBytes, n.RxPackets, n.RxErrors, n.RxDropped, n.TxBytes, n.TxPackets, n.TxErrors, n.TxDropped} {
			counter(netDescs[netDescOrder[i]], float64(v), iface)
		}
	}

	read, write := s.BlockIO()
	counter(blockReadDesc, float64(read))
	counter(blockWriteDesc, float64(write))

	gauge(pidsDesc, float64(s.PidsStats.Current))
	if l := s.PidsStats.Limit; l > 0 && l < 1<<62 {
		gauge(pidsLimitDesc, float64(l))
	}
}

func nanos(n uint64) float64 { return float64(n) / 1e9 }
