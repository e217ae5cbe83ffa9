// Package dockerstats holds a container's resource-stats sample in the
// shape the Docker Engine API reports it, and what is derived from it the
// way the docker CLI derives it. Both stats sources fill it: the Engine
// API's stats call and the cgroup files read directly (cgroupstats).
package dockerstats

import (
	"errors"
	"time"
)

// ErrNotRunning is what either source answers for a container that is gone
// or has stopped since the cache said it runs: churn, not a failure.
var ErrNotRunning = errors.New("container not running")

// Stats is one resource-stats sample of a container, decoded from Docker's
// answer. Decoding only these fields allocates a quarter of what the full
// container.StatsResponse does (its memory map alone has ~35 keys), which
// matters with one sample per running container per scrape.
type Stats struct {
	Read        time.Time               `json:"read"`
	CPUStats    CPUStats                `json:"cpu_stats"`
	MemoryStats MemoryStats             `json:"memory_stats"`
	Networks    map[string]NetworkStats `json:"networks"`
	BlkioStats  struct {
		IoServiceBytesRecursive []BlkioEntry `json:"io_service_bytes_recursive"`
	} `json:"blkio_stats"`
	PidsStats struct {
		Current uint64 `json:"current"`
		Limit   uint64 `json:"limit"`
	} `json:"pids_stats"`
}

// CPUStats holds the cumulative CPU counters, in nanoseconds, and the
// host's CPU time and online CPUs the docker CLI's percentage divides by.
type CPUStats struct {
	CPUUsage struct {
		TotalUsage        uint64 `json:"total_usage"`
		UsageInKernelmode uint64 `json:"usage_in_kernelmode"`
		UsageInUsermode   uint64 `json:"usage_in_usermode"`
	} `json:"cpu_usage"`
	SystemUsage    uint64 `json:"system_cpu_usage"`
	OnlineCPUs     uint32 `json:"online_cpus"`
	ThrottlingData struct {
		Periods          uint64 `json:"periods"`
		ThrottledPeriods uint64 `json:"throttled_periods"`
		ThrottledTime    uint64 `json:"throttled_time"`
	} `json:"throttling_data"`
}

// MemoryStats holds usage, limit, and the two cgroup counters the working
// set is computed from: total_inactive_file (cgroup v1) or inactive_file (v2).
type MemoryStats struct {
	Usage uint64 `json:"usage"`
	Limit uint64 `json:"limit"`
	Stats struct {
		TotalInactiveFile *uint64 `json:"total_inactive_file"`
		InactiveFile      *uint64 `json:"inactive_file"`
	} `json:"stats"`
}

// NetworkStats are one interface's counters.
type NetworkStats struct {
	RxBytes   uint64 `json:"rx_bytes"`
	RxPackets uint64 `json:"rx_packets"`
	RxErrors  uint64 `json:"rx_errors"`
	RxDropped uint64 `json:"rx_dropped"`
	TxBytes   uint64 `json:"tx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxErrors  uint64 `json:"tx_errors"`
	TxDropped uint64 `json:"tx_dropped"`
}

// BlkioEntry is one device's count for one operation.
type BlkioEntry struct {
	Major uint64 `json:"major"`
	Minor uint64 `json:"minor"`
	Op    string `json:"op"`
	Value uint64 `json:"value"`
}

// WorkingSet is usage minus inactive file cache, computed as the docker CLI
// does: total_inactive_file on cgroup v1, inactive_file on cgroup v2.
func (m MemoryStats) WorkingSet() uint64 {
	if v := m.Stats.TotalInactiveFile; v != nil && *v < m.Usage {
		return m.Usage - *v
	}
	if v := m.Stats.InactiveFile; v == nil {
		return m.Usage
	} else if *v < m.Usage {
		return m.Usage - *v
	}
	return m.Usage
}

// BlockIO sums bytes read and written over all devices. cgroup v1 reports ops
// as "Read"/"Write", v2 as "read"/"write".
func (s *Stats) BlockIO() (read, write uint64) {
	for _, e := range s.BlkioStats.IoServiceBytesRecursive {
		switch e.Op {
		case "Read", "read":
			read += e.Value
		case "Write", "write":
			write += e.Value
		}
	}
	return read, write
}

// NetworkTotals sums received and sent bytes over all interfaces.
func (s *Stats) NetworkTotals() (rx, tx uint64) {
	for _, n := range s.Networks {
		rx += n.RxBytes
		tx += n.TxBytes
	}
	return rx, tx
}

// CPUPercent is the container's CPU use between two samples as the docker
// CLI computes it: its CPU time over the host's, times the online CPUs
// (hostCPUs when the sample does not say), in percent. ok is false when
// the samples span no host CPU time.
func CPUPercent(prev, cur *Stats, hostCPUs int) (pct float64, ok bool) {
	if prev == nil || cur == nil {
		return 0, false
	}
	p, c := prev.CPUStats, cur.CPUStats
	if c.SystemUsage <= p.SystemUsage || c.CPUUsage.TotalUsage < p.CPUUsage.TotalUsage {
		return 0, false
	}
	cpus := float64(c.OnlineCPUs)
	if cpus == 0 {
		cpus = float64(hostCPUs)
	}
	cpuDelta := float64(c.CPUUsage.TotalUsage - p.CPUUsage.TotalUsage)
	sysDelta := float64(c.SystemUsage - p.SystemUsage)
	return cpuDelta / sysDelta * cpus * 100, true
}
