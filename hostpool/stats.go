package hostpool

import (
	"time"

	"github.com/moby/moby/api/types/container"
)

// Stats is the part of a stats sample that the exporter reads. Decoding
// only these fields allocates a quarter of what the full
// container.StatsResponse does (its memory map alone has ~35 keys), which
// matters with one sample per running container per scrape.
type Stats struct {
	Read        time.Time                         `json:"read"`
	CPUStats    CPUStats                          `json:"cpu_stats"`
	MemoryStats MemoryStats                       `json:"memory_stats"`
	Networks    map[string]container.NetworkStats `json:"networks"`
	BlkioStats  struct {
		IoServiceBytesRecursive []container.BlkioStatEntry `json:"io_service_bytes_recursive"`
	} `json:"blkio_stats"`
	PidsStats container.PidsStats `json:"pids_stats"`
}

// CPUStats holds the cumulative CPU counters, in nanoseconds.
type CPUStats struct {
	CPUUsage struct {
		TotalUsage        uint64 `json:"total_usage"`
		UsageInKernelmode uint64 `json:"usage_in_kernelmode"`
		UsageInUsermode   uint64 `json:"usage_in_usermode"`
	} `json:"cpu_usage"`
	ThrottlingData container.ThrottlingData `json:"throttling_data"`
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
