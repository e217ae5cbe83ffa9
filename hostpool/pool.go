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
	MaxConcurrent     int           // API calls in flight per host
	Backoff           Backoff
}

// DefaultOptions are the design spec's defaults.
var DefaultOptions = Options{
	Timeout:           30 * time.Second,
	DiscoveryInterval: 60 * time.Second,
	EventBuffer:       1000,
	MaxConcurrent:     50,
	Backoff:           DefaultBackoff,
}

// Spec names one host to watch.
type Spec struct {
	Name     string // the host label
	Endpoint string // a DOCKER_HOST-style URI
	// BackendHost is the address at which the host's published ports are
	// reached; empty: DefaultBackendHost(Endpoint).
	BackendHost string
}

// Pool is the set of watched hosts.
type Pool struct {
	hosts  []*Host
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a pool; nothing connects until Start.
func New(specs []Spec, opts Options, m *Metrics, log *slog.Logger) (*Pool, error) {
	p := &Pool{log: log}
	seen := map[string]bool{}
	for _, s := range specs {
		if seen[s.Name] {
			return nil, fmt.Errorf("host %s: named twice", s.Name)
		}
		seen[s.Name] = true
		h, err := newHost(s.Name, s.Endpoint, opts, m, log)
		if err != nil {
			return nil, err
		}
		h.BackendHost = s.BackendHost
		if h.BackendHost == "" {
			h.BackendHost = DefaultBackendHost(s.Endpoint)
		}
		p.hosts = append(p.hosts, h)
	}
	sort.Slice(p.hosts, func(i, j int) bool { return p.hosts[i].Name < p.hosts[j].Name })
	return p, nil
}

// Start runs every host's event goroutine until Stop.
func (p *Pool) Start(ctx context.Context) {
	ctx, p.cancel = context.WithCancel(ctx)
	for _, h := range p.hosts {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			h.run(ctx)
		}()
	}
}

// Stop ends the event goroutines and closes the clients.
func (p *Pool) Stop() {
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	for _, h := range p.hosts {
		h.close()
	}
}

// Hosts returns the hosts sorted by name.
func (p *Pool) Hosts() []*Host { return p.hosts }

// Ready reports whether every host has ended its first sync attempt.
func (p *Pool) Ready() bool {
	for _, h := range p.hosts {
		select {
		case <-h.Synced():
		default:
			return false
		}
	}
	return true
}

// DefaultBackendHost is where a host's published ports are reached when
// nothing says otherwise: the loopback address for the local daemon, else
// the daemon's host name.
func DefaultBackendHost(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme == "unix" || u.Hostname() == "" {
		return "127.0.0.1"
	}
	return u.Hostname()
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
