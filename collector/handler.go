package collector

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// HandlerOptions set how a scrape's deadline is derived.
type HandlerOptions struct {
	// DefaultTimeout applies when Prometheus sends no
	// X-Prometheus-Scrape-Timeout-Seconds header (curl, a browser).
	DefaultTimeout time.Duration
	// MaxTimeout caps the header, as blackbox_exporter caps it at its
	// module's timeout: the header is the client's to choose, and a scrape
	// that waits for ever on a hung host would hold its goroutines and
	// connections for as long (0: no cap).
	MaxTimeout time.Duration
	// TimeoutOffset is kept back from Prometheus's timeout for encoding and
	// sending the response.
	TimeoutOffset time.Duration
}

const timeoutHeader = "X-Prometheus-Scrape-Timeout-Seconds"

// ScrapeTimeout returns the time a scrape may spend collecting, or an
// error for a header that is not a positive number of seconds.
func (o HandlerOptions) ScrapeTimeout(r *http.Request) (time.Duration, error) {
	timeout := o.DefaultTimeout
	if v := r.Header.Get(timeoutHeader); v != "" {
		s, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(s) || s <= 0 {
			return 0, fmt.Errorf("%s: %q is not a positive number of seconds", timeoutHeader, v)
		}
		// Compared in seconds: Inf or 1e300 would overflow a Duration.
		if o.MaxTimeout > 0 && s > o.MaxTimeout.Seconds() {
			timeout = o.MaxTimeout
		} else {
			timeout = time.Duration(s * float64(time.Second))
		}
	}
	if timeout-o.TimeoutOffset > 0 {
		return timeout - o.TimeoutOffset, nil
	}
	// An offset as large as the timeout would leave no time at all.
	return timeout / 2, nil
}

// Handler serves the metrics endpoint: each request collects the Docker
// metrics under its own deadline and gathers them together with the
// process-wide registry (build info, Go runtime, the exporter's own metrics).
func (e *Exporter) Handler(global prometheus.Gatherer, o HandlerOptions, errLog promhttp.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serveScrape(w, r, o, errLog, func(ctx context.Context) prometheus.Gatherer {
			return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return e.Gather(ctx, global) })
		})
	})
}

// serveScrape answers r with what gatherer gathers under the request's
// scrape deadline (400 for a bad timeout header): /metrics and /probe alike.
func serveScrape(w http.ResponseWriter, r *http.Request, o HandlerOptions, errLog promhttp.Logger, gatherer func(context.Context) prometheus.Gatherer) {
	timeout, err := o.ScrapeTimeout(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	promhttp.HandlerFor(gatherer(ctx), promhttp.HandlerOpts{
		ErrorLog:      errLog,
		ErrorHandling: promhttp.ContinueOnError,
	}).ServeHTTP(w, r)
}

// Gather collects the Docker metrics once under ctx's deadline, together
// with the process-wide registry: what one scrape serves, for a scrape or an
// OTLP push.
func (e *Exporter) Gather(ctx context.Context, global prometheus.Gatherer) ([]*dto.MetricFamily, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Collector(ctx))
	// The scrape's own registry is gathered first, so the self-metrics
	// from the global one already count this scrape's errors.
	return gatherBoth(reg, global)
}
