package hostpool

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrStreamStalled ends a session whose event stream has stopped delivering
// while the daemon still answers: a half-open connection (a NAT or proxy
// that dropped it without a reset, an SSH channel that went quiet), which
// no read error would ever reveal.
var ErrStreamStalled = errors.New("event stream stalled")

// streamConfirm is how long a mismatch between the daemon's list and the
// cache must last before the stream is declared stalled. A working stream
// delivers an event within milliseconds; the wait only lets one that was
// on the wire while the list was read arrive and be applied.
const streamConfirm = 2 * time.Second

// streamCheck compares, every --events.check-interval, the daemon's
// container list (ID, state, health) with the cache. A difference alone
// proves nothing, as its event may still be on its way; the same difference
// seen again streamConfirm later, with every event read meanwhile applied,
// means the stream did not bring it. The cost is one list call per
// interval, the cheapest call that shows every container.
type streamCheck struct {
	suspect map[string]string // container ID → what the daemon said, where the cache disagreed
}

// due says when the next check runs: soon while a difference waits to be
// confirmed, else after a full interval.
func (sc *streamCheck) due(interval time.Duration) time.Duration {
	if len(sc.suspect) > 0 {
		return streamConfirm
	}
	return interval
}

// run lists the containers and returns ErrStreamStalled if a difference
// from the last run is still there.
func (sc *streamCheck) run(ctx context.Context, h *Host) error {
	ctx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
	defer cancel()
	list, err := h.listContainers(ctx)
	if err != nil {
		return err
	}
	daemon := make(map[string]string, len(list.Items))
	for _, c := range list.Items {
		daemon[c.ID] = string(c.State) + healthOf(c.Status)
	}
	// The list holds no more than this; a stream that missed only other
	// changes (a rename, a restart count) is caught by the next resync.
	diff := map[string]string{}
	h.mu.RLock()
	for id, want := range daemon {
		if c, ok := h.containers[id]; !ok || listed(c) != want {
			diff[id] = want
		}
	}
	for id := range h.containers {
		if _, ok := daemon[id]; !ok {
			diff[id] = "gone"
		}
	}
	h.mu.RUnlock()
	for id, want := range diff {
		if sc.suspect[id] == want {
			return fmt.Errorf("%w: container %.12s is %s on the daemon for %s, and the stream has not said so",
				ErrStreamStalled, id, want, streamConfirm)
		}
	}
	sc.suspect = diff
	return nil
}

// listed is a cached container as the list would show it. Docker writes
// the health into the status text only of a running container that is
// neither paused nor restarting, while inspect keeps the last health of an
// exited one.
func listed(c *Container) string {
	if c.State != "running" {
		return c.State
	}
	return c.State + healthSuffix(c.Health)
}

// healthOf reads the health from a list entry's status text ("Up 3 minutes
// (healthy)"), the only place the list gives it.
func healthOf(status string) string {
	for _, h := range HealthStatuses {
		if strings.HasSuffix(status, "("+h+")") || strings.HasSuffix(status, "(health: "+h+")") {
			return healthSuffix(h)
		}
	}
	return ""
}

func healthSuffix(health string) string {
	if health == "" {
		return ""
	}
	return "/" + health
}
