package hostpool

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/dockerstats"
)

// Where a host's stats come from (--stats.source).
const (
	// StatsAuto reads the cgroup files for a local host once a read has
	// shown they belong to its containers, and the API otherwise.
	StatsAuto = "auto"
	// StatsAPI always asks the daemon.
	StatsAPI = "api"
	// StatsCgroup reads the cgroup files for every local host, and fails
	// (counted) where they cannot be read; remote hosts use the API.
	StatsCgroup = "cgroup"
)

// LocalStats reads a running container's stats from the cgroup files and
// /proc of the machine the exporter runs on (cgroupstats.Reader). The
// daemon spends about 3 ms of CPU on each stats call; these reads cost it
// nothing. An error wrapping ErrNotRunning says the process or its cgroup
// is gone.
type LocalStats interface {
	Read(id string, pid int, hostNetwork bool) (*dockerstats.Stats, error)
}

// The states of a host's local source.
const (
	localUntried int32 = iota // no read has succeeded or failed yet (auto)
	localOn                   // reads succeed: the files are this host's
	localOff                  // the API from now on
)

// localSource is a host's choice between the cgroup files and the API.
type localSource struct {
	state atomic.Int32
	// disowned counts containers the files said were gone while the daemon
	// answered for them: reads from another PID namespace look like that.
	disowned atomic.Int32
}

// initLocal decides what can be known before any read: only a local socket
// can reach a daemon whose containers are this machine's processes.
func (h *Host) initLocal() {
	if h.opts.LocalStats == nil || h.opts.StatsSource == StatsAPI || h.Connection != config.ConnLocal {
		h.local.state.Store(localOff)
	}
}

// statsTarget is what a stats read needs from the cache.
type statsTarget struct {
	id          string
	pid         int
	hostNetwork bool
}

func targetOf(c *Container) statsTarget {
	return statsTarget{id: c.ID, pid: c.Pid, hostNetwork: c.NetworkMode == "host"}
}

// readStats reads one running container's sample from the cgroup files
// when they serve this host, else from the daemon, and counts the source.
func (h *Host) readStats(ctx context.Context, t statsTarget) (*dockerstats.Stats, error) {
	// A PID of 0 is a container the cache saw start only in a list, which
	// has no PIDs: the daemon knows it.
	if t.pid <= 0 || h.local.state.Load() == localOff {
		return h.apiStats(ctx, t.id)
	}
	s, err := h.opts.LocalStats.Read(t.id, t.pid, t.hostNetwork)
	switch {
	case err == nil:
		h.useLocal()
		h.countRead("cgroup")
		return s, nil
	case h.opts.StatsSource == StatsCgroup:
		return nil, err
	case errors.Is(err, ErrNotRunning):
		// Gone from the files: churn, which the daemon confirms, or a
		// restart since the cache read the PID, or files that are not
		// this daemon's at all if no read has ever found a container.
		s, err := h.apiStats(ctx, t.id)
		if err == nil && h.local.state.Load() == localUntried && h.local.disowned.Add(1) >= disownedLimit {
			h.dropLocal(errors.New("running containers' processes are not in this /proc: run the exporter in the host's PID namespace (docker run --pid=host)"))
		}
		return s, err
	case h.local.state.Load() == localUntried:
		h.dropLocal(err)
	default:
		// The files served this host before: one container's odd state
		// (torn down mid-read) is no reason to stop using them.
		h.log.Debug("cgroup stats read failed, asking the daemon", "container", t.id, "err", err)
	}
	return h.apiStats(ctx, t.id)
}

// disownedLimit is how many running containers the files may miss before
// auto gives up on them; one could be a container restarting.
const disownedLimit = 3

func (h *Host) apiStats(ctx context.Context, id string) (*dockerstats.Stats, error) {
	s, err := h.Stats(ctx, id)
	if err == nil {
		h.countRead("api")
	}
	return s, err
}

func (h *Host) useLocal() {
	if h.local.state.CompareAndSwap(localUntried, localOn) {
		h.log.Info("reading resource stats from the cgroup files, not the daemon")
	}
}

// dropLocal turns auto's local source off for good, logged once: what made
// a read fail (permissions, another cgroup namespace) does not go away.
func (h *Host) dropLocal(err error) {
	if h.local.state.Swap(localOff) != localOff {
		h.log.Info("reading resource stats from the daemon: the cgroup files cannot be used", "err", err)
	}
}

func (h *Host) countRead(source string) {
	if !h.closed.Load() {
		h.m.StatsReads.WithLabelValues(h.Alias, source).Inc()
	}
}
