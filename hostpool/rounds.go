package hostpool

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/snadboy/docker-monitor/dockerstats"
)

// Round is one host's stats samples, by container ID, read together. A nil
// sample is a container that stopped or went away before its stats were
// read: churn, not a failure. A running container with no entry at all
// missed the round's deadline or its call failed (counted).
type Round struct {
	At      time.Time
	Samples map[string]*dockerstats.Stats
	// Prev holds each container's sample from the round before, the first
	// of the two samples a rate (the docker CLI's CPU percent) needs.
	Prev map[string]*dockerstats.Stats
}

// statsRounds shares a host's stats calls between everyone who asks at
// once: overlapping scrapes, the API, a push. The daemon answers each call
// with work (about 3 ms of CPU on Docker 20.10), so two callers must never
// double it.
type statsRounds struct {
	flight singleflight.Group
	mu     sync.Mutex
	last   *Round
}

// StatsRound returns the host's samples of its running containers: a round
// that finished within maxAge or --stats.max-age (whichever is longer), the
// round in flight, or a new one. A negative maxAge reuses no finished round
// (a second sample for a rate). A caller whose ctx ends first stops
// waiting and gets ok false; the round goes on for the others, until the
// deadline of the caller that started it.
func (h *Host) StatsRound(ctx context.Context, maxAge time.Duration) (r *Round, ok bool) {
	if maxAge >= 0 {
		maxAge = max(maxAge, h.opts.StatsMaxAge)
	}
	if maxAge > 0 {
		h.stats.mu.Lock()
		last := h.stats.last
		h.stats.mu.Unlock()
		if last != nil && time.Since(last.At) < maxAge {
			return last, true
		}
	}
	res := h.stats.flight.DoChan("", func() (any, error) {
		roundCtx, cancel := roundContext(ctx)
		defer cancel()
		roundCtx, span := h.startSpan(roundCtx, "stats round")
		defer span.End()
		samples := h.fetchStats(roundCtx)
		h.stats.mu.Lock()
		defer h.stats.mu.Unlock()
		r := &Round{At: time.Now(), Samples: samples}
		if h.stats.last != nil {
			// Maps, not rounds: a host holds two rounds' samples at most.
			r.Prev = h.stats.last.Samples
		}
		h.stats.last = r
		return r, nil
	})
	select {
	case res := <-res:
		return res.Val.(*Round), true
	case <-ctx.Done():
		return nil, false
	}
}

// roundContext is the context of a round started by the caller with ctx.
// The round serves every caller that joins it, so the one that started it
// must not cancel it by going away (a Prometheus replica that disconnects);
// it keeps that caller's deadline, which no round may outlive.
func roundContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithDeadline(context.WithoutCancel(ctx), deadline)
	}
	return context.WithCancel(context.WithoutCancel(ctx))
}

// fetchStats calls stats for every running container, at most
// --stats.concurrency at a time. A call that misses the deadline or fails
// leaves that container out and is counted; it never holds the round past
// its deadline.
func (h *Host) fetchStats(ctx context.Context) map[string]*dockerstats.Stats {
	h.mu.RLock()
	ids := make([]string, 0, len(h.containers))
	for id, c := range h.containers {
		if c.Running() {
			ids = append(ids, id)
		}
	}
	h.mu.RUnlock()
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		samples = make(map[string]*dockerstats.Stats, len(ids))
		sem     = make(chan struct{}, max(1, h.opts.StatsConcurrency))
	)
	for _, id := range ids {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			h.CountStatsError("timeout")
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := h.Stats(ctx, id)
			switch {
			case errors.Is(err, ErrNotRunning):
				h.CountStatsError("not_running")
				s = nil
			case err != nil && ctx.Err() != nil:
				h.CountStatsError("timeout")
				return
			case err != nil:
				h.CountStatsError("error")
				h.log.Debug("stats failed", "container", id, "err", err)
				return
			}
			mu.Lock()
			samples[id] = s
			mu.Unlock()
		}()
	}
	wg.Wait()
	return samples
}
