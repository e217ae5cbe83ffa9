package telemetry

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	prometheusbridge "go.opentelemetry.io/contrib/bridges/prometheus"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
)

// GatherFunc collects every metric /metrics serves, as one scrape does,
// under ctx's deadline.
type GatherFunc func(ctx context.Context) ([]*dto.MetricFamily, error)

// newMetricExporter builds the OTLP metric exporter the protocol variables
// ask for. autoexport would pick the same exporter, but its reader hides it,
// and the exports counter must see every export's outcome. The exporters
// read endpoint, headers, TLS, compression and timeout themselves.
func newMetricExporter(ctx context.Context) (sdkmetric.Exporter, error) {
	env, proto := "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"))
	if proto == "" {
		env, proto = "OTEL_EXPORTER_OTLP_PROTOCOL", strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
	}
	switch proto {
	case "grpc":
		return otlpmetricgrpc.New(ctx)
	case "", "http/protobuf":
		// The specification's default, as autoexport's.
		return otlpmetrichttp.New(ctx)
	}
	return nil, fmt.Errorf("%s=%q: must be grpc or http/protobuf", env, proto)
}

// countedMetricExporter counts each export's data points by outcome.
type countedMetricExporter struct {
	sdkmetric.Exporter
	x *exports
}

func (e countedMetricExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	err := e.Exporter.Export(ctx, rm)
	e.x.exported(signalMetrics, dataPoints(rm), err)
	return err
}

// producer makes each push collect as a scrape does: the gather runs the
// project's own collectors under a deadline of its own (half the push's
// timeout, so the export keeps the other half), and its stats calls join
// any round a scrape has in flight. One gather feeds both the bridged
// metrics and the semantic-convention ones.
type producer struct {
	gather  GatherFunc
	timeout time.Duration
	semconv bool
	tracer  trace.Tracer
}

func (p *producer) Produce(ctx context.Context) ([]metricdata.ScopeMetrics, error) {
	ctx, span := p.tracer.Start(ctx, "push")
	defer span.End()
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	now := time.Now()
	fams, err := p.gather(ctx)
	if err != nil && len(fams) == 0 {
		return nil, fmt.Errorf("collect for OTLP push: %w", err)
	}
	// A partial gather (one collector failed) is pushed as a partial scrape
	// is served: docker_monitor_scrape_collector_success says what failed.
	bridged, err := prometheusbridge.NewMetricProducer(prometheusbridge.WithGatherer(static(fams))).Produce(ctx)
	if err != nil {
		return nil, err
	}
	if p.semconv {
		if sm := semconvMetrics(fams, now); len(sm.Metrics) > 0 {
			bridged = append(bridged, sm)
		}
	}
	return bridged, nil
}

// static is a gather already made, for the bridge.
type static []*dto.MetricFamily

func (s static) Gather() ([]*dto.MetricFamily, error) { return s, nil }

var _ prometheus.Gatherer = static(nil)

// newMeterProvider starts the periodic push. Its reader runs one push at a
// time, each bounded by the timeout, so a slow endpoint delays pushes and
// never piles them up.
func newMeterProvider(ctx context.Context, s settings, gather GatherFunc, x *exports, tracer trace.Tracer, res *resource.Resource) (*sdkmetric.MeterProvider, error) {
	exp, err := newMetricExporter(ctx)
	if err != nil {
		return nil, err
	}
	p := &producer{gather: gather, timeout: s.timeout / 2, semconv: s.semconv, tracer: tracer}
	reader := sdkmetric.NewPeriodicReader(countedMetricExporter{Exporter: exp, x: x},
		sdkmetric.WithInterval(s.interval), sdkmetric.WithTimeout(s.timeout), sdkmetric.WithProducer(p))
	return sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithResource(res)), nil
}
