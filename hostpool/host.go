package hostpool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/client"

	"github.com/snadboy/docker-monitor/config"
)

// Info is what the daemon says about itself; it changes rarely, so it is read
// on every (re)connect and resync, not on every scrape.
type Info struct {
	Version       string
	APIVersion    string
	OS            string
	KernelVersion string
	Architecture  string
	CPUs          int
	MemoryBytes   int64
	Images        int
}

// EventKey is the label pair docker_events_total is counted by.
type EventKey struct{ Type, Action string }

// Snapshot is a consistent copy of a host's cache for one scrape.
type Snapshot struct {
	Containers []*Container // sorted by name
	Info       Info
	StreamUp   bool
	// Synced is true once a full sync has succeeded: before that the cache
	// is empty, not a host without containers.
	Synced bool
	Events map[EventKey]float64
}

// Host is one Docker daemon: what the hosts file says of it, its client, its
// container cache and the event goroutine that keeps the cache current
// between scrapes.
type Host struct {
	config.Host // Alias is the host label of every series

	cli         *client.Client
	tr          *http.Transport
	closeDialer func()
	opts        Options
	log         *slog.Logger
	m           *Metrics

	mu         sync.RWMutex
	containers map[string]*Container
	info       Info
	streamUp   bool
	everSynced bool
	events     map[EventKey]float64

	synced   chan struct{} // closed once the first sync attempt ended
	syncOnce sync.Once
	resyncCh chan struct{}
	// wake ends a reconnect backoff early: a scrape's ping found the
	// daemon answering while the event stream is down.
	wake    chan struct{}
	pending atomic.Int64 // events read from the stream and not yet applied
	done    chan struct{}
	// closed is set when the host leaves the pool: a scrape still in flight
	// must not bring back the series that leaving deleted.
	closed *atomic.Bool
}

// newHost sets up a host without connecting. It cannot fail: a host whose
// files do not load is down with a reason once it runs (see newClient).
func newHost(hc config.Host, opts Options, m *Metrics, log *slog.Logger) *Host {
	log = log.With("host", hc.Alias)
	closed := new(atomic.Bool)
	cli, tr, closeDialer := newClient(hc, opts, m, log, closed)
	return &Host{
		Host:        hc,
		cli:         cli,
		tr:          tr,
		closeDialer: closeDialer,
		opts:        opts,
		log:         log,
		m:           m,
		containers:  map[string]*Container{},
		events:      map[EventKey]float64{},
		synced:      make(chan struct{}),
		resyncCh:    make(chan struct{}, 1),
		wake:        make(chan struct{}, 1),
		done:        make(chan struct{}),
		closed:      closed,
	}
}

// Synced is closed once the host's first sync attempt has ended, whether it
// succeeded or not: a daemon that is down must not keep the exporter unready.
func (h *Host) Synced() <-chan struct{} { return h.synced }

func (h *Host) markSynced() { h.syncOnce.Do(func() { close(h.synced) }) }

// Snapshot copies what a scrape needs under one read lock.
func (h *Host) Snapshot() Snapshot {
	h.mu.RLock()
	defer h.mu.RUnlock()
	s := Snapshot{
		Containers: make([]*Container, 0, len(h.containers)),
		Info:       h.info,
		StreamUp:   h.streamUp,
		Synced:     h.everSynced,
		Events:     make(map[EventKey]float64, len(h.events)),
	}
	for _, c := range h.containers {
		s.Containers = append(s.Containers, c)
	}
	for k, v := range h.events {
		s.Events[k] = v
	}
	sort.Slice(s.Containers, func(i, j int) bool { return s.Containers[i].Name < s.Containers[j].Name })
	return s
}

// WaitEvents waits, at most until ctx ends, for events already read from the
// stream to be applied, so that a scrape right after `docker stop` sees the
// container exited.
func (h *Host) WaitEvents(ctx context.Context) {
	for h.pending.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// Ping checks the daemon answers and returns how long it took. A ping cut
// short by ctx, the scrape's own deadline, is not counted against the host:
// the deadline is the client's choice (a scrape timeout of 1 ms would
// otherwise count an error on every host), and a host that really hangs is
// counted by its event goroutine, whose calls have --docker.timeout.
func (h *Host) Ping(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	_, err := call(ctx, h, "ping", func(ctx context.Context) (client.PingResult, error) {
		return h.cli.Ping(ctx, client.PingOptions{})
	})
	d := time.Since(start)
	if err != nil {
		if ctx.Err() == nil {
			h.countError(err)
		}
		return d, err
	}
	h.mu.RLock()
	streamUp := h.streamUp
	h.mu.RUnlock()
	if !streamUp {
		// The cache is stale until the stream is back (a restarted daemon
		// has stopped its containers): reconnect now, not after the backoff.
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
	return d, nil
}

// ErrNotRunning is the answer to a stats call for a container that is gone
// or has stopped since the cache said it runs: churn, not a failure.
var ErrNotRunning = errors.New("container not running")

// Stats reads one resource-stats sample of a running container. one-shot
// makes the daemon answer from its latest sample instead of waiting for a
// second one to compute CPU deltas, which we do not need for counters.
func (h *Host) Stats(ctx context.Context, id string) (*Stats, error) {
	op := fmt.Sprintf("stats %.12s", id)
	res, err := call(ctx, h, op, func(ctx context.Context) (client.ContainerStatsResult, error) {
		return h.cli.ContainerStats(ctx, id, client.ContainerStatsOptions{})
	})
	if isNotFound(err) {
		return nil, fmt.Errorf("%s: %w", op, ErrNotRunning)
	}
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	// The daemon sends the sample in small chunks; reading it whole before
	// decoding costs less than letting the decoder refill per chunk.
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, h.callError(op+": read", err, nil)
	}
	// A container that stops while the daemon waits for its next sample
	// ends the answer with no body at all (Docker 20.10's ContainerStats
	// returns when the container's stats subscription closes); one that is
	// already stopped gets a sample with no read time.
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("%s: empty answer: %w", op, ErrNotRunning)
	}
	var s Stats
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, h.callError(op+": decode", err, nil)
	}
	if s.Read.IsZero() {
		return nil, fmt.Errorf("%s: %w", op, ErrNotRunning)
	}
	return &s, nil
}

// Resync asks the event goroutine for a full re-list at its next chance.
func (h *Host) Resync() {
	select {
	case h.resyncCh <- struct{}{}:
	default:
	}
}

func (h *Host) setStreamUp(up bool) {
	h.mu.Lock()
	h.streamUp = up
	h.mu.Unlock()
}

func (h *Host) countError(err error) {
	if !h.closed.Load() {
		h.m.ConnectionErrors.WithLabelValues(h.Alias, Reason(err)).Inc()
	}
}

// CountStatsError counts a running container left out of a scrape's stats.
func (h *Host) CountStatsError(reason string) {
	if !h.closed.Load() {
		h.m.StatsErrors.WithLabelValues(h.Alias, reason).Inc()
	}
}

func (h *Host) upsert(c *Container) {
	h.mu.Lock()
	_, known := h.containers[c.ID]
	h.containers[c.ID] = c
	h.mu.Unlock()
	if !known {
		h.m.ContainersDiscovered.WithLabelValues(h.Alias).Inc()
	}
}

func (h *Host) drop(id string) {
	h.mu.Lock()
	delete(h.containers, id)
	h.mu.Unlock()
}

func (h *Host) close() {
	h.closed.Store(true)
	h.tr.CloseIdleConnections()
	_ = h.cli.Close()
	h.closeDialer()
	h.m.forget(h.Alias)
}

// ShortID is the 12-character form of an ID that docker ps shows.
func ShortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
