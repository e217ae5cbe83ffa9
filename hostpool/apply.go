package hostpool

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// applier applies events to the cache concurrently across containers and
// in order for each one. An inspect waits for the daemon's lock on its
// container, which `docker start` holds until the start ends: applied one
// at a time, a burst of 20 parallel `docker run` kept every later event
// waiting behind it (create events reached subscribers 8 s late, median,
// 11 s at worst, on Docker 20.10); each container now waits only for its
// own. Events that are not about a container (image recounts, a daemon
// reload) keep their own order under one key.
type applier struct {
	h   *Host
	sem chan struct{} // calls in flight, as --docker.max-connections-per-host
	wg  sync.WaitGroup

	mu     sync.Mutex
	queues map[string][]events.Message // by key; present while a goroutine works the key
}

func newApplier(h *Host) *applier {
	return &applier{h: h, sem: make(chan struct{}, max(1, h.opts.MaxConcurrent)), queues: map[string][]events.Message{}}
}

func applyKey(msg events.Message) string {
	if msg.Type == events.ContainerEventType {
		return msg.Actor.ID
	}
	return "~" + string(msg.Type)
}

// submit queues msg behind earlier events of its key, or starts working
// the key. It never blocks: the follow loop must keep reading the buffer.
func (a *applier) submit(ctx context.Context, msg events.Message) {
	k := applyKey(msg)
	a.mu.Lock()
	if q, busy := a.queues[k]; busy {
		a.queues[k] = append(q, msg)
		a.mu.Unlock()
		return
	}
	a.queues[k] = nil
	a.mu.Unlock()
	a.wg.Add(1)
	go a.work(ctx, k, msg)
}

// work applies msg and then whatever queued behind it for the same key.
func (a *applier) work(ctx context.Context, k string, msg events.Message) {
	defer a.wg.Done()
	for {
		a.apply(ctx, msg)
		a.mu.Lock()
		q := a.queues[k]
		if len(q) == 0 {
			delete(a.queues, k)
			a.mu.Unlock()
			return
		}
		msg, a.queues[k] = q[0], q[1:]
		a.mu.Unlock()
	}
}

func (a *applier) apply(ctx context.Context, msg events.Message) {
	defer a.h.pending.add(-1)
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		// The session ended: its successor resyncs.
		a.h.publishDropped(msg)
		return
	}
	err := a.h.apply(ctx, msg)
	<-a.sem
	if err != nil && ctx.Err() == nil {
		// The cache may now be wrong about one container: re-list rather
		// than trust it, and let the resync surface a fault.
		a.h.countError(err)
		a.h.log.Warn("applying event failed, resyncing", "err", err)
		a.h.Resync()
	}
}

// wait returns once every submitted event has been applied. Only the
// follow loop submits, so nothing is submitted while it waits.
func (a *applier) wait() { a.wg.Wait() }

// inspectPatience is how long an event's inspect may wait before the list
// answers instead. The daemon holds a container's lock through a start or
// a stop, and an inspect waits for it (6 s for a create event in a burst of
// 20 parallel `docker run` on Docker 20.10); the list reads a snapshot
// without the lock, and the event that ends the start or stop inspects
// again without waiting.
const inspectPatience = 500 * time.Millisecond

// inspectOrList is inspect, or, when the daemon holds the container's lock
// past inspectPatience, the container as the list shows it over what was
// cached (old, may be nil): state, names, image, labels and ports are
// current, the rest waits for the next event or resync.
func (h *Host) inspectOrList(ctx context.Context, id string, old *Container) (*Container, error) {
	ictx, cancel := context.WithTimeout(ctx, inspectPatience)
	c, err := h.inspect(ictx, id)
	cancel()
	if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
		return c, err
	}
	f := client.Filters{}
	f = f.Add("id", id)
	list, err := call(ctx, h, fmt.Sprintf("list %.12s", id), func(ctx context.Context) (client.ContainerListResult, error) {
		return h.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	})
	if err != nil {
		return nil, err
	}
	for _, s := range list.Items {
		if s.ID == id {
			return fromSummary(s, old), nil
		}
	}
	return nil, nil
}

// fromSummary is old (or a new container) updated with what a list entry
// shows.
func fromSummary(s container.Summary, old *Container) *Container {
	c := &Container{}
	if old != nil {
		cp := *old
		c = &cp
	}
	c.ID, c.Image, c.ImageID, c.Labels = s.ID, s.Image, s.ImageID, s.Labels
	if len(s.Names) > 0 {
		c.Name = strings.TrimPrefix(s.Names[0], "/")
	}
	c.State = string(s.State)
	// What the list does not show must not contradict what it does.
	c.Paused, c.Restarting, c.Dead = c.State == "paused", c.State == "restarting", c.State == "dead"
	if !c.Running() && !c.Paused && !c.Restarting {
		c.Pid = 0
	}
	if code, ok := exitCode(s.Status); ok {
		c.ExitCode = code
	}
	c.Created = time.Unix(s.Created, 0)
	if s.HostConfig.NetworkMode != "" {
		c.NetworkMode = s.HostConfig.NetworkMode
	}
	c.ComposeProject = s.Labels["com.docker.compose.project"]
	c.ComposeService = s.Labels["com.docker.compose.service"]
	c.Health = ""
	if c.Running() {
		c.Health = strings.TrimPrefix(healthOf(s.Status), "/")
	}
	if c.Running() || len(s.Ports) > 0 {
		c.Published = nil
		for _, p := range s.Ports {
			if p.PublicPort == 0 {
				continue
			}
			if c.Published == nil {
				c.Published = map[string][]string{}
			}
			k := fmt.Sprintf("%d/%s", p.PrivatePort, p.Type)
			c.Published[k] = append(c.Published[k], strconv.Itoa(int(p.PublicPort)))
		}
	}
	return c
}

// exitCode reads the code from a list entry's status ("Exited (137) 2
// seconds ago").
func exitCode(status string) (int, bool) {
	rest, ok := strings.CutPrefix(status, "Exited (")
	if !ok {
		return 0, false
	}
	n, _, ok := strings.Cut(rest, ")")
	if !ok {
		return 0, false
	}
	code, err := strconv.Atoi(n)
	return code, err == nil
}
