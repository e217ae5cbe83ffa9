package api

import (
	"context"
	"net/http"
	"time"

	"github.com/snadboy/docker-monitor/dockerstats"
	"github.com/snadboy/docker-monitor/hostpool"
)

const (
	// roundMaxAge is how old a shared round may be: Docker samples stats
	// once a second, so a younger round holds the very figures a new call
	// would return, and the API shares rounds with scrapes instead of
	// adding calls to the daemon.
	roundMaxAge = time.Second
	// prevMaxAge is how far back the sample a CPU percent compares with
	// may be: over a longer window the figure says little about now.
	prevMaxAge = 60 * time.Second
)

// getStats is GET /containers/{host}/{id}/stats: the container's sample
// from the host's shared stats round, and its CPU percent against the
// sample before it, as docker stats computes it.
func (a *API) getStats(w http.ResponseWriter, r *http.Request) {
	v, c, err := a.lookup(r)
	if err != nil {
		fail(w, err)
		return
	}
	if !c.Running() {
		writeError(w, http.StatusConflict, "container "+echo(c.Name)+" is "+c.State+": stats are read from running containers only")
		return
	}
	timeout := a.opts.StatsTimeout
	if timeout <= 0 {
		timeout = DefaultOptions.StatsTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	cur, prev, err := samples(ctx, v.host, c, timeout)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, statsOf(v, c, cur, prev))
}

// samples reads c's latest sample, and the one before it when it is recent
// enough to give a CPU percent. Without one (the host's first round, or
// none for a minute), a second round is taken once the first has ended,
// which Docker answers from its next tick, a second later.
func samples(ctx context.Context, h *hostpool.Host, c *hostpool.Container, timeout time.Duration) (cur, prev *dockerstats.Stats, err error) {
	round, err := statsRound(ctx, h, roundMaxAge, timeout)
	if err != nil {
		return nil, nil, err
	}
	if _, ok := round.Samples[c.ID]; !ok && round.At.Before(c.StartedAt) {
		// A shared round from before the container started (--stats.max-age
		// may keep one for long) cannot have it.
		if round, err = statsRound(ctx, h, -1, timeout); err != nil {
			return nil, nil, err
		}
	}
	if cur, err = sampleOf(ctx, round, c); err != nil {
		return nil, nil, err
	}
	if prev = round.Prev[c.ID]; prev != nil && cur.Read.Sub(prev.Read) <= prevMaxAge {
		return cur, prev, nil
	}
	next, err := statsRound(ctx, h, -1, timeout)
	if err != nil {
		// The deadline passed with a sample in hand: answer without a CPU
		// percent rather than with nothing.
		return cur, nil, nil
	}
	s, ok := next.Samples[c.ID]
	switch {
	case ok && s == nil:
		return nil, nil, notRunning(c)
	case !ok:
		return cur, nil, nil
	}
	return s, cur, nil
}

func statsRound(ctx context.Context, h *hostpool.Host, maxAge, timeout time.Duration) (*hostpool.Round, error) {
	round, ok := h.StatsRound(ctx, maxAge)
	if !ok {
		return nil, errorf(http.StatusGatewayTimeout, "no stats from host %s within %s", echo(h.Alias), timeout)
	}
	return round, nil
}

// sampleOf is c's sample in round: none is a call that failed or missed
// the round's deadline (counted in docker_monitor_stats_errors_total), nil
// is a container that stopped since the cache said it runs.
func sampleOf(ctx context.Context, round *hostpool.Round, c *hostpool.Container) (*dockerstats.Stats, error) {
	s, ok := round.Samples[c.ID]
	switch {
	case ok && s == nil:
		return nil, notRunning(c)
	case !ok && expired(ctx):
		return nil, errorf(http.StatusGatewayTimeout, "no stats of container %s before the deadline", echo(c.Name))
	case !ok:
		return nil, errorf(http.StatusBadGateway,
			"container %s: the daemon's stats call failed or missed its round's deadline (see docker_monitor_stats_errors_total)", echo(c.Name))
	}
	return s, nil
}

// expired says whether ctx's deadline has passed, even if its timer has
// not fired yet: the round shares the deadline on a timer of its own, and
// may end first.
func expired(ctx context.Context) bool {
	deadline, ok := ctx.Deadline()
	return ctx.Err() != nil || ok && !time.Now().Before(deadline)
}

func notRunning(c *hostpool.Container) error {
	return errorf(http.StatusConflict, "container %s is not running: it stopped or went away", echo(c.Name))
}

// statsOf is a sample as the API shows it; prev, when not nil, is the
// sample its CPU percent compares with.
func statsOf(v *hostView, c *hostpool.Container, cur, prev *dockerstats.Stats) ContainerStats {
	out := ContainerStats{
		Host:             v.host.Alias,
		ID:               c.ID,
		Name:             c.Name,
		Read:             cur.Read.UTC(),
		CPUSeconds:       float64(cur.CPUStats.CPUUsage.TotalUsage) / 1e9,
		OnlineCPUs:       int(cur.CPUStats.OnlineCPUs),
		MemoryUsage:      cur.MemoryStats.Usage,
		MemoryWorkingSet: cur.MemoryStats.WorkingSet(),
		PIDs:             cur.PidsStats.Current,
	}
	if out.OnlineCPUs == 0 {
		out.OnlineCPUs = v.snap.Info.CPUs
	}
	if pct, ok := dockerstats.CPUPercent(prev, cur, v.snap.Info.CPUs); ok {
		window := cur.Read.Sub(prev.Read).Seconds()
		out.CPUPercent, out.CPUWindowSeconds = &pct, &window
	}
	// Docker reports the host's memory as the limit of a container without
	// one; the cached HostConfig says whether there is one.
	if c.MemoryLimit > 0 {
		limit := uint64(c.MemoryLimit)
		pct := float64(out.MemoryWorkingSet) / float64(limit) * 100
		out.MemoryLimit, out.MemoryPercent = &limit, &pct
	}
	out.NetworkRx, out.NetworkTx = cur.NetworkTotals()
	out.BlockRead, out.BlockWrite = cur.BlockIO()
	return out
}
