package hostpool

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
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
// deadline of the caller that started it, who gets the round at its end.
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
	var mine atomic.Bool // this caller started the round, with its deadline
	res := h.stats.flight.DoChan("", func() (any, error) {
		mine.Store(true)
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
		if mine.Load() && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// The round ends at this same deadline and counts each call
			// it cut short; the caller that stopped waiting would count
			// the same containers again.
			return (<-res).Val.(*Round), true
		}
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

// fetchStats reads stats for every running container, at most
// --stats.concurrency at a time. A call that misses the deadline or fails
// leaves that container out and is counted; it never holds the round past
// its deadline.
func (h *Host) fetchStats(ctx context.Context) map[string]*dockerstats.Stats {
	h.mu.RLock()
	targets := make([]statsTarget, 0, len(h.containers))
	for _, c := range h.containers {
		if c.Running() {
			targets = append(targets, targetOf(c))
		}
	}
	h.mu.RUnlock()
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		samples = make(map[string]*dockerstats.Stats, len(targets))
		sem     = make(chan struct{}, max(1, h.opts.StatsConcurrency))
	)
	for _, t := range targets {
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
			s, err := h.readStats(ctx, t)
			switch {
			case errors.Is(err, ErrNotRunning):
				h.CountStatsError("not_running")
				s = nil
			case err != nil && ctx.Err() != nil:
				h.CountStatsError("timeout")
				return
			case err != nil:
				h.CountStatsError("error")
				h.log.Debug("stats failed", "container", t.id, "err", err)
				return
			}
			mu.Lock()
			samples[t.id] = s
			mu.Unlock()
		}()
	}
	wg.Wait()
	return samples
}
