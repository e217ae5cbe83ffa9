package telemetry

import (
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Signals and results of docker_monitor_otlp_exports_total; both sets are
// closed, so the series are bounded and all exist from the start.
const (
	signalMetrics = "metrics"
	signalTraces  = "traces"

	resultSuccess = "success"
	resultFailure = "failure"
	resultDropped = "dropped"
)

// exports counts what became of every data point and span handed to OTLP,
// and logs a signal's exports only when they start failing or recover: an
// endpoint that is down for a day must not write a line per attempt.
type exports struct {
	total *prometheus.CounterVec
	log   *slog.Logger

	mu       sync.Mutex
	failures map[string]int // consecutive failed exports, by signal
}

func newExports(reg prometheus.Registerer, log *slog.Logger) (*exports, error) {
	x := &exports{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docker_monitor_otlp_exports_total",
			Help: "Metric data points and spans handed to OTLP, by signal and outcome: success (the endpoint took them), " +
				"failure (the export failed or timed out and they were dropped), dropped (no room in the queue, never sent).",
		}, []string{"signal", "result"}),
		log:      log,
		failures: map[string]int{},
	}
	for _, s := range []string{signalMetrics, signalTraces} {
		for _, r := range []string{resultSuccess, resultFailure, resultDropped} {
			x.total.WithLabelValues(s, r)
		}
	}
	if err := reg.Register(x.total); err != nil {
		return nil, err
	}
	return x, nil
}

// exported records one export of n items.
func (x *exports) exported(signal string, n int, err error) {
	if err != nil {
		x.total.WithLabelValues(signal, resultFailure).Add(float64(n))
	} else {
		x.total.WithLabelValues(signal, resultSuccess).Add(float64(n))
	}
	x.mu.Lock()
	before := x.failures[signal]
	if err != nil {
		x.failures[signal]++
	} else {
		x.failures[signal] = 0
	}
	x.mu.Unlock()
	switch {
	case err != nil && before == 0:
		x.log.Warn("OTLP export failing; further failures are counted in docker_monitor_otlp_exports_total, not logged, until it recovers",
			"signal", signal, "err", err)
	case err == nil && before > 0:
		x.log.Info("OTLP export recovered", "signal", signal, "failed_exports", before)
	}
}

// dropped records n items that never reached an export.
func (x *exports) dropped(signal string, n int) {
	x.total.WithLabelValues(signal, resultDropped).Add(float64(n))
}

// dataPoints counts the points of one push, the unit the exports counter
// uses for metrics.
func dataPoints(rm *metricdata.ResourceMetrics) int {
	n := 0
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Gauge[float64]:
				n += len(d.DataPoints)
			case metricdata.Gauge[int64]:
				n += len(d.DataPoints)
			case metricdata.Sum[float64]:
				n += len(d.DataPoints)
			case metricdata.Sum[int64]:
				n += len(d.DataPoints)
			case metricdata.Histogram[float64]:
				n += len(d.DataPoints)
			case metricdata.Histogram[int64]:
				n += len(d.DataPoints)
			case metricdata.ExponentialHistogram[float64]:
				n += len(d.DataPoints)
			case metricdata.ExponentialHistogram[int64]:
				n += len(d.DataPoints)
			case metricdata.Summary:
				n += len(d.DataPoints)
			}
		}
	}
	return n
}
