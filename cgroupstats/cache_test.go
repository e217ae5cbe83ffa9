package cgroupstats

import (
	"errors"
	"testing"
)

// The cache resolves a container again when its PID changes (a restart)
// or after a read failed, and never keeps what failed to resolve.
func TestGroupCache(t *testing.T) {
	var c groupCache
	calls := 0
	fail := false
	resolve := func(id string, pid int) (map[string]string, error) {
		calls++
		if fail {
			return nil, ErrGone
		}
		return map[string]string{"memory": "/docker/" + id}, nil
	}
	get := func(pid int) error { _, err := c.get("abc", pid, resolve); return err }
	for _, step := range []struct {
		pid       int
		fail      bool
		forget    bool
		wantCalls int
	}{
		{pid: 10, wantCalls: 1},
		{pid: 10, wantCalls: 1},               // cached
		{pid: 11, wantCalls: 2},               // restarted: new process
		{pid: 11, forget: true, wantCalls: 3}, // a read failed
		{pid: 12, fail: true, wantCalls: 4},
		{pid: 12, wantCalls: 5}, // the failure was not kept
	} {
		if step.forget {
			c.forget("abc")
		}
		fail = step.fail
		err := get(step.pid)
		if step.fail != errors.Is(err, ErrGone) {
			t.Fatalf("pid %d: err %v", step.pid, err)
		}
		if calls != step.wantCalls {
			t.Fatalf("pid %d: %d resolutions, want %d", step.pid, calls, step.wantCalls)
		}
	}
}

func TestSystemCacheError(t *testing.T) {
	var c systemCache
	if _, _, err := c.get("/nonexistent/stat"); err == nil {
		t.Fatal("no error for a missing /proc/stat")
	}
	if !c.at.IsZero() {
		t.Error("a failed read was cached")
	}
}
