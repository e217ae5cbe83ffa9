package hostpool

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// EventTypes are the event types the stream follows and counts.
var EventTypes = []string{"container", "image", "network", "volume", "daemon"}

// inspectOn are the container actions after which the cached container can
// differ from the daemon's; "destroy" removes it instead.
var inspectOn = map[string]bool{
	"create": true, "start": true, "die": true, "stop": true, "kill": true,
	"pause": true, "unpause": true, "restart": true, "rename": true,
	"update": true, "health_status": true, "oom": true,
}

// imageChanges are the image actions that change how many images there are.
var imageChanges = map[string]bool{
	"delete": true, "import": true, "load": true, "pull": true, "tag": true, "untag": true, "prune": true,
}

// run keeps the host's cache current until ctx ends: it connects, follows
// the event stream, resyncs periodically, and after any fault reconnects
// with backoff and resyncs from scratch.
func (h *Host) run(ctx context.Context) {
	defer close(h.done)
	attempt := 0
	for {
		err := h.session(ctx, func() { attempt = 0 })
		h.setStreamUp(false)
		h.markSynced()
		if ctx.Err() != nil {
			return
		}
		h.setConnected(false)
		h.countError(err)
		attempt++
		delay := h.opts.Backoff.Delay(attempt)
		if attempt > h.opts.Backoff.Retries {
			h.log.Error("docker host unavailable, will keep retrying", "err", err, "attempt", attempt, "retry_in", delay)
		} else {
			h.log.Warn("docker host connection lost, retrying", "err", err, "attempt", attempt, "retry_in", delay)
		}
		select {
		case <-h.wake: // drop a wake-up that came before this failure
		default:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		case <-h.wake:
			h.log.Debug("daemon answers a ping again; reconnecting before the backoff ends")
		}
	}
}

// session runs one connection's lifetime and returns why it ended.
func (h *Host) session(ctx context.Context, connected func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	cctx, ccancel := context.WithTimeout(ctx, h.opts.Timeout)
	err := h.connect(cctx)
	ccancel()
	if err != nil {
		return err
	}

	// The stream opens before the re-list so nothing that happens in between
	// is missed: events that arrive during the re-list wait in the buffer and
	// are applied after it, by re-inspecting, which is idempotent.
	f := client.Filters{}
	f = f.Add("type", EventTypes...)
	stream := h.cli.Events(ctx, client.EventsListOptions{Filters: f})
	buf := make(chan events.Message, max(1, h.opts.EventBuffer))
	streamErr := make(chan error, 1)
	go h.readEvents(ctx, stream, buf, streamErr)

	if err := h.timedResync(ctx); err != nil {
		return err
	}
	h.setStreamUp(true)
	h.markSynced()
	connected()
	h.log.Info("docker host connected", "endpoint", h.Endpoint)

	tick := time.NewTicker(h.opts.DiscoveryInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-streamErr:
			return fmt.Errorf("host %s: event stream: %w", h.Name, err)
		case msg := <-buf:
			err := h.apply(ctx, msg)
			h.pending.Add(-1)
			if err != nil {
				// The cache may now be wrong about one container: re-list
				// rather than trust it, and let the resync surface a fault.
				h.countError(err)
				h.log.Warn("applying event failed, resyncing", "err", err)
				h.Resync()
			}
		case <-tick.C:
			if err := h.timedResync(ctx); err != nil {
				return err
			}
		case <-h.resyncCh:
			if err := h.timedResync(ctx); err != nil {
				return err
			}
		}
	}
}

func (h *Host) timedResync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
	defer cancel()
	return h.resync(ctx)
}

// readEvents moves events from the client into the bounded buffer. When the
// buffer is full the event is dropped, counted, and a resync is scheduled:
// the cache catches up from the daemon instead of the reader blocking the
// stream.
func (h *Host) readEvents(ctx context.Context, stream client.EventsResult, buf chan<- events.Message, errc chan<- error) {
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-stream.Err:
			if err == nil {
				err = io.EOF
			}
			errc <- err
			return
		case msg := <-stream.Messages:
			h.countEvent(msg)
			h.pending.Add(1)
			select {
			case buf <- msg:
			default:
				h.pending.Add(-1)
				h.m.EventsDropped.WithLabelValues(h.Name).Inc()
				h.Resync()
			}
		}
	}
}

// NormalizeAction strips the detail Docker appends to some actions
// ("health_status: healthy", "exec_create: sh -c ..."): the detail would put
// commands and unbounded values into a label.
func NormalizeAction(a string) string {
	if i := strings.IndexByte(a, ':'); i >= 0 {
		a = a[:i]
	}
	return strings.TrimSpace(a)
}

func (h *Host) countEvent(msg events.Message) {
	k := EventKey{Type: string(msg.Type), Action: NormalizeAction(string(msg.Action))}
	h.mu.Lock()
	h.events[k]++
	h.mu.Unlock()
}

func (h *Host) apply(ctx context.Context, msg events.Message) error {
	ctx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
	defer cancel()
	action := NormalizeAction(string(msg.Action))
	switch msg.Type {
	case events.ContainerEventType:
		id := msg.Actor.ID
		switch {
		case action == "destroy":
			h.drop(id)
		case inspectOn[action]:
			c, err := h.inspect(ctx, id)
			if err != nil {
				return err
			}
			if c == nil {
				h.drop(id)
				return nil
			}
			h.upsert(c)
		}
	case events.ImageEventType:
		if imageChanges[action] {
			return h.refreshImages(ctx)
		}
	case events.DaemonEventType:
		if action == "reload" {
			return h.refreshInfo(ctx)
		}
	}
	return nil
}

func isNotFound(err error) bool {
	return cerrdefs.IsNotFound(err)
}
