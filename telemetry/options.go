package telemetry

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Options are the --otlp.* flags. What they leave open (endpoint, protocol,
// headers, TLS, compression, timeouts, sampler, resource) comes from the
// standard OTEL_* variables, which the OpenTelemetry SDK and its OTLP
// exporters read themselves.
type Options struct {
	Metrics     bool          // --otlp.metrics
	Traces      bool          // --otlp.traces
	Semconv     bool          // --otlp.semconv
	Interval    time.Duration // --otlp.interval
	IntervalSet bool          // --otlp.interval was given: it wins over OTEL_METRIC_EXPORT_INTERVAL
}

// DefaultInterval is the export interval when neither --otlp.interval nor
// OTEL_METRIC_EXPORT_INTERVAL says otherwise: the SDK's own default is 60 s,
// and 30 s is the scrape interval most of this exporter's users run.
const DefaultInterval = 30 * time.Second

// Bounds of the export interval: below a second a push would overlap the
// stats rounds it asks for; past a day it is a typo.
const (
	minInterval = time.Second
	maxInterval = 24 * time.Hour
)

// defaultExportTimeout is the SDK's OTEL_METRIC_EXPORT_TIMEOUT default.
const defaultExportTimeout = 30 * time.Second

// settings are Options resolved against the environment.
type settings struct {
	metrics, traces bool
	semconv         bool
	interval        time.Duration
	// timeout bounds one push, collection and export together; the
	// collection has half of it, so an export always has time left.
	timeout time.Duration
}

// Check validates the options and the OTEL_* variables they depend on, for
// --config.check and flag parsing; the messages name the flag or variable.
func (o Options) Check() error {
	_, err := o.resolve(os.Getenv)
	return err
}

func (o Options) resolve(getenv func(string) string) (settings, error) {
	s := settings{semconv: o.Semconv, interval: o.Interval}
	var err error
	if s.metrics, err = enabled(o.Metrics, "--otlp.metrics", "OTEL_METRICS_EXPORTER", getenv, "otlp", "none"); err != nil {
		return s, err
	}
	if s.traces, err = enabled(o.Traces, "--otlp.traces", "OTEL_TRACES_EXPORTER", getenv, "otlp", "console", "none"); err != nil {
		return s, err
	}
	if !o.IntervalSet {
		s.interval = DefaultInterval
		if s.interval, err = envMillis(getenv, "OTEL_METRIC_EXPORT_INTERVAL", s.interval); err != nil {
			return s, err
		}
	}
	if s.interval < minInterval || s.interval > maxInterval {
		name := "--otlp.interval"
		if !o.IntervalSet {
			name = "OTEL_METRIC_EXPORT_INTERVAL"
		}
		return s, fmt.Errorf("%s must be %v..%v, not %v", name, minInterval, maxInterval, s.interval)
	}
	if s.timeout, err = envMillis(getenv, "OTEL_METRIC_EXPORT_TIMEOUT", defaultExportTimeout); err != nil {
		return s, err
	}
	if s.timeout <= 0 {
		return s, fmt.Errorf("OTEL_METRIC_EXPORT_TIMEOUT must be positive")
	}
	// A push that outlived the interval would delay the next one.
	s.timeout = min(s.timeout, s.interval)
	if o.Semconv && !s.metrics {
		return s, fmt.Errorf("--otlp.semconv needs --otlp.metrics (or OTEL_METRICS_EXPORTER=otlp)")
	}
	return s, nil
}

// enabled reads a signal's switch: the flag, or the OTEL_*_EXPORTER
// variable the SDKs use. The variable may only name what docker-monitor
// sends; "none" beside the flag is a contradiction, not a choice.
func enabled(flag bool, flagName, env string, getenv func(string) string, allowed ...string) (bool, error) {
	v := strings.TrimSpace(getenv(env))
	switch {
	case v == "":
		return flag, nil
	case v == "none" && flag:
		return false, fmt.Errorf("%s and %s=none contradict each other", flagName, env)
	case v == "none":
		return false, nil
	}
	for _, a := range allowed {
		if v == a {
			return true, nil
		}
	}
	return false, fmt.Errorf("%s=%q: must be one of %s (metrics for Prometheus are on /metrics)", env, v, strings.Join(allowed, ", "))
}

// envMillis reads an OTEL_* duration, which the specification gives in
// milliseconds.
func envMillis(getenv func(string) string, env string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(getenv(env))
	if v == "" {
		return def, nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms < 0 || ms > int64(maxInterval/time.Millisecond) {
		return 0, fmt.Errorf("%s=%q: must be a number of milliseconds, 0..%d", env, v, maxInterval/time.Millisecond)
	}
	return time.Duration(ms) * time.Millisecond, nil
}
