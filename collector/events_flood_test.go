package collector

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/hostpool"
)

// TestEventCountersIgnoreSyncFlood: a resync that finds more new
// containers than the counters' queue holds (each is a container update on
// the feed) does not fill that queue, so no Docker event that comes with
// them is lost to docker_events_total. The counting goroutine is held, as
// a busy one would be, while the updates are published.
func TestEventCountersIgnoreSyncFlood(t *testing.T) {
	const queue, added = 16, 40
	exp, fake, _ := startFake(t, Options{})
	ec := newEventsConcernQueue(exp.pool, slog.New(slog.NewTextHandler(io.Discard, nil)), queue)
	defer ec.close()
	updates := exp.pool.Subscribe(10 * added)
	defer updates.Close()
	if err := fake.Scale("web", added); err != nil {
		t.Fatal(err)
	}
	ec.mu.Lock()
	exp.pool.Hosts()[0].Resync()
	timeout := time.After(30 * time.Second)
	for seen := 0; seen < added; {
		select {
		case e := <-updates.C():
			if e.Kind == hostpool.KindContainerUpdate {
				seen++
			}
		case <-timeout:
			ec.mu.Unlock()
			t.Fatalf("%d container updates published, want %d", seen, added)
		}
	}
	dropped := ec.sub.Dropped()
	ec.mu.Unlock()
	if dropped > 0 {
		t.Errorf("the counters' queue of %d dropped %d items while %d new containers synced", queue, dropped, added)
	}
}
