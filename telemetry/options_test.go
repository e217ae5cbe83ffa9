package telemetry

import (
	"strings"
	"testing"
	"time"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		name     string
		o        Options
		env      func(string) string
		metrics  bool
		traces   bool
		interval time.Duration
		timeout  time.Duration
	}{
		{"off by default", Options{}, env(), false, false, DefaultInterval, DefaultInterval},
		{"flags", Options{Metrics: true, Traces: true, Interval: 10 * time.Second, IntervalSet: true}, env(), true, true, 10 * time.Second, 10 * time.Second},
		{"variables", Options{}, env("OTEL_METRICS_EXPORTER", "otlp", "OTEL_TRACES_EXPORTER", "otlp"), true, true, DefaultInterval, DefaultInterval},
		{"console traces", Options{}, env("OTEL_TRACES_EXPORTER", "console"), false, true, DefaultInterval, DefaultInterval},
		{"none", Options{}, env("OTEL_METRICS_EXPORTER", "none", "OTEL_TRACES_EXPORTER", "none"), false, false, DefaultInterval, DefaultInterval},
		{"interval from the variable", Options{Metrics: true}, env("OTEL_METRIC_EXPORT_INTERVAL", "5000"), true, false, 5 * time.Second, 5 * time.Second},
		{"flag wins over the variable", Options{Metrics: true, Interval: 2 * time.Minute, IntervalSet: true}, env("OTEL_METRIC_EXPORT_INTERVAL", "5000"), true, false, 2 * time.Minute, 30 * time.Second},
		{"export timeout", Options{Metrics: true, Interval: time.Minute, IntervalSet: true}, env("OTEL_METRIC_EXPORT_TIMEOUT", "12000"), true, false, time.Minute, 12 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.o.IntervalSet {
				tc.o.Interval = DefaultInterval
			}
			s, err := tc.o.resolve(tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if s.metrics != tc.metrics || s.traces != tc.traces || s.interval != tc.interval || s.timeout != tc.timeout {
				t.Errorf("got metrics %v traces %v interval %v timeout %v; want %v %v %v %v",
					s.metrics, s.traces, s.interval, s.timeout, tc.metrics, tc.traces, tc.interval, tc.timeout)
			}
		})
	}
}

// TestResolveRefuses: every bad value is refused with the flag or variable
// it came from named.
func TestResolveRefuses(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		env  func(string) string
		want string
	}{
		{Options{}, env("OTEL_METRICS_EXPORTER", "prometheus"), `OTEL_METRICS_EXPORTER="prometheus"`},
		{Options{}, env("OTEL_METRICS_EXPORTER", "console"), `OTEL_METRICS_EXPORTER="console"`},
		{Options{}, env("OTEL_TRACES_EXPORTER", "zipkin"), `OTEL_TRACES_EXPORTER="zipkin"`},
		{Options{Metrics: true}, env("OTEL_METRICS_EXPORTER", "none"), "--otlp.metrics and OTEL_METRICS_EXPORTER=none"},
		{Options{Traces: true}, env("OTEL_TRACES_EXPORTER", "none"), "--otlp.traces and OTEL_TRACES_EXPORTER=none"},
		{Options{Metrics: true}, env("OTEL_METRIC_EXPORT_INTERVAL", "30s"), `OTEL_METRIC_EXPORT_INTERVAL="30s"`},
		{Options{Metrics: true}, env("OTEL_METRIC_EXPORT_INTERVAL", "-1"), `OTEL_METRIC_EXPORT_INTERVAL="-1"`},
		{Options{Metrics: true}, env("OTEL_METRIC_EXPORT_INTERVAL", "99999999999999999999"), "OTEL_METRIC_EXPORT_INTERVAL="},
		{Options{Metrics: true}, env("OTEL_METRIC_EXPORT_INTERVAL", "10"), "OTEL_METRIC_EXPORT_INTERVAL must be 1s..24h0m0s"},
		{Options{Metrics: true, Interval: 10 * time.Millisecond, IntervalSet: true}, env(), "--otlp.interval must be 1s..24h0m0s"},
		{Options{Metrics: true, Interval: 48 * time.Hour, IntervalSet: true}, env(), "--otlp.interval must be"},
		{Options{Metrics: true}, env("OTEL_METRIC_EXPORT_TIMEOUT", "0"), "OTEL_METRIC_EXPORT_TIMEOUT must be positive"},
		{Options{Metrics: true}, env("OTEL_METRIC_EXPORT_TIMEOUT", "x"), `OTEL_METRIC_EXPORT_TIMEOUT="x"`},
		{Options{Semconv: true}, env(), "--otlp.semconv needs --otlp.metrics"},
	} {
		if !tc.o.IntervalSet {
			tc.o.Interval = DefaultInterval
		}
		_, err := tc.o.resolve(tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error containing %q", tc.o, err, tc.want)
		}
	}
}

func TestRoute(t *testing.T) {
	for path, want := range map[string]string{
		"/metrics":                          "/metrics",
		"/api/v1/containers/h/secret-name":  "/api/v1/*",
		"/-/ready":                          "/-/ready",
		"/-/anything-else-the-client-chose": "/",
		"/favicon.ico":                      "/",
		"/metrics/../x":                     "/",
		"/\u202emetrics":                    "/",
		"":                                  "/",
		"/api":                              "/",
	} {
		if got := route(path, "/metrics"); got != want {
			t.Errorf("route(%q) = %q, want %q", path, got, want)
		}
	}
}
