package telemetry

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/snadboy/docker-monitor/internal/otlplab"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// setEnv points the OTLP exporters at one place, and clears what the
// developer's shell might add.
func setEnv(t *testing.T, kv []string) {
	for _, k := range []string{"OTEL_METRICS_EXPORTER", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
		"OTEL_METRIC_EXPORT_INTERVAL", "OTEL_METRIC_EXPORT_TIMEOUT", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_SERVICE_NAME"} {
		t.Setenv(k, "")
	}
	for _, e := range kv {
		k, v, _ := strings.Cut(e, "=")
		t.Setenv(k, v)
	}
}

// source is a registry standing in for the exporter's collectors.
func source(t *testing.T) (GatherFunc, prometheus.Counter) {
	reg := prometheus.NewRegistry()
	up := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "docker_host_up", Help: "h"}, []string{"host"})
	up.WithLabelValues("a").Set(1)
	up.WithLabelValues("b").Set(0)
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "docker_events_total", Help: "h"})
	c.Add(7)
	reg.MustRegister(up, c)
	return func(ctx context.Context) ([]*dto.MetricFamily, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("a push gathered without a deadline")
		}
		return reg.Gather()
	}, c
}

// TestPushReachesTheReceiver: the Collector's own OTLP receiver gets the
// gathered families under their Prometheus names, with labels as
// attributes and the resource this process describes, over both protocols.
func TestPushReachesTheReceiver(t *testing.T) {
	for _, proto := range []string{"grpc", "http/protobuf"} {
		t.Run(proto, func(t *testing.T) {
			r := otlplab.Start(t)
			setEnv(t, append(r.Env(proto), "OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=lab"))
			reg := prometheus.NewRegistry()
			tel, err := New(context.Background(), Options{Metrics: true, Interval: time.Second, IntervalSet: true}, reg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			gather, _ := source(t)
			if err := tel.PushMetrics(context.Background(), gather); err != nil {
				t.Fatal(err)
			}
			defer tel.Shutdown(context.Background())
			pts := r.WaitMetric(t, 30*time.Second, "docker_host_up")
			got := map[string]float64{}
			for _, p := range otlplab.Named(pts, "docker_host_up") {
				got[p.Attrs["host"]] = p.Value
				if p.Kind != "gauge" {
					t.Errorf("docker_host_up is a %s", p.Kind)
				}
				for k, want := range map[string]string{"service.name": "docker-monitor", "deployment.environment.name": "lab"} {
					if p.Resource[k] != want {
						t.Errorf("resource %s = %q, want %q", k, p.Resource[k], want)
					}
				}
				if p.Resource["service.instance.id"] == "" || p.Resource["host.name"] == "" {
					t.Errorf("resource lacks service.instance.id or host.name: %v", p.Resource)
				}
			}
			if got["a"] != 1 || got["b"] != 0 || len(got) != 2 {
				t.Errorf("docker_host_up = %v, want a=1 b=0", got)
			}
			ev := otlplab.Named(pts, "docker_events_total")
			if len(ev) != 1 || ev[0].Value != 7 || ev[0].Kind != "sum" || !ev[0].Monotonic || ev[0].Temporality != "cumulative" {
				t.Errorf("docker_events_total = %+v, want one cumulative monotonic sum of 7", ev)
			}
			// Counted once Export returns, which may be after the receiver
			// has the data.
			deadline := time.Now().Add(30 * time.Second)
			for testutil.ToFloat64(tel.x.total.WithLabelValues(signalMetrics, resultSuccess)) < 3 {
				if time.Now().After(deadline) {
					t.Fatal("after 30 s, fewer than 3 data points counted as sent")
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// TestPushFailureLoggedOnce: an endpoint nobody listens on fails every
// push; the failures are counted and logged once, and the process goes on.
func TestPushFailureLoggedOnce(t *testing.T) {
	setEnv(t, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + otlplab.FreeAddr(t), "OTEL_EXPORTER_OTLP_TIMEOUT=500"})
	var logs testlab.SyncBuffer
	reg := prometheus.NewRegistry()
	tel, err := New(context.Background(), Options{Metrics: true, Interval: time.Second, IntervalSet: true}, reg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	gather, _ := source(t)
	if err := tel.PushMetrics(context.Background(), gather); err != nil {
		t.Fatal(err)
	}
	failed := func() float64 { return testutil.ToFloat64(tel.x.total.WithLabelValues(signalMetrics, resultFailure)) }
	deadline := time.Now().Add(60 * time.Second)
	for failed() < 9 { // three pushes of three points
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s, %v points failed; logs:\n%s", failed(), logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = tel.Shutdown(ctx)
	if n := strings.Count(logs.String(), "OTLP export failing"); n != 1 {
		t.Errorf("%d lines say the export is failing, want 1:\n%s", n, logs.String())
	}
	if n := testutil.ToFloat64(tel.x.total.WithLabelValues(signalMetrics, resultSuccess)); n != 0 {
		t.Errorf("%v points counted as sent", n)
	}
}
