package cgroupstats

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/containerd/cgroups/v3/cgroup2"
	v2stats "github.com/containerd/cgroups/v3/cgroup2/stats"

	"github.com/snadboy/docker-monitor/dockerstats"
)

// readV2 fills s as Docker 20.10's statsV2 does from the shim's metrics,
// which containerd reads with the same library: microseconds become
// nanoseconds, io.stat's rbytes and wbytes become "read" and "write"
// entries, and "max" limits read as the largest uint64 (a memory limit is
// then capped at the host's memory by the caller, as Docker caps it).
func (r *Reader) readV2(s *dockerstats.Stats, group string) error {
	dir := filepath.Join(r.cgroupRoot, group)
	// The library reads a missing file as zero: a cgroup removed while it
	// was read must not pass for an idle one. The kernel answers ENODEV
	// for the files of a cgroup it is tearing down.
	removedOr := func(err error) error {
		if _, serr := os.Lstat(dir); errors.Is(serr, os.ErrNotExist) {
			return fmt.Errorf("%w: %s removed", ErrGone, dir)
		}
		if errors.Is(err, syscall.ENODEV) {
			return fmt.Errorf("%w: %w", ErrGone, err)
		}
		return err
	}
	mgr, err := cgroup2.Load(group, cgroup2.WithMountpoint(r.cgroupRoot))
	if err != nil {
		return removedOr(fmt.Errorf("cgroup %q: %w", group, err))
	}
	m, err := statV2(mgr)
	if err == nil {
		err = removedOr(nil)
	}
	if err != nil {
		return removedOr(fmt.Errorf("reading cgroup %s: %w", group, err))
	}
	if c := m.CPU; c != nil {
		u := &s.CPUStats.CPUUsage
		u.TotalUsage, u.UsageInKernelmode, u.UsageInUsermode = c.UsageUsec*1000, c.SystemUsec*1000, c.UserUsec*1000
		t := &s.CPUStats.ThrottlingData
		t.Periods, t.ThrottledPeriods, t.ThrottledTime = c.NrPeriods, c.NrThrottled, c.ThrottledUsec*1000
	}
	if mem := m.Memory; mem != nil {
		inactive := mem.InactiveFile
		s.MemoryStats.Usage, s.MemoryStats.Limit = mem.Usage, mem.UsageLimit
		s.MemoryStats.Stats.InactiveFile = &inactive
	}
	if p := m.Pids; p != nil {
		s.PidsStats.Current, s.PidsStats.Limit = p.Current, p.Limit
	}
	if m.Io != nil && len(m.Io.Usage) > 0 {
		io := make([]dockerstats.BlkioEntry, 0, 2*len(m.Io.Usage))
		for _, e := range m.Io.Usage {
			io = append(io,
				dockerstats.BlkioEntry{Major: e.Major, Minor: e.Minor, Op: "read", Value: e.Rbytes},
				dockerstats.BlkioEntry{Major: e.Major, Minor: e.Minor, Op: "write", Value: e.Wbytes})
		}
		s.BlkioStats.IoServiceBytesRecursive = io
	}
	return nil
}

// statV2 reads only what Docker's answer uses. The library's parsers index
// the fields of a pressure file's lines unchecked; a malformed file is an
// error here, not a crash.
func statV2(mgr *cgroup2.Manager) (m *v2stats.Metrics, err error) {
	defer func() {
		if p := recover(); p != nil {
			m, err = nil, fmt.Errorf("malformed cgroup file: %v", p)
		}
	}()
	return mgr.StatFiltered(cgroup2.StatPids | cgroup2.StatCPU | cgroup2.StatMemory | cgroup2.StatIO)
}
