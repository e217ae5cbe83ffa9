package hostpool

import (
	"testing"
	"time"
)

// The pool is not ready while a host's first sync is under way, and is once
// that attempt ends, whether it worked or not: a host that is down must not
// keep the exporter unready for ever (it is docker_host_up 0 instead).
func TestReadyAfterFirstSyncAttempt(t *testing.T) {
	fake := startFake(t)
	fake.SetHang(true)
	opts := DefaultOptions
	opts.Timeout = 500 * time.Millisecond
	pool, _ := startPool(t, fake, opts)
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
