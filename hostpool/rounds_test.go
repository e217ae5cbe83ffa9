package hostpool

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// runningIDs is the host's running containers, by ID.
func runningIDs(h *Host) map[string]bool {
	ids := map[string]bool{}
	for _, c := range h.Snapshot().Containers {
		if c.Running() {
			ids[c.ID] = true
		}
	}
	return ids
}

// Callers that overlap share one round: the daemon is asked once per
// running container, whoever asks.
func TestStatsRoundShared(t *testing.T) {
	fake := startFake(t)
	pool, _ := startPool(t, fake, DefaultOptions)
	waitUntil(t, "first sync", pool.Ready)
	h := pool.Hosts()[0]
	running := len(runningIDs(h))
	release := fake.HoldStats()
	var wg sync.WaitGroup
	rounds := make([]*Round, 3)
	for i := range rounds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			rounds[i], _ = h.StatsRound(ctx, 0)
		}()
	}
	waitUntil(t, "the held stats calls", func() bool { return fake.Requests("stats") == int64(running) })
	release()
	wg.Wait()
	if rounds[0] == nil || rounds[0] != rounds[1] || rounds[1] != rounds[2] {
		t.Fatalf("three overlapping callers got rounds %p %p %p, want one", rounds[0], rounds[1], rounds[2])
	}
	if n := fake.Requests("stats"); n != int64(running) {
		t.Errorf("%d stats calls for %d running containers and 3 callers", n, running)
	}
	if len(rounds[0].Samples) != running {
		t.Errorf("round has %d samples, want %d", len(rounds[0].Samples), running)
	}
}

// A later round carries the earlier one's samples as Prev (the first
// sample of a rate), and maxAge reuses a recent round with its Prev.
func TestStatsRoundPrevAndMaxAge(t *testing.T) {
	fake := startFake(t)
	pool, _ := startPool(t, fake, DefaultOptions)
	waitUntil(t, "first sync", pool.Ready)
	h := pool.Hosts()[0]
	ctx := context.Background()
	first, ok := h.StatsRound(ctx, 0)
	if !ok || first.Prev != nil {
		t.Fatalf("first round: ok %v, prev %v", ok, first.Prev)
	}
	second, _ := h.StatsRound(ctx, 0)
	if second == first || len(second.Prev) != len(first.Samples) {
		t.Fatalf("second round: same %v, %d prev samples, want %d", second == first, len(second.Prev), len(first.Samples))
	}
	for id := range runningIDs(h) {
		if second.Prev[id] != first.Samples[id] {
			t.Errorf("prev of %.12s is not the first round's sample", id)
		}
	}
	calls := fake.Requests("stats")
	if again, _ := h.StatsRound(ctx, time.Hour); again != second {
		t.Error("a round within maxAge was not reused")
	}
	if fake.Requests("stats") != calls {
		t.Error("a reused round called the daemon")
	}
	if fresh, _ := h.StatsRound(ctx, -1); fresh == second || fresh.Prev == nil {
		t.Error("maxAge < 0 reused a finished round, or the fresh one has no Prev")
	}
}

// A resync that finds a container gone (its events were missed) tells the
// feed, as the event would have.
func TestResyncPublishesWhatTheStreamMissed(t *testing.T) {
	fake := startFake(t)
	opts := DefaultOptions
	opts.StreamCheckInterval = 0
	pool, _ := startPool(t, fake, opts)
	waitUntil(t, "first sync", pool.Ready)
	sub := pool.Subscribe(100)
	defer sub.Close()
	if err := fake.Remove("writer"); err != nil {
		t.Fatal(err)
	}
	pool.Hosts()[0].Resync()
	select {
	case e := <-sub.C():
		if e.Kind != KindContainerUpdate || e.Container != nil || e.Previous == nil || e.Previous.Name != "writer" {
			t.Fatalf("feed: %+v, want the removal of writer", e)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no container_update after the resync")
	}
}

// A round that misses its starter's deadline counts each container it cut
// short once: the starter gets the round at its end instead of stopping
// waiting and counting the same containers again (the collector counts
// only for a round it stopped waiting for).
func TestStatsRoundDeadlineCountsOnce(t *testing.T) {
	fake := startFake(t)
	pool, m := startPool(t, fake, DefaultOptions)
	waitUntil(t, "first sync", pool.Ready)
	h := pool.Hosts()[0]
	running := len(runningIDs(h))
	release := fake.HoldStats()
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	r, ok := h.StatsRound(ctx, 0)
	if !ok || r == nil {
		t.Fatalf("the round's starter got ok %v, round %v; want the round", ok, r)
	}
	if len(r.Samples) != 0 {
		t.Errorf("%d samples from held calls", len(r.Samples))
	}
	if got := testutil.ToFloat64(m.StatsErrors.WithLabelValues("fake", "timeout")); got != float64(running) {
		t.Errorf("stats_errors_total{reason=timeout} = %v for %d running containers cut short, want %d", got, running, running)
	}
}
