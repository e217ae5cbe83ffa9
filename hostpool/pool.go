// Package hostpool holds one entry per Docker host: its API client, a
// container cache kept current by the daemon's event stream, the host's
// health, and the reconnect-and-resync loop that recovers from faults.
package hostpool

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"sync"
	"time"
)

// Options are the settings every host entry shares.
type Options struct {
	Timeout           time.Duration // per API call, and for connecting
	DiscoveryInterval time.Duration // full resync period
	EventBuffer       int           // events waiting to be applied
	MaxConcurrent     int           // API calls in flight per host (max_connections_per_host)
	PoolSize          int           // API calls in flight over all hosts (connection_pool_size; 0: unbounded)
	Backoff           Backoff

	pool chan struct{}
}

// DefaultOptions are the design spec's defaults, except the connection
// limits: Docker 20.10 answers a one-shot stats call only at the next tick
// of its once-a-second collector, so 5 calls in flight per host (the spec)
// would take 10 s for 50 containers. 50 per host lets one scrape read them
// all in one tick; 200 in all covers four such hosts at once.
var DefaultOptions = Options{
	Timeout:           30 * time.Second,
	DiscoveryInterval: 60 * time.Second,
	EventBuffer:       1000,
	MaxConcurrent:     50,
	PoolSize:          200,
	Backoff:           DefaultBackoff,
}

// Pool is the set of watched hosts; Apply changes it while it runs.
type Pool struct {
	opts Options
	m    *Metrics
	log  *slog.Logger

	mu      sync.Mutex
	ctx     context.Context
	entries map[string]*entry
	hosts   []*Host // sorted by name
}

type entry struct {
	spec   Spec
	host   *Host
	cancel context.CancelFunc
}

// New builds a pool; nothing connects until Start.
func New(specs []Spec, opts Options, m *Metrics, log *slog.Logger) (*Pool, error) {
	if opts.PoolSize > 0 {
		opts.pool = make(chan struct{}, opts.PoolSize)
	}
	p := &Pool{opts: opts, m: m, log: log, entries: map[string]*entry{}}
	if err := checkSpecs(specs); err != nil {
		return nil, err
	}
	for _, s := range specs {
		h, err := newHost(s, opts, m, log)
		if err != nil {
			p.closeAll()
			return nil, err
		}
		p.entries[s.Name] = &entry{spec: s, host: h}
	}
	p.sortHosts()
	return p, nil
}

func checkSpecs(specs []Spec) error {
	seen := map[string]bool{}
	for _, s := range specs {
		if seen[s.Name] {
			return fmt.Errorf("host %s: named twice", s.Name)
		}
		seen[s.Name] = true
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

func stopEntry(e *entry) {
	if e.cancel != nil {
		e.cancel()
		<-e.host.done
	}
	e.host.close()
}

// Stop ends the event goroutines and closes the clients.
func (p *Pool) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.entries {
		stopEntry(e)
	}
	p.entries = map[string]*entry{}
	p.hosts = nil
}

func (p *Pool) closeAll() {
	for _, e := range p.entries {
		e.host.close()
	}
}

// Apply makes the pool watch exactly specs: added hosts connect, removed
// hosts close (and their series go), changed hosts reconnect from scratch,
// and unchanged hosts keep their connection, cache and counters. Nothing
// changes if any new host cannot be set up.
func (p *Pool) Apply(specs []Spec) error {
	if err := checkSpecs(specs); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fresh := map[string]*entry{}
	for _, s := range specs {
		if old, ok := p.entries[s.Name]; ok && old.spec.equal(s) {
			continue
		}
		h, err := newHost(s, p.opts, p.m, p.log)
		if err != nil {
			for _, e := range fresh {
				e.host.close()
			}
			return err
		}
		fresh[s.Name] = &entry{spec: s, host: h}
	}
	keep := map[string]bool{}
	for _, s := range specs {
		keep[s.Name] = true
	}
	for name, old := range p.entries {
		if _, replaced := fresh[name]; replaced || !keep[name] {
			stopEntry(old)
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
	sort.Slice(p.hosts, func(i, j int) bool { return p.hosts[i].Name < p.hosts[j].Name })
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

// DefaultName derives a host label from a DOCKER_HOST-style URI: "local" for
// a unix socket, else the host name.
func DefaultName(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme == "unix" || u.Hostname() == "" {
		return "local"
	}
	return u.Hostname()
}
