package hostpool

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the exporter's own instruments for its work against the
// daemons. They live as long as the process, so they are vectors registered
// once rather than const metrics; a host's series are deleted when it leaves
// the pool.
type Metrics struct {
	APIRequestDuration   *prometheus.HistogramVec
	ConnectionErrors     *prometheus.CounterVec
	ContainersDiscovered *prometheus.CounterVec
	DiscoveryDuration    *prometheus.HistogramVec
	ActiveConnections    *prometheus.GaugeVec
	EventsDropped        *prometheus.CounterVec
	StatsErrors          *prometheus.CounterVec
	StatsReads           *prometheus.CounterVec
}

// NewMetrics creates the instruments and registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		APIRequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "docker_monitor_api_request_duration_seconds",
			Help:    "Time from sending a Docker Engine API request to receiving its response headers, by host and endpoint.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"host", "endpoint"}),
		ConnectionErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docker_monitor_connection_errors_total",
			Help: "Failed Docker API calls and event-stream breaks, by host and reason (timeout, refused, unreachable, permission, reset, auth, host_key, tls, stalled, api, other).",
		}, []string{"host", "reason"}),
		ContainersDiscovered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docker_monitor_containers_discovered_total",
			Help: "Containers added to the host's cache that it did not hold before, by host.",
		}, []string{"host"}),
		DiscoveryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "docker_monitor_discovery_duration_seconds",
			Help:    "Time a full resync (list and inspect every container) of a host took.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"host"}),
		ActiveConnections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "docker_monitor_active_connections",
			Help: "Open connections (busy or idle) from the exporter to the host's Docker daemon.",
		}, []string{"host"}),
		EventsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docker_monitor_events_dropped_total",
			Help: "Docker events that did not fit the event buffer; each drop schedules a full resync of the host.",
		}, []string{"host"}),
		StatsErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docker_monitor_stats_errors_total",
			Help: "Running containers whose resource stats were left out of a scrape, by host and reason (timeout: missed the scrape deadline; error: the call failed; not_running: the container stopped or went away meanwhile).",
		}, []string{"host", "reason"}),
		StatsReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docker_monitor_stats_reads_total",
			Help: "Resource-stats samples read, by host and source (api: the daemon's stats call; cgroup: the host's cgroup files and /proc, which cost the daemon nothing).",
		}, []string{"host", "source"}),
	}
	if reg != nil {
		reg.MustRegister(m.APIRequestDuration, m.ConnectionErrors, m.ContainersDiscovered,
			m.DiscoveryDuration, m.ActiveConnections, m.EventsDropped, m.StatsErrors, m.StatsReads)
	}
	return m
}

// forget deletes every series of a host that left the pool.
func (m *Metrics) forget(host string) {
	l := prometheus.Labels{"host": host}
	m.APIRequestDuration.DeletePartialMatch(l)
	m.ConnectionErrors.DeletePartialMatch(l)
	m.ContainersDiscovered.DeletePartialMatch(l)
	m.DiscoveryDuration.DeletePartialMatch(l)
	m.ActiveConnections.DeletePartialMatch(l)
	m.EventsDropped.DeletePartialMatch(l)
	m.StatsErrors.DeletePartialMatch(l)
	m.StatsReads.DeletePartialMatch(l)
}
