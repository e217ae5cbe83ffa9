package integration

import (
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/collector"
	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// The pool's feed publishes each Docker event once it is applied, with the
// container as the cache now holds it, and a container_update for each
// change of state, in the order Docker sent them.
func TestFeedFollowsContainerLifecycle(t *testing.T) {
	d := testlab.Shared(t)
	exp := startExporter(t, []config.Host{testlab.Host(t, "feed", d.Host)}, hostpool.DefaultOptions, collector.Options{})
	sub := exp.pool.Subscribe(1000)
	defer sub.Close()

	// Step by step: an event's container is what a re-inspect finds once
	// the event arrives, and `docker run` starts before its create event
	// is applied.
	id := d.Create(t, "feed-life", nil, "sleep")
	next := feedWaiter(t, sub, id)
	next(hostpool.KindDockerEvent, "create", "created")
	next(hostpool.KindContainerUpdate, "", "created")
	d.Docker(t, "start", "feed-life")
	next(hostpool.KindDockerEvent, "start", "running")
	next(hostpool.KindContainerUpdate, "", "running")
	// Docker sends kill, die and stop; whichever is applied first finds
	// the container exited.
	d.Docker(t, "stop", "-t", "1", "feed-life")
	next(hostpool.KindContainerUpdate, "", "exited")
	d.Docker(t, "rm", "feed-life")
	next(hostpool.KindDockerEvent, "destroy", "")
	next(hostpool.KindContainerUpdate, "", "")
}

// feedWaiter returns a function that reads the feed until the next item
// about container id, skipping the other actions Docker sends around the
// awaited one (kill and stop around die), and checks it.
func feedWaiter(t *testing.T, sub *hostpool.Subscription, id string) func(kind hostpool.Kind, action, state string) {
	return func(kind hostpool.Kind, action, state string) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			var e *hostpool.Event
			select {
			case e = <-sub.C():
			case <-deadline:
				t.Fatalf("no %s %s (container %q) on the feed in 30s", kind, action, state)
			}
			if e.Kind == hostpool.KindLagged {
				t.Fatal("the test's own subscription lagged")
			}
			about := e.ActorID == id || e.Container != nil && e.Container.ID == id || e.Previous != nil && e.Previous.ID == id
			if e.Host != "feed" || !about || e.Kind != kind || kind == hostpool.KindDockerEvent && hostpool.NormalizeAction(e.Action) != action {
				continue
			}
			got := ""
			if e.Container != nil {
				got = e.Container.State
			}
			if got != state {
				t.Errorf("%s %s: container state %q, want %q", kind, action, got, state)
			}
			if kind == hostpool.KindDockerEvent && (e.Name != "feed-life" || e.Type != "container" || e.Time.IsZero()) {
				t.Errorf("event %s: name %q type %q time %v", e.Action, e.Name, e.Type, e.Time)
			}
			if kind == hostpool.KindContainerUpdate && state != "created" && (e.Previous == nil || e.Previous.State == state) {
				t.Errorf("update to %q: previous %+v", state, e.Previous)
			}
			return
		}
	}
}
