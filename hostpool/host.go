package hostpool

import (
	"context"
	"encoding/json"
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
	Connected  bool // the last call to the daemon succeeded
	StreamUp   bool
	// Synced is true once a full sync has succeeded: before that the cache
	// is empty, not a host without containers.
	Synced bool
	Events map[EventKey]float64
}

// Host is one Docker daemon: its client, its container cache and the event
// goroutine that keeps the cache current between scrapes.
type Host struct {
	Name        string
	Connection  string // local, ssh or tcp
	Endpoint    string
	BackendHost string            // where the host's published ports are reached
	Labels      map[string]string // from the hosts file, for docker_host_info

	cli         *client.Client
	tr          *http.Transport
	dialErrs    *dialErrors
	closeDialer func()
	opts        Options
	log         *slog.Logger
	m           *Metrics

	mu         sync.RWMutex
	containers map[string]*Container
	info       Info
	connected  bool
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

func newHost(spec Spec, opts Options, m *Metrics, log *slog.Logger) (*Host, error) {
	if spec.Connection == "" {
		// Only an endpoint given: a unix:// or plain tcp:// daemon.
		s, err := SpecFromEndpoint(spec.Name, spec.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("host %s: %w", spec.Name, err)
		}
		s.BackendHost, s.Labels, s.MaxConnections = spec.BackendHost, spec.Labels, spec.MaxConnections
		spec = s
	}
	log = log.With("host", spec.Name)
	closed := new(atomic.Bool)
	cli, tr, dialErrs, closeDialer, err := newClient(spec, opts, m, log, closed)
	if err != nil {
		return nil, err
	}
	backend := spec.BackendHost
	if backend == "" {
		backend = DefaultBackendHost(spec.Endpoint)
	}
	return &Host{
		Name:        spec.Name,
		Connection:  spec.Connection,
		Endpoint:    spec.Endpoint,
		BackendHost: backend,
		Labels:      spec.Labels,
		cli:         cli,
		tr:          tr,
		dialErrs:    dialErrs,
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
	}, nil
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
		Connected:  h.connected,
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

// Ping checks the daemon answers and returns how long it took.
func (h *Host) Ping(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	_, err := h.cli.Ping(ctx, client.PingOptions{})
	d := time.Since(start)
	h.setConnected(err == nil)
	if err != nil {
		h.countError(err)
		return d, fmt.Errorf("host %s: ping: %w", h.Name, err)
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

// Stats reads one resource-stats sample of a running container. one-shot
// makes the daemon answer from its latest sample instead of waiting for a
// second one to compute CPU deltas, which we do not need for counters.
func (h *Host) Stats(ctx context.Context, id string) (*Stats, error) {
	res, err := h.cli.ContainerStats(ctx, id, client.ContainerStatsOptions{})
	if err != nil {
		return nil, fmt.Errorf("host %s: stats %.12s: %w", h.Name, id, err)
	}
	defer res.Body.Close()
	// The daemon sends the sample in small chunks; reading it whole before
	// decoding costs less than letting the decoder refill per chunk.
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("host %s: stats %.12s: read: %w", h.Name, id, err)
	}
	var s Stats
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("host %s: stats %.12s: decode: %w", h.Name, id, err)
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

func (h *Host) setConnected(ok bool) {
	h.mu.Lock()
	h.connected = ok
	h.mu.Unlock()
}

func (h *Host) setStreamUp(up bool) {
	h.mu.Lock()
	h.streamUp = up
	h.mu.Unlock()
}

func (h *Host) countError(err error) {
	if !h.closed.Load() {
		h.m.ConnectionErrors.WithLabelValues(h.Name, h.dialErrs.reason(err)).Inc()
	}
}

// CountStatsError counts a running container left out of a scrape's stats.
func (h *Host) CountStatsError(reason string) {
	if !h.closed.Load() {
		h.m.StatsErrors.WithLabelValues(h.Name, reason).Inc()
	}
}

// connect negotiates the API version (again on every reconnect: the daemon
// may have been upgraded while away) and reads the daemon's description.
func (h *Host) connect(ctx context.Context) error {
	if _, err := h.cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true, ForceNegotiate: true}); err != nil {
		return fmt.Errorf("host %s: ping: %w", h.Name, err)
	}
	return h.refreshInfo(ctx)
}

func (h *Host) refreshInfo(ctx context.Context) error {
	v, err := h.cli.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return fmt.Errorf("host %s: version: %w", h.Name, err)
	}
	in, err := h.cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return fmt.Errorf("host %s: info: %w", h.Name, err)
	}
	h.mu.Lock()
	h.info = Info{
		Version:       v.Version,
		APIVersion:    v.APIVersion,
		OS:            in.Info.OperatingSystem,
		KernelVersion: in.Info.KernelVersion,
		Architecture:  in.Info.Architecture,
		CPUs:          in.Info.NCPU,
		MemoryBytes:   in.Info.MemTotal,
		Images:        in.Info.Images,
	}
	h.connected = true
	h.mu.Unlock()
	return nil
}

// refreshImages recounts images after an image event; Info would count them
// too but costs the daemon far more (it execs runc and containerd to report
// their versions).
func (h *Host) refreshImages(ctx context.Context) error {
	res, err := h.cli.ImageList(ctx, client.ImageListOptions{All: true})
	if err != nil {
		return fmt.Errorf("host %s: list images: %w", h.Name, err)
	}
	h.mu.Lock()
	h.info.Images = len(res.Items)
	h.mu.Unlock()
	return nil
}

// resync re-lists every container and replaces the cache, so that whatever
// happened while the stream was down (or events were dropped) is corrected.
func (h *Host) resync(ctx context.Context) error {
	start := time.Now()
	list, err := h.cli.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return fmt.Errorf("host %s: list containers: %w", h.Name, err)
	}
	fresh := make(map[string]*Container, len(list.Items))
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
		sem      = make(chan struct{}, max(1, h.opts.MaxConcurrent))
	)
	for _, item := range list.Items {
		wg.Add(1)
		sem <- struct{}{}
		go func(id string) {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := h.inspect(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && firstErr == nil:
				firstErr = err
			case c != nil:
				fresh[id] = c
			}
		}(item.ID)
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := h.refreshInfo(ctx); err != nil {
		return err
	}
	h.mu.Lock()
	added := 0
	for id := range fresh {
		if _, ok := h.containers[id]; !ok {
			added++
		}
	}
	h.containers = fresh
	h.everSynced = true
	h.mu.Unlock()
	h.m.ContainersDiscovered.WithLabelValues(h.Name).Add(float64(added))
	h.m.DiscoveryDuration.WithLabelValues(h.Name).Observe(time.Since(start).Seconds())
	h.log.Debug("resynced", "containers", len(fresh), "new", added, "duration", time.Since(start))
	return nil
}

// inspect returns nil, nil for a container that is already gone.
func (h *Host) inspect(ctx context.Context, id string) (*Container, error) {
	res, err := h.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("host %s: inspect %.12s: %w", h.Name, id, err)
	}
	return fromInspect(res.Container), nil
}

func (h *Host) upsert(c *Container) {
	h.mu.Lock()
	_, known := h.containers[c.ID]
	h.containers[c.ID] = c
	h.mu.Unlock()
	if !known {
		h.m.ContainersDiscovered.WithLabelValues(h.Name).Inc()
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
	h.m.forget(h.Name)
}

// ShortID is the 12-character form of an ID that docker ps shows.
func ShortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
