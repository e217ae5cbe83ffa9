package collector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/snadboy/docker-monitor/hostpool"
)

// probeParam is the query parameter of /probe that names the host, as
// blackbox_exporter's: Prometheus sets it from __param_target.
const probeParam = "target"

// maxEchoedTarget bounds how much of an unknown target a 400 repeats: the
// query string is the client's, and a log or a terminal showing the answer
// should not get a megabyte of it back.
const maxEchoedTarget = 128

// ProbeHandler serves /probe?target=<alias>, the multi-target pattern of
// blackbox_exporter: the Docker metrics of the one host of the pool with
// that alias, so that Prometheus's own service discovery and hashmod
// relabelling can split a fleet across exporter replicas and Prometheus
// servers, each host scraped by one of them.
//
// A probe serves what the host's scrape produces, through the same
// collectors as /metrics: the docker_*, revp_* and
// docker_monitor_scrape_collector_* series of that host. The process-wide
// registry (build info, Go and process metrics, the docker_monitor_*
// instruments of every host) is left to /metrics, as blackbox_exporter
// leaves its own metrics out of /probe: Prometheus labels a probe's series
// with the target as instance, under which the exporter's own would be
// wrong and repeated once per host. The deadline comes from the same header
// and options as /metrics, and the host's stats round is shared with any
// scrape or probe of the same host that overlaps it.
func (e *Exporter) ProbeHandler(o HandlerOptions, errLog promhttp.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, err := e.probeTarget(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		serveScrape(w, r, o, errLog, func(ctx context.Context) prometheus.Gatherer { return e.probeRegistry(ctx, h) })
	})
}

// probeRegistry is a registry of one probe: the scrape bound to its
// deadline, restricted to host h.
func (e *Exporter) probeRegistry(ctx context.Context, h *hostpool.Host) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&scrape{e: e, ctx: ctx, hosts: []*hostpool.Host{h}})
	return reg
}

// errNoTarget answers a probe without a target, in blackbox_exporter's words.
var errNoTarget = errors.New("target parameter is missing: /probe?target=<host alias from the hosts file>")

// probeTarget returns the host a probe names. Every error is the client's:
// a query that does not parse, no target or more than one, or an alias
// that is not a host of the pool (absent from the hosts file, or disabled).
func (e *Exporter) probeTarget(r *http.Request) (*hostpool.Host, error) {
	// ParseQuery rather than URL.Query, which drops what does not parse:
	// a target cut at a bad escape would probe another host.
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("bad query string: %w", err)
	}
	targets := q[probeParam]
	switch {
	case len(targets) == 0 || len(targets) == 1 && targets[0] == "":
		return nil, errNoTarget
	case len(targets) > 1:
		return nil, fmt.Errorf("target parameter given %d times: a probe is of one host", len(targets))
	}
	alias := targets[0]
	h := e.pool.Host(alias)
	if h == nil {
		return nil, fmt.Errorf("unknown target %q: no enabled Docker host of the exporter has that alias", truncate(alias, maxEchoedTarget))
	}
	return h, nil
}

// truncate cuts s to at most n bytes, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
