// Package cgroupstats reads a running container's resource stats from the
// host's cgroup tree and /proc, into the model the Docker Engine API's
// stats call fills (dockerstats.Stats), with the values Docker 20.10
// reports for the same container.
//
// Docker answers a stats call by asking containerd's shim, which reads the
// same cgroup files with containerd's cgroups library; the daemon spends
// about 3 ms of CPU on each call. Reading the files here costs the daemon
// nothing, and only works for the daemon of the machine the exporter runs
// on, with the host's cgroup tree and /proc (and its cgroup namespace:
// --cgroupns=host for the exporter's own container).
package cgroupstats

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/procfs"

	"github.com/snadboy/docker-monitor/dockerstats"
)

// ErrGone says the container's process or cgroup vanished, or its PID now
// belongs to another process: churn, which the caller treats as a
// container that is no longer running. It wraps dockerstats.ErrNotRunning,
// what the API source answers for the same case.
var ErrGone = fmt.Errorf("container process or cgroup gone: %w", dockerstats.ErrNotRunning)

// errCgroupNS is a cgroup path relative to the reader's own cgroup
// namespace: the files of the container's cgroup are not reachable.
var errCgroupNS = errors.New("the exporter runs in its own cgroup namespace and cannot see containers' cgroups; run its container with --cgroupns=host")

// Reader reads stats for containers of the local daemon. It is safe for
// concurrent use.
type Reader struct {
	cgroupRoot, procRoot string
	proc                 procfs.FS
	version              int
	v1                   *v1Tree // cgroup v1 only
	// machineMemory caps a memory limit, as Docker caps it: an unlimited
	// cgroup reports a huge number, Docker the host's memory. Docker reads
	// it once at start-up too.
	machineMemory uint64

	groups groupCache
	system systemCache
}

// New returns a Reader of the cgroup tree mounted at cgroupRoot (usually
// /sys/fs/cgroup) and the proc filesystem at procRoot (usually /proc). It
// detects the cgroup version: v2 if cgroupRoot holds cgroup.controllers
// (the unified hierarchy), else v1 if it holds a controller directory.
func New(cgroupRoot, procRoot string) (*Reader, error) {
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return nil, fmt.Errorf("cgroup stats: proc filesystem %s: %w", procRoot, err)
	}
	r := &Reader{cgroupRoot: cgroupRoot, procRoot: procRoot, proc: fs}
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		r.version = 2
	} else if r.v1 = newV1Tree(cgroupRoot); r.v1 != nil {
		r.version = 1
	} else {
		return nil, fmt.Errorf("cgroup stats: %s is neither a cgroup v2 mount (no cgroup.controllers) nor a cgroup v1 tree (no %s directory)",
			cgroupRoot, strings.Join(v1Controllers, ", "))
	}
	// Best effort, like Docker: without it an unlimited memory limit is
	// reported as the cgroup has it.
	r.machineMemory, _ = readMemTotal(filepath.Join(procRoot, "meminfo"))
	return r, nil
}

// Version is the cgroup version of the tree read: 1 or 2.
func (r *Reader) Version() int { return r.version }

// Read reads the stats of the running container id (the full 64-digit ID)
// whose main process is pid, as the daemon's inspect reports it. A
// container on the host's network has no networks of its own, as in
// Docker's answer. An error wrapping ErrGone means the container is gone.
func (r *Reader) Read(id string, pid int, hostNetwork bool) (*dockerstats.Stats, error) {
	if !validID(id) {
		return nil, fmt.Errorf("cgroup stats: %q is not a full container ID", id)
	}
	if pid <= 0 {
		return nil, fmt.Errorf("cgroup stats %.12s: bad pid %d", id, pid)
	}
	s := &dockerstats.Stats{Read: time.Now()}
	groups, err := r.groups.get(id, pid, r.cgroupsOf)
	if err != nil {
		return nil, err
	}
	if r.version == 2 {
		err = r.readV2(s, groups[""])
	} else {
		err = r.v1.read(s, groups)
	}
	if err != nil {
		r.groups.forget(id)
		return nil, fmt.Errorf("cgroup stats %.12s (pid %d): %w", id, pid, err)
	}
	s.MemoryStats.Limit = r.capLimit(s.MemoryStats.Limit)
	if !hostNetwork {
		if s.Networks, err = readNetDev(filepath.Join(r.procRoot, strconv.Itoa(pid), "net", "dev")); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				err = fmt.Errorf("%w: %w", ErrGone, err)
			}
			return nil, fmt.Errorf("cgroup stats %.12s (pid %d): %w", id, pid, err)
		}
	}
	if s.CPUStats.SystemUsage, s.CPUStats.OnlineCPUs, err = r.system.get(filepath.Join(r.procRoot, "stat")); err != nil {
		return nil, fmt.Errorf("cgroup stats %.12s: %w", id, err)
	}
	return s, nil
}

func (r *Reader) capLimit(limit uint64) uint64 {
	if r.machineMemory > 0 && limit > r.machineMemory {
		return r.machineMemory
	}
	return limit
}

// cgroupsOf finds the container's cgroup in each hierarchy from
// /proc/<pid>/cgroup, rather than guessing it from the cgroup driver:
// /docker/<id> (cgroupfs) and /system.slice/docker-<id>.scope (systemd)
// alike. The result maps each controller to its path; "" is the unified
// (v2) hierarchy.
func (r *Reader) cgroupsOf(id string, pid int) (map[string]string, error) {
	p, err := r.proc.Proc(pid)
	if err == nil {
		var cgs []procfs.Cgroup
		if cgs, err = p.Cgroups(); err == nil {
			return containerGroups(cgs, id, pid, r.version)
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("cgroup stats %.12s (pid %d): %w", id, pid, ErrGone)
	}
	return nil, fmt.Errorf("cgroup stats %.12s: reading cgroups of pid %d: %w", id, pid, err)
}

// containerGroups checks each path of the process: it must lie in the
// container's cgroup, or the PID is now another process's. A process
// inside a nested cgroup of the container (a systemd container's
// init.scope) is read at the container's own cgroup, which Docker reads.
func containerGroups(cgs []procfs.Cgroup, id string, pid, version int) (map[string]string, error) {
	groups := make(map[string]string, len(cgs))
	for _, cg := range cgs {
		if !readsHierarchy(cg, version) {
			continue
		}
		path, gone := strings.CutSuffix(cg.Path, " (deleted)") // an exiting process's removed cgroup
		if gone {
			return nil, fmt.Errorf("cgroup stats %.12s: cgroup %q of pid %d: %w", id, path, pid, ErrGone)
		}
		if path == "/" || strings.HasPrefix(path, "/..") {
			return nil, fmt.Errorf("cgroup stats %.12s: cgroup of pid %d is %q: %w", id, pid, path, errCgroupNS)
		}
		if !strings.HasPrefix(path, "/") || filepath.Clean(path) != path {
			return nil, fmt.Errorf("cgroup stats %.12s: pid %d has a malformed cgroup path %q", id, pid, path)
		}
		i := strings.Index(path, id)
		if i < 0 {
			return nil, fmt.Errorf("cgroup stats %.12s: pid %d is in cgroup %q, not the container's: %w", id, pid, path, ErrGone)
		}
		if j := strings.IndexByte(path[i:], '/'); j >= 0 {
			path = path[:i+j]
		}
		if version == 2 {
			groups[""] = path
		}
		for _, c := range cg.Controllers {
			groups[c] = path
		}
	}
	if len(groups) == 0 {
		return nil, fmt.Errorf("cgroup stats %.12s: pid %d is in no cgroup v%d hierarchy", id, pid, version)
	}
	return groups, nil
}

// readsHierarchy says whether a line of /proc/<pid>/cgroup is one this
// reader uses: the unified hierarchy on v2 (not the v1 ones of a hybrid
// host: Docker uses v2 only on a unified one), a controller Docker reports
// on v1 (not a named or unused hierarchy, whose path may be anything).
func readsHierarchy(cg procfs.Cgroup, version int) bool {
	if version == 2 {
		return cg.HierarchyID == 0 && len(cg.Controllers) == 0
	}
	for _, c := range cg.Controllers {
		for _, want := range v1Controllers {
			if c == want {
				return true
			}
		}
	}
	return false
}

func validID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
