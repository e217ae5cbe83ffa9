// Package collector turns the host pool into Prometheus metrics. Every
// scrape builds its metrics fresh: container state comes from each host's
// event-fed cache, resource stats from one-shot stats calls made inside the
// scrape's deadline, so a removed container's series vanish at once.
package collector

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/snadboy/docker-monitor/hostpool"
)

var (
	scrapeDurationDesc = prometheus.NewDesc("docker_monitor_scrape_collector_duration_seconds",
		"How long each collector took in this scrape.", []string{"collector"}, nil)
	scrapeSuccessDesc = prometheus.NewDesc("docker_monitor_scrape_collector_success",
		"1 if the collector finished for every host that was up in this scrape, 0 if any part failed or missed the deadline.", []string{"collector"}, nil)
)

// Options tune what a scrape reads.
type Options struct {
	// ContainerLabels are Docker label keys copied onto docker_container_info.
	ContainerLabels []string
	// EventWait bounds how long a scrape waits for already-received events
	// to be applied before it reads a host's cache.
	EventWait time.Duration
	// RevPPrefix is the RevP label prefix (default snadboy.revp).
	RevPPrefix string
	// RevPProbe enables HTTP probes of routes that have a health path.
	RevPProbe bool
	// RevPProbeTimeout bounds one probe (default 5s), inside the scrape deadline.
	RevPProbeTimeout time.Duration
	// RevPAllowedBackendHosts are the hosts, besides each Docker host's own
	// address, that a flat backend-host label may name; probes may then go
	// there. Whoever starts a container writes its labels, so any other
	// host is a label problem and never probed.
	RevPAllowedBackendHosts []string
	// TracerProvider traces each collection: a span per scrape or push, a
	// child per host. nil is the no-op provider, which creates no span.
	TracerProvider trace.TracerProvider
}

// tracerName names the instrumentation scope of the collector's spans.
const tracerName = "github.com/snadboy/docker-monitor/collector"

var attrCollector = attribute.Key("docker_monitor.collector")

// hostView is one host as one scrape sees it: a single ping decides whether
// it is up for every collector, so they never disagree within a scrape.
type hostView struct {
	host *hostpool.Host
	// ctx carries the host's span, the parent of every call made for the
	// host in this scrape; span ends when the scrape does.
	ctx     context.Context
	span    trace.Span
	snap    hostpool.Snapshot
	up      bool
	pingDur time.Duration
}

// concern is one group of metrics; each has its own descriptors and is
// timed and reported on its own, as node_exporter does per collector.
type concern interface {
	describe(ch chan<- *prometheus.Desc)
	update(ctx context.Context, views []*hostView, ch chan<- prometheus.Metric) error
}

// Exporter owns the concerns and the state scrapes share.
type Exporter struct {
	pool     *hostpool.Pool
	log      *slog.Logger
	opts     Options
	concerns map[string]concern
	events   *eventsConcern
	tracer   trace.Tracer
}

// New builds the exporter for a pool.
func New(pool *hostpool.Pool, m *hostpool.Metrics, opts Options, log *slog.Logger) (*Exporter, error) {
	cc, err := newContainerConcern(opts.ContainerLabels)
	if err != nil {
		return nil, err
	}
	ec := newEventsConcern(pool, log)
	tp := opts.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return &Exporter{
		tracer: tp.Tracer(tracerName),
		pool:   pool,
		log:    log,
		opts:   opts,
		events: ec,
		concerns: map[string]concern{
			"host":      hostConcern{},
			"container": cc,
			"stats":     statsConcern{},
			"events":    ec,
			"revp":      newRevPConcern(opts),
		},
	}, nil
}

// Close stops following the pool's event feed.
func (e *Exporter) Close() { e.events.close() }

// Collector returns a prometheus.Collector bound to one scrape's deadline.
func (e *Exporter) Collector(ctx context.Context) prometheus.Collector {
	return &scrape{e: e, ctx: ctx}
}

type scrape struct {
	e   *Exporter
	ctx context.Context
	// hosts restricts the scrape to these hosts (a /probe); nil is every
	// host of the pool.
	hosts []*hostpool.Host
}

func (s *scrape) Describe(ch chan<- *prometheus.Desc) {
	ch <- scrapeDurationDesc
	ch <- scrapeSuccessDesc
	for _, c := range s.e.concerns {
		c.describe(ch)
	}
}

func (s *scrape) Collect(ch chan<- prometheus.Metric) {
	ctx, span := s.e.tracer.Start(s.ctx, "scrape")
	defer span.End()
	views := s.e.viewHosts(ctx, s.hosts)
	defer func() {
		for _, v := range views {
			v.span.End()
		}
	}()
	var wg sync.WaitGroup
	for name, c := range s.e.concerns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			err := c.update(ctx, views, ch)
			success := 1.0
			if err != nil {
				success = 0
				s.e.log.Warn("collector failed", "collector", name, "err", err)
				span.AddEvent("collector failed", trace.WithAttributes(attrCollector.String(name)))
				span.SetStatus(codes.Error, name+": "+err.Error())
			}
			ch <- prometheus.MustNewConstMetric(scrapeDurationDesc, prometheus.GaugeValue, time.Since(start).Seconds(), name)
			ch <- prometheus.MustNewConstMetric(scrapeSuccessDesc, prometheus.GaugeValue, success, name)
		}()
	}
	wg.Wait()
}

// pingShare is the part of the scrape's remaining time a host has to answer
// its ping. Every concern waits for all pings, so a host that accepts
// connections and never answers must give up long before the scrape
// deadline, or the stats of every other host would find no time left.
const pingShare = 3

// viewHosts pings every host in parallel, each under its own deadline; a host
// that does not answer by then is down for this scrape and holds nobody else up.
// nil hosts is every host of the pool.
func (e *Exporter) viewHosts(ctx context.Context, hosts []*hostpool.Host) []*hostView {
	if hosts == nil {
		hosts = e.pool.Hosts()
	}
	views := make([]*hostView, len(hosts))
	pingCtx, cancel := context.WithCancel(ctx)
	if deadline, ok := ctx.Deadline(); ok {
		pingCtx, cancel = context.WithTimeout(ctx, time.Until(deadline)/pingShare)
	}
	defer cancel()
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			views[i] = e.viewHost(ctx, pingCtx, h)
		}()
	}
	wg.Wait()
	return views
}

// viewHost is one host's part of viewHosts, traced as the host's span with
// a child for each step.
func (e *Exporter) viewHost(ctx, pingCtx context.Context, h *hostpool.Host) *hostView {
	v := &hostView{host: h}
	v.ctx, v.span = e.tracer.Start(ctx, "host "+h.Alias, trace.WithAttributes(hostpool.AttrHost(h.Alias)))
	// pingCtx has the ping's shorter deadline; the host span is its parent.
	pctx, span := e.tracer.Start(trace.ContextWithSpan(pingCtx, v.span), "ping")
	d, err := h.Ping(pctx)
	hostpool.EndSpan(span, err)
	v.pingDur, v.up = d, err == nil
	if err != nil {
		e.log.Debug("host down in scrape", "host", h.Alias, "err", err)
		v.span.RecordError(err)
		v.span.SetStatus(codes.Error, "down: "+err.Error())
	} else {
		wctx, cancel := context.WithTimeout(v.ctx, e.opts.EventWait)
		wctx, span := e.tracer.Start(wctx, "wait events")
		h.WaitEvents(wctx)
		span.End()
		cancel()
	}
	_, span = e.tracer.Start(v.ctx, "snapshot")
	v.snap = h.Snapshot()
	span.End()
	return v
}

// cacheUsable says whether the host's cached containers may be reported: a
// cache the daemon cannot confirm would report containers as they were when
// it went away (docker_host_up says why they are gone), and one that has not
// finished its first sync would report a host without containers.
func (v *hostView) cacheUsable() bool { return v.up && v.snap.Synced }

// syncing says the host answers but its first sync has not ended: a
// concern that reads the cache cannot report it, and fails for this scrape.
func (v *hostView) syncing() bool { return v.up && !v.snap.Synced }

// errSyncing is a concern's failure while a host is syncing.
var errSyncing = errors.New("a host that is up has not finished its first sync")

// anySyncing is errSyncing if a host is syncing, for the concerns that read
// the cache.
func anySyncing(views []*hostView) error {
	for _, v := range views {
		if v.syncing() {
			return errSyncing
		}
	}
	return nil
}

func boolToFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
