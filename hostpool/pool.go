// Package hostpool holds one entry per Docker host: its API client, a
// container cache kept current by the daemon's event stream, the host's
// health, and the reconnect-and-resync loop that recovers from faults.
package hostpool

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/snadboy/docker-monitor/config"
)

// Options are the settings every host entry shares.
type Options struct {
	Timeout           time.Duration // per API call, and for connecting
	DiscoveryInterval time.Duration // full resync period
	// StreamCheckInterval is the period of the check that the event stream
	// still delivers (0: off); see checkStream.
	StreamCheckInterval time.Duration
	EventBuffer         int // events waiting to be applied
	MaxConcurrent       int // API calls in flight per host (max_connections_per_host)
	PoolSize            int // API calls in flight over all hosts (connection_pool_size; 0: unbounded)
	Backoff             Backoff
	StatsConcurrency    int           // stats calls in flight per host in one round
	StatsMaxAge         time.Duration // a round this recent is reused (0: only share one in flight)
	EventHistory        int           // feed events kept for late subscribers
	// StatsSource is StatsAuto, StatsAPI or StatsCgroup; LocalStats reads
	// the cgroup files for local hosts (nil: every host uses the API).
	StatsSource string
	LocalStats  LocalStats
	// TracerProvider traces resyncs, stats rounds and every Engine API call
	// (through the Docker client's own instrumentation); nil is the no-op
	// provider, which creates no span, and the client's instrumentation is
	// skipped altogether.
	TracerProvider trace.TracerProvider

	pool    chan struct{}
	tracing bool // TracerProvider was given
}

// DefaultOptions are the design spec's defaults, except the connection
// limits: Docker 20.10 answers a one-shot stats call only at the next tick
// of its once-a-second collector, so 5 calls in flight per host (the spec)
// would take 10 s for 50 containers. 50 per host lets one scrape read them
// all in one tick; 200 in all covers four such hosts at once.
var DefaultOptions = Options{
	Timeout:             30 * time.Second,
	DiscoveryInterval:   60 * time.Second,
	StreamCheckInterval: 10 * time.Second,
	EventBuffer:         1000,
	MaxConcurrent:       50,
	PoolSize:            200,
	Backoff:             DefaultBackoff,
	StatsConcurrency:    50,
	EventHistory:        1000,
}

// Pool is the set of watched hosts; Apply changes it while it runs.
type Pool struct {
	opts Options
	m    *Metrics
	log  *slog.Logger
	feed *Feed

	mu      sync.Mutex
	ctx     context.Context
	entries map[string]*entry
	hosts   []*Host // sorted by name
}

type entry struct {
	host   *Host
	cancel context.CancelFunc
}

// New builds a pool of the enabled hosts; nothing connects until Start.
// It fails only if two hosts have one alias: a host that cannot be set up
// is down with a reason instead, and holds up no other.
func New(hosts []config.Host, opts Options, m *Metrics, log *slog.Logger) (*Pool, error) {
	if opts.PoolSize > 0 {
		opts.pool = make(chan struct{}, opts.PoolSize)
	}
	p := &Pool{opts: opts, m: m, log: log, feed: newFeed(opts.EventHistory), entries: map[string]*entry{}}
	if err := checkAliases(hosts); err != nil {
		return nil, err
	}
	for _, hc := range hosts {
		if hc.Enabled {
			p.entries[hc.Alias] = &entry{host: newHost(hc, opts, m, p.feed, log)}
		}
	}
	p.sortHosts()
	return p, nil
}

func checkAliases(hosts []config.Host) error {
	seen := map[string]bool{}
	for _, h := range hosts {
		if seen[h.Alias] {
			return fmt.Errorf("host %s: named twice", h.Alias)
		}
		seen[h.Alias] = true
	}
	return nil
}

// Start runs every host's event goroutine until Stop.
func (p *Pool) Start(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ctx = ctx
	for _, e := range p.entries {
		p.startEntry(e)
	}
}

func (p *Pool) startEntry(e *entry) {
	ctx, cancel := context.WithCancel(p.ctx)
	e.cancel = cancel
	go e.host.run(ctx)
}

func (p *Pool) stopEntry(e *entry) {
	if e.cancel != nil {
		e.cancel()
		<-e.host.done
	}
	e.host.close()
	p.feed.publish(Event{Kind: KindHostRemoved, Host: e.host.Alias})
}

// Stop ends the event goroutines and closes the clients.
func (p *Pool) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.entries {
		p.stopEntry(e)
	}
	p.entries = map[string]*entry{}
	p.hosts = nil
}

// Apply makes the pool watch exactly the enabled hosts: added hosts
// connect, removed hosts close (and their series go), changed hosts
// reconnect from scratch, and unchanged hosts keep their connection, cache
// and counters. It changes nothing if two hosts have one alias.
func (p *Pool) Apply(hosts []config.Host) error {
	if err := checkAliases(hosts); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fresh := map[string]*entry{}
	keep := map[string]bool{}
	for _, hc := range hosts {
		if !hc.Enabled {
			continue
		}
		keep[hc.Alias] = true
		// Any change, however small, reconnects: the entry is the
		// whole description of how to reach the host.
		if old, ok := p.entries[hc.Alias]; ok && reflect.DeepEqual(old.host.Host, hc) {
			continue
		}
		fresh[hc.Alias] = &entry{host: newHost(hc, p.opts, p.m, p.feed, p.log)}
	}
	for name, old := range p.entries {
		if _, replaced := fresh[name]; replaced || !keep[name] {
			p.stopEntry(old)
			delete(p.entries, name)
			p.log.Info("docker host removed from the pool", "host", name)
		}
	}
	for name, e := range fresh {
		p.entries[name] = e
		if p.ctx != nil {
			p.startEntry(e)
		}
	}
	p.sortHosts()
	return nil
}

func (p *Pool) sortHosts() {
	p.hosts = p.hosts[:0]
	for _, e := range p.entries {
		p.hosts = append(p.hosts, e.host)
	}
	sort.Slice(p.hosts, func(i, j int) bool { return p.hosts[i].Alias < p.hosts[j].Alias })
}

// Subscribe follows the pool's feed with a queue of size events: every
// event of every host once applied, container updates, host status changes
// and hosts leaving. Close the subscription when done.
func (p *Pool) Subscribe(size int) *Subscription { return p.feed.Subscribe(size) }

// SubscribeWith follows the feed as o says, and returns the kept events
// (the last Options.EventHistory) o.Replay picks.
func (p *Pool) SubscribeWith(o SubscribeOptions) (*Subscription, Replay) {
	return p.feed.SubscribeWith(o)
}

// Host returns the host named alias, or nil.
func (p *Pool) Host(alias string) *Host {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.entries[alias]; ok {
		return e.host
	}
	return nil
}

// Hosts returns the hosts sorted by name.
func (p *Pool) Hosts() []*Host {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*Host(nil), p.hosts...)
}

// Ready reports whether every host has ended its first sync attempt.
func (p *Pool) Ready() bool {
	for _, h := range p.Hosts() {
		select {
		case <-h.Synced():
		default:
			return false
		}
	}
	return true
}
