package hostpool

import (
	"context"
	"errors"
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
		if ctx.Err() != nil {
			// Leaving the pool or shutting down: not the host's fault.
			h.markSynced()
			return
		}
		// Recorded before the feed says the host is down, so that whoever
		// reads the host's status on that news finds the reason.
		h.countError(err)
		h.setStreamUp(false, err)
		h.markSynced()
		if errors.Is(err, ErrStreamStalled) {
			// The daemon answered the check that found the stall: reconnect
			// at once. A new session checks only after a full interval, so
			// this repeats at most once per --events.check-interval.
			h.log.Warn("docker host event stream stalled, reconnecting", "err", err)
			continue
		}
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
	raw := &rawErr{}
	stream, err := h.openEvents(context.WithValue(ctx, rawErrKey{}, raw), client.EventsListOptions{Filters: f})
	if err != nil {
		return h.callError("event stream", err, raw.get())
	}
	buf := make(chan events.Message, max(1, h.opts.EventBuffer))
	streamErr := make(chan error, 1)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		h.readEvents(ctx, stream, buf, streamErr)
	}()
	ap := newApplier(h)
	defer func() {
		// Events read and never applied must not count as pending after
		// the session: every scrape would wait for them in vain.
		cancel()
		<-readerDone
		ap.wait()
		for len(buf) > 0 {
			h.publishDropped(<-buf)
			h.pending.add(-1)
		}
	}()

	if err := h.timedResync(ctx); err != nil {
		return err
	}
	h.setStreamUp(true, nil)
	h.markSynced()
	connected()
	h.log.Info("docker host connected", "endpoint", h.Endpoint)
	return h.follow(ctx, ap, buf, func(err error) error { return h.callError("event stream", err, raw.get()) }, streamErr)
}

// follow applies events and resyncs until the stream breaks, stalls or a
// resync fails, and returns why.
func (h *Host) follow(ctx context.Context, ap *applier, buf <-chan events.Message, describe func(error) error, streamErr <-chan error) error {
	tick := time.NewTicker(h.opts.DiscoveryInterval)
	defer tick.Stop()
	var (
		check    streamCheck
		checkDue <-chan time.Time // nil (never) when the check is off
	)
	if h.opts.StreamCheckInterval > 0 {
		checkDue = time.After(h.opts.StreamCheckInterval)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-streamErr:
			return describe(err)
		case msg := <-buf:
			ap.submit(ctx, msg)
		case <-checkDue:
			// Events read but not applied yet would look like a stall.
			if len(buf) == 0 && h.pending.zero() {
				if err := check.run(ctx, h); err != nil {
					return err
				}
			}
			checkDue = time.After(check.due(h.opts.StreamCheckInterval))
		case <-tick.C:
			if err := h.resyncAfter(ctx, ap); err != nil {
				return err
			}
		case <-h.resyncCh:
			if err := h.resyncAfter(ctx, ap); err != nil {
				return err
			}
		}
	}
}

// openEvents opens the event stream within --docker.timeout. The client's
// Events waits for the answer's headers under the stream's own context,
// which has no deadline: a daemon (or a network) that takes the request and
// never answers would hold the host's goroutine for ever. On a timeout the
// session ends, and its context with it the wait.
func (h *Host) openEvents(ctx context.Context, opts client.EventsListOptions) (client.EventsResult, error) {
	opened := make(chan client.EventsResult, 1)
	go func() { opened <- h.cli.Events(ctx, opts) }()
	t := time.NewTimer(h.opts.Timeout)
	defer t.Stop()
	select {
	case s := <-opened:
		return s, nil
	case <-t.C:
		return client.EventsResult{}, fmt.Errorf("no answer in %s: %w", h.opts.Timeout, context.DeadlineExceeded)
	}
}

// resyncAfter resyncs once the events being applied are: an inspect that
// started before the re-list and ended after it would put back what the
// re-list corrected.
func (h *Host) resyncAfter(ctx context.Context, ap *applier) error {
	ap.wait()
	return h.timedResync(ctx)
}

func (h *Host) timedResync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
	defer cancel()
	return h.resync(ctx)
}

// readEvents moves events from the client into the bounded buffer. When the
// buffer is full the event is dropped, counted, published as dropped (its
// subscribers still see it happened) and a resync is scheduled: the cache
// catches up from the daemon instead of the reader blocking the stream.
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
			h.mu.Lock()
			h.status.LastEvent = time.Now()
			h.mu.Unlock()
			// Counted against the events waiting in the buffer and in the
			// applier's queues alike: the buffer empties into the queues at
			// once, and the bound is on what waits, wherever it waits. The
			// buffer holds as many as the bound, so the send never blocks.
			if h.pending.tryAdd(cap(buf)) {
				buf <- msg
				continue
			}
			h.m.EventsDropped.WithLabelValues(h.Alias).Inc()
			h.publishDropped(msg)
			h.Resync()
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

// publishDropped publishes an event that will not be applied (the buffer
// was full, or its session ended first): it happened, and whoever counts
// events must count it; a resync publishes what it changed.
func (h *Host) publishDropped(msg events.Message) {
	e := h.event(msg)
	e.Dropped = true
	h.feed.publish(e)
}

// event is msg as the feed publishes it.
func (h *Host) event(msg events.Message) Event {
	e := Event{
		Kind: KindDockerEvent, Host: h.Alias, Type: string(msg.Type), Action: string(msg.Action),
		ActorID: msg.Actor.ID, Name: msg.Actor.Attributes["name"], Attributes: msg.Actor.Attributes,
		Time: time.Unix(0, msg.TimeNano),
	}
	if msg.TimeNano == 0 {
		e.Time = time.Unix(msg.Time, 0)
	}
	return e
}

// apply brings the cache up to date with msg and then publishes it, with
// the container as now cached and, if its state or health changed, the
// change. An event that fails to apply is published as dropped, with the
// container as it was: it happened, and the resync that follows publishes
// what changed.
func (h *Host) apply(ctx context.Context, msg events.Message) error {
	ctx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
	defer cancel()
	e := h.event(msg)
	var old *Container
	if msg.Type == events.ContainerEventType {
		h.mu.RLock()
		old = h.containers[msg.Actor.ID]
		h.mu.RUnlock()
		e.Container = old // until the event changes it
	}
	if err := h.applyToCache(ctx, msg, &e); err != nil {
		e.Container, e.Dropped = old, true
		h.feed.publish(e)
		return err
	}
	h.feed.publish(e)
	h.changed(old, e.Container)
	return nil
}

func (h *Host) applyToCache(ctx context.Context, msg events.Message, e *Event) error {
	action := NormalizeAction(string(msg.Action))
	switch msg.Type {
	case events.ContainerEventType:
		id := msg.Actor.ID
		switch {
		case action == "destroy":
			h.drop(id)
			e.Container = nil
		case inspectOn[action]:
			c, err := h.inspectOrList(ctx, id, e.Container)
			if err != nil {
				return err
			}
			if c == nil {
				h.drop(id)
			} else {
				h.upsert(c)
			}
			e.Container = c
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
