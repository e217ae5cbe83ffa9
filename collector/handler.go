package collector

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HandlerOptions set how a scrape's deadline is derived.
type HandlerOptions struct {
	// DefaultTimeout applies when Prometheus sends no
	// X-Prometheus-Scrape-Timeout-Seconds header (curl, a browser).
	DefaultTimeout time.Duration
	// TimeoutOffset is kept back from Prometheus's timeout for encoding and
	// sending the response.
	TimeoutOffset time.Duration
}

// ScrapeTimeout returns the time a scrape may spend collecting.
func (o HandlerOptions) ScrapeTimeout(r *http.Request) time.Duration {
	timeout := o.DefaultTimeout
	if v := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
			timeout = time.Duration(s * float64(time.Second))
		}
	}
	if timeout-o.TimeoutOffset > 0 {
		return timeout - o.TimeoutOffset
	}
	// An offset as large as the timeout would leave no time at all.
	return timeout / 2
}

// Handler serves the metrics endpoint: each request collects the Docker
// metrics under its own deadline and gathers them together with the
// process-wide registry (build info, Go runtime, the exporter's own metrics).
func (e *Exporter) Handler(global prometheus.Gatherer, o HandlerOptions, errLog promhttp.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), o.ScrapeTimeout(r))
		defer cancel()
		reg := prometheus.NewRegistry()
		reg.MustRegister(e.Collector(ctx))
		// The scrape's own registry is gathered first, so the self-metrics
		// from the global one already count this scrape's errors.
		promhttp.HandlerFor(prometheus.Gatherers{reg, global}, promhttp.HandlerOpts{
			ErrorLog:      errLog,
			ErrorHandling: promhttp.ContinueOnError,
		}).ServeHTTP(w, r)
	})
}
