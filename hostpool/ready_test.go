package hostpool

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/internal/dockerfake"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// The pool is not ready while a host's first sync is under way, and is once
// that attempt ends, whether it worked or not: a host that is down must not
// keep the exporter unready for ever (it is docker_host_up 0 instead).
func TestReadyAfterFirstSyncAttempt(t *testing.T) {
	fake, err := dockerfake.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	fake.SetHang(true)
	opts := DefaultOptions
	opts.Timeout = 500 * time.Millisecond
	pool, err := New([]config.Host{testlab.Host(t, "fake", fake.Host)}, opts, NewMetrics(nil), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	pool.Start(context.Background())
	t.Cleanup(pool.Stop)
	if pool.Ready() {
		t.Fatal("ready before the first sync attempt ended")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !pool.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("not ready 10s after a first sync attempt bounded by 500ms")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
