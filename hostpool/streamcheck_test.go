package hostpool

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/internal/dockerfake"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// A stream that delivers nothing while the daemon changes (the fake's
// stream is quiet, as a half-open one is) is found out by the list check,
// long before the periodic resync, and the host reconnects and resyncs. A
// quiet stream on a daemon where nothing changes is left alone.
func TestStalledStreamIsFound(t *testing.T) {
	fake := startFake(t)
	opts := DefaultOptions
	opts.DiscoveryInterval = time.Hour
	opts.StreamCheckInterval = 20 * time.Millisecond
	pool, m := startPool(t, fake, opts)
	h := pool.Hosts()[0]
	has := func(name string) bool {
		for _, c := range h.Snapshot().Containers {
			if c.Name == name {
				return true
			}
		}
		return false
	}
	waitUntil(t, "first sync", func() bool { return pool.Ready() && has("writer") })

	lists := fake.Requests("containers")
	waitUntil(t, "ten checks", func() bool { return fake.Requests("containers") >= lists+10 })
	if n := testutil.CollectAndCount(m.ConnectionErrors); n != 0 {
		t.Fatalf("%d connection error series on a quiet, unchanged daemon", n)
	}

	if err := fake.Remove("writer"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the removed container to leave the cache", func() bool { return !has("writer") })
	if v := testutil.ToFloat64(m.ConnectionErrors.WithLabelValues("fake", "stalled")); v < 1 {
		t.Errorf("connection_errors_total{reason=stalled} = %v, want at least 1", v)
	}
}

func TestListedHealth(t *testing.T) {
	for status, want := range map[string]string{
		"Up 3 minutes (healthy)":          "/healthy",
		"Up 3 minutes (unhealthy)":        "/unhealthy",
		"Up 2 seconds (health: starting)": "/starting",
		"Up 3 minutes":                    "",
		"Up 3 minutes (Paused)":           "",
		"Exited (0) 2 hours ago":          "",
	} {
		if got := healthOf(status); got != want {
			t.Errorf("healthOf(%q) = %q, want %q", status, got, want)
		}
	}
	// inspect keeps the last health of an exited container; the list does not show it.
	if got := listed(&Container{State: "exited", Health: "unhealthy"}); got != "exited" {
		t.Errorf("listed(exited, unhealthy) = %q", got)
	}
	if got := listed(&Container{State: "running", Health: "healthy"}); got != "running/healthy" {
		t.Errorf("listed(running, healthy) = %q", got)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after 30s waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A daemon that takes the event stream's request and never answers it
// fails the session within --docker.timeout, and the host connects once it
// answers: the wait for the stream's headers has no deadline of its own.
func TestEventStreamOpenIsBounded(t *testing.T) {
	fake := startFake(t)
	release := fake.Hold("events")
	defer release()
	opts := DefaultOptions
	opts.Timeout = 200 * time.Millisecond
	opts.Backoff = Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Factor: 1}
	pool, m := startPool(t, fake, opts)
	waitUntil(t, "a timed-out stream open", func() bool {
		return testutil.ToFloat64(m.ConnectionErrors.WithLabelValues("fake", "timeout")) >= 2
	})
	release()
	waitUntil(t, "the stream up", func() bool { return pool.Hosts()[0].Snapshot().StreamUp })
}

func startFake(t *testing.T) *dockerfake.Server {
	t.Helper()
	fake := dockerfake.StartT(t)
	return fake
}

// startPool runs a pool of the one fake host until the end of the test.
func startPool(t *testing.T, fake *dockerfake.Server, opts Options) (*Pool, *Metrics) {
	t.Helper()
	m := NewMetrics(nil)
	pool, err := New([]config.Host{testlab.Host(t, "fake", fake.Host)}, opts, m, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	pool.Start(context.Background())
	t.Cleanup(pool.Stop)
	return pool, m
}
