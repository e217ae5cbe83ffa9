package hostpool

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/client"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/revp"
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

// Snapshot is a consistent copy of a host's cache for one scrape.
type Snapshot struct {
	Containers []*Container // sorted by name
	Info       Info
	StreamUp   bool
	// Synced is true once a full sync has succeeded: before that the cache
	// is empty, not a host without containers.
	Synced bool
	Status Status
}

// Status is what the host's goroutines last saw of the daemon, for the API:
// no call is made to read it.
type Status struct {
	LastEvent time.Time     // last event read from the stream
	LastSync  time.Time     // last full resync that succeeded
	LastErr   error         // last failed call or stream break (nil: none yet)
	LastErrAt time.Time     //
	Ping      time.Duration // the last ping that answered
	PingAt    time.Time
}

// RevPHost is the snapshot's containers as the route table reads them,
// reached at address.
func (s Snapshot) RevPHost(name, address string) revp.Host {
	h := revp.Host{Name: name, Address: address, Containers: make([]revp.Container, len(s.Containers))}
	for i, c := range s.Containers {
		h.Containers[i] = c.RevP()
	}
	return h
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
	tracer      trace.Tracer

	mu         sync.RWMutex
	containers map[string]*Container
	info       Info
	streamUp   bool
	everSynced bool
	status     Status

	feed  *Feed
	stats statsRounds
	local localSource

	synced   chan struct{} // closed once the first sync attempt ended
	syncOnce sync.Once
	resyncCh chan struct{}
	// wake ends a reconnect backoff early: a scrape's ping found the
	// daemon answering while the event stream is down.
	wake    chan struct{}
	pending pending // events read from the stream and not yet applied
	done    chan struct{}
	// closed is set when the host leaves the pool: a scrape still in flight
	// must not bring back the series that leaving deleted.
	closed *atomic.Bool
}

// newHost sets up a host without connecting. It cannot fail: a host whose
// files do not load is down with a reason once it runs (see newClient).
func newHost(hc config.Host, opts Options, m *Metrics, feed *Feed, log *slog.Logger) *Host {
	log = log.With("host", hc.Alias)
	closed := new(atomic.Bool)
	opts.tracing = opts.TracerProvider != nil
	if !opts.tracing {
		opts.TracerProvider = noop.NewTracerProvider()
	}
	cli, tr, closeDialer := newClient(hc, opts, m, log, closed)
	h := &Host{
		tracer:      opts.TracerProvider.Tracer(TracerName),
		Host:        hc,
		cli:         cli,
		tr:          tr,
		closeDialer: closeDialer,
		opts:        opts,
		log:         log,
		m:           m,
		containers:  map[string]*Container{},
		feed:        feed,
		synced:      make(chan struct{}),
		resyncCh:    make(chan struct{}, 1),
		wake:        make(chan struct{}, 1),
		done:        make(chan struct{}),
		closed:      closed,
	}
	h.initLocal()
	return h
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
		Status:     h.status,
	}
	for _, c := range h.containers {
		s.Containers = append(s.Containers, c)
	}
	sort.Slice(s.Containers, func(i, j int) bool { return s.Containers[i].Name < s.Containers[j].Name })
	return s
}

// WaitEvents waits, at most until ctx ends, for events already read from the
// stream to be applied, so that a scrape right after `docker stop` sees the
// container exited.
func (h *Host) WaitEvents(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-h.pending.idle():
	}
}

// pending counts events read from the stream and not applied yet, and
// signals when none are left.
type pending struct {
	mu    sync.Mutex
	n     int
	empty chan struct{} // closed when n drops to 0; nil while nobody waits
}

// closedChan is what idle returns when nothing is pending.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// tryAdd counts one more event unless limit are pending already: the
// buffer and the applier's queues together hold at most --events.buffer.
func (p *pending) tryAdd(limit int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n >= limit {
		return false
	}
	p.n++
	return true
}

func (p *pending) add(d int) {
	p.mu.Lock()
	p.n += d
	if p.n == 0 && p.empty != nil {
		close(p.empty)
		p.empty = nil
	}
	p.mu.Unlock()
}

func (p *pending) zero() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n == 0
}

// idle is closed once nothing is pending.
func (p *pending) idle() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == 0 {
		return closedChan
	}
	if p.empty == nil {
		p.empty = make(chan struct{})
	}
	return p.empty
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
	h.mu.Lock()
	streamUp := h.streamUp
	h.status.Ping, h.status.PingAt = d, time.Now()
	h.mu.Unlock()
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

// Resync asks the event goroutine for a full re-list at its next chance.
func (h *Host) Resync() {
	select {
	case h.resyncCh <- struct{}{}:
	default:
	}
}

// setStreamUp records whether the cache is current, and tells the feed
// when that changes: err says why it went down.
func (h *Host) setStreamUp(up bool, err error) {
	h.mu.Lock()
	changed := h.streamUp != up
	h.streamUp = up
	h.mu.Unlock()
	if changed && !h.closed.Load() {
		h.feed.publish(Event{Kind: KindHostStatus, Host: h.Alias, Up: up, Err: err})
	}
}

func (h *Host) countError(err error) {
	h.mu.Lock()
	h.status.LastErr, h.status.LastErrAt = err, time.Now()
	h.mu.Unlock()
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

// upsert caches c and returns what it replaced (nil: a new container).
func (h *Host) upsert(c *Container) *Container {
	h.mu.Lock()
	old, known := h.containers[c.ID]
	h.containers[c.ID] = c
	h.mu.Unlock()
	if !known {
		h.m.ContainersDiscovered.WithLabelValues(h.Alias).Inc()
	}
	return old
}

// drop forgets a container and returns what was cached.
func (h *Host) drop(id string) *Container {
	h.mu.Lock()
	old := h.containers[id]
	delete(h.containers, id)
	h.mu.Unlock()
	return old
}

// changed publishes a container whose state or health differs from what
// was cached.
func (h *Host) changed(old, cur *Container) {
	if stateChanged(old, cur) {
		h.feed.publish(Event{Kind: KindContainerUpdate, Host: h.Alias, Container: cur, Previous: old})
	}
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
