package otlplab_test

import (
	"context"
	"errors"
	"maps"
	"net"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/snadboy/docker-monitor/internal/otlplab"
)

// wait is generous on purpose: it only bounds a failure, a passing wait
// returns as soon as the export lands, and -race on a loaded CI box is slow.
const wait = 30 * time.Second

var testResource = resource.NewSchemaless(attribute.String("service.name", "otlplab-test"))

// metricExporter builds the SDK exporter for protocol from the environment
// alone, which is how docker-monitor is configured, so Env is under test too.
func metricExporter(t *testing.T, r *otlplab.Receiver, protocol string) sdkmetric.Exporter {
	t.Helper()
	for _, kv := range r.Env(protocol) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	var (
		exp sdkmetric.Exporter
		err error
	)
	if protocol == "grpc" {
		exp, err = otlpmetricgrpc.New(t.Context())
	} else {
		exp, err = otlpmetrichttp.New(t.Context())
	}
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

func meterProvider(t *testing.T, exp sdkmetric.Exporter) *sdkmetric.MeterProvider {
	t.Helper()
	// An interval longer than any test: exports happen on ForceFlush only.
	reader := sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithResource(testResource))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = mp.Shutdown(ctx) // may fail by design where the receiver is gone
	})
	return mp
}

func record(t *testing.T, mp *sdkmetric.MeterProvider) {
	t.Helper()
	ctx := t.Context()
	m := mp.Meter("otlplab/test")
	g, err1 := m.Int64Gauge("lab.gauge", metric.WithUnit("By"))
	c, err2 := m.Float64Counter("lab.counter", metric.WithUnit("s"))
	h, err3 := m.Float64Histogram("lab.hist", metric.WithUnit("s"))
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	attrs := metric.WithAttributes(attribute.String("container", "web"), attribute.Int("n", 7), attribute.Bool("up", true))
	g.Record(ctx, 42, attrs)
	c.Add(ctx, 1.5, attrs)
	c.Add(ctx, 2.5, attrs)
	for _, v := range []float64{0.1, 0.2, 5} {
		h.Record(ctx, v, attrs)
	}
	if err := mp.ForceFlush(ctx); err != nil {
		t.Fatalf("export: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	for _, protocol := range []string{"grpc", "http/protobuf"} {
		t.Run(protocol, func(t *testing.T) {
			r := otlplab.Start(t)
			record(t, meterProvider(t, metricExporter(t, r, protocol)))

			ps := r.WaitMetric(t, wait, "lab.hist")
			want := map[string]string{"container": "web", "n": "7", "up": "true"}
			check := func(name, kind string, value float64) otlplab.Point {
				t.Helper()
				got := otlplab.Named(ps, name)
				if len(got) != 1 {
					t.Fatalf("%s: %d points, want 1: %+v", name, len(got), got)
				}
				p := got[0]
				if p.Kind != kind || p.Value != value || !maps.Equal(p.Attrs, want) {
					t.Errorf("%s = %+v, want kind %s value %v attrs %v", name, p, kind, value, want)
				}
				if p.Resource["service.name"] != "otlplab-test" || p.Scope != "otlplab/test" || p.Time.IsZero() {
					t.Errorf("%s: resource %v scope %q time %v", name, p.Resource, p.Scope, p.Time)
				}
				return p
			}
			check("lab.gauge", "gauge", 42)
			if c := check("lab.counter", "sum", 4); !c.Monotonic || c.Temporality != "cumulative" || c.Unit != "s" || c.StartTime.IsZero() {
				t.Errorf("counter: %+v", c)
			}
			if h := check("lab.hist", "histogram", 3); h.Count != 3 || h.Sum < 5.29 || h.Sum > 5.31 {
				t.Errorf("histogram: %+v", h)
			}
			if n := r.MetricBatches(); n < 1 {
				t.Errorf("MetricBatches = %d", n)
			}
			if got := len(r.Metrics()); got != r.MetricBatches() {
				t.Errorf("Metrics() has %d batches, MetricBatches %d", got, r.MetricBatches())
			}
		})
	}
}

func traceExporter(t *testing.T, protocol, endpoint string, opts ...any) sdktrace.SpanExporter {
	t.Helper()
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch protocol {
	case "grpc":
		o := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure()}
		for _, x := range opts {
			o = append(o, x.(otlptracegrpc.Option))
		}
		exp, err = otlptracegrpc.New(t.Context(), o...)
	default:
		o := []otlptracehttp.Option{otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithInsecure()}
		for _, x := range opts {
			o = append(o, x.(otlptracehttp.Option))
		}
		exp, err = otlptracehttp.New(t.Context(), o...)
	}
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

func TestTraces(t *testing.T) {
	for _, protocol := range []string{"grpc", "http/protobuf"} {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			r := otlplab.Start(t)
			endpoint := r.GRPCEndpoint()
			if protocol != "grpc" {
				endpoint = strings.TrimPrefix(r.HTTPEndpoint(), "http://")
			}
			tp := sdktrace.NewTracerProvider(
				sdktrace.WithBatcher(traceExporter(t, protocol, endpoint)),
				sdktrace.WithResource(testResource))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

			tr := tp.Tracer("otlplab/trace")
			ctx, parent := tr.Start(t.Context(), "parent", trace.WithSpanKind(trace.SpanKindServer))
			_, child := tr.Start(ctx, "child", trace.WithAttributes(attribute.Int("attempt", 2)))
			child.SetStatus(codes.Error, "boom")
			child.End()
			parent.End()
			if err := tp.ForceFlush(t.Context()); err != nil {
				t.Fatalf("export: %v", err)
			}

			spans := r.WaitSpans(t, wait, func(ss []otlplab.Span) bool { return len(ss) >= 2 })
			byName := map[string]otlplab.Span{}
			for _, s := range spans {
				byName[s.Name] = s
			}
			p, c := byName["parent"], byName["child"]
			if p.ParentID != "" || p.Kind != "Server" || p.StatusCode != "Unset" || len(p.SpanID) != 16 {
				t.Errorf("parent = %+v", p)
			}
			if c.ParentID != p.SpanID || c.TraceID != p.TraceID || len(c.TraceID) != 32 {
				t.Errorf("child %+v is not a child of parent %+v", c, p)
			}
			if c.StatusCode != "Error" || c.StatusMessage != "boom" || c.Attrs["attempt"] != "2" || c.Kind != "Internal" {
				t.Errorf("child = %+v", c)
			}
			if c.Scope != "otlplab/trace" || c.Resource["service.name"] != "otlplab-test" || c.End.Before(c.Start) || c.Start.IsZero() {
				t.Errorf("child scope/resource/times: %+v", c)
			}
			if r.SpanBatches() < 1 {
				t.Errorf("SpanBatches = %d", r.SpanBatches())
			}
		})
	}
}

// TestStop checks that a stopped receiver refuses exports and keeps what it
// had, on both protocols of the same receiver.
func TestStop(t *testing.T) {
	r := otlplab.Start(t)
	noRetryGRPC, _ := otlpmetricgrpc.New(t.Context(), otlpmetricgrpc.WithEndpoint(r.GRPCEndpoint()),
		otlpmetricgrpc.WithInsecure(), otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{Enabled: false}))
	noRetryHTTP, _ := otlpmetrichttp.New(t.Context(), otlpmetrichttp.WithEndpointURL(r.HTTPEndpoint()+"/v1/metrics"),
		otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}))
	mps := []*sdkmetric.MeterProvider{meterProvider(t, noRetryGRPC), meterProvider(t, noRetryHTTP)}
	for _, mp := range mps {
		record(t, mp)
	}
	before := r.MetricBatches()
	if before != 2 {
		t.Fatalf("MetricBatches = %d before Stop, want 2", before)
	}

	r.Stop()
	r.Stop() // idempotent, as is the cleanup's call
	for i, mp := range mps {
		ctx, cancel := context.WithTimeout(t.Context(), wait)
		if err := mp.ForceFlush(ctx); err == nil {
			t.Errorf("exporter %d: export to a stopped receiver succeeded", i)
		} else {
			t.Logf("exporter %d after Stop: %v", i, err)
		}
		cancel()
	}
	if got := r.MetricBatches(); got != before {
		t.Errorf("MetricBatches = %d after Stop, want %d", got, before)
	}
	if len(otlplab.Points(r.Metrics())) == 0 {
		t.Error("received metrics gone after Stop")
	}
}

// TestHanging checks the hanging endpoint holds a connection open in
// silence, and that exporters with a 1s timeout give up on it.
func TestHanging(t *testing.T) {
	addr := otlplab.StartHanging(t)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	var ne net.Error
	if _, err := conn.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read from hanging endpoint: %v, want a timeout", err)
	}

	t.Run("grpc", func(t *testing.T) {
		t.Parallel()
		exp := traceExporter(t, "grpc", addr, otlptracegrpc.WithTimeout(time.Second),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}))
		exportOneSpan(t, exp)
	})
	t.Run("http", func(t *testing.T) {
		t.Parallel()
		exp := traceExporter(t, "http/protobuf", addr, otlptracehttp.WithTimeout(time.Second),
			otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
		exportOneSpan(t, exp)
	})
}

func exportOneSpan(t *testing.T, exp sdktrace.SpanExporter) {
	t.Helper()
	// Calling the exporter directly, not through a span processor, because
	// processors hand export errors to the global handler instead of us.
	spans := []sdktrace.ReadOnlySpan{tracetest.SpanStub{Name: "lost"}.Snapshot()}
	// The exporter's own 1s timeout should end this; wait only guards the test.
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	start := time.Now()
	err := exp.ExportSpans(ctx, spans)
	switch {
	case err == nil:
		t.Fatal("export to a hanging endpoint succeeded")
	case ctx.Err() != nil:
		t.Fatalf("exporter ignored its own timeout: %v", err)
	}
	t.Logf("failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	_ = exp.Shutdown(context.Background())
}

func TestFreeAddr(t *testing.T) {
	addr := otlplab.FreeAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("FreeAddr = %q", addr)
	}
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Fatalf("something listens on %s", addr)
	}
}

func TestEnv(t *testing.T) {
	r := otlplab.Start(t)
	got := strings.Join(r.Env("grpc"), " ")
	want := "OTEL_EXPORTER_OTLP_ENDPOINT=http://" + r.GRPCEndpoint() + " OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_INSECURE=true"
	if got != want {
		t.Errorf("Env(grpc) = %s\nwant %s", got, want)
	}
	got = strings.Join(r.Env("http/protobuf"), " ")
	want = "OTEL_EXPORTER_OTLP_ENDPOINT=" + r.HTTPEndpoint() + " OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"
	if got != want {
		t.Errorf("Env(http/protobuf) = %s\nwant %s", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Error("Env(bogus) did not panic")
		}
	}()
	r.Env("bogus")
}

// TestPoints covers the kinds and value types the SDK tests above do not
// produce: int sums, deltas, summaries, exponential histograms, non-string
// attributes and unset timestamps.
func TestPoints(t *testing.T) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutInt("host.cpus", 8)
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()

	s := ms.AppendEmpty()
	s.SetName("int.sum")
	sum := s.SetEmptySum()
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	dp := sum.DataPoints().AppendEmpty()
	dp.SetIntValue(5)
	dp.Attributes().PutEmptySlice("tags").AppendEmpty().SetStr("a")
	dp.Attributes().PutDouble("ratio", 0.5)

	sm := ms.AppendEmpty()
	sm.SetName("summary")
	sdp := sm.SetEmptySummary().DataPoints().AppendEmpty()
	sdp.SetCount(4)
	sdp.SetSum(10)
	sdp.SetTimestamp(pcommon.NewTimestampFromTime(time.Unix(100, 0)))

	eh := ms.AppendEmpty()
	eh.SetName("exp.hist")
	eh.SetEmptyExponentialHistogram().DataPoints().AppendEmpty().SetCount(9)

	ps := otlplab.Points([]pmetric.Metrics{md})
	if len(ps) != 3 {
		t.Fatalf("%d points: %+v", len(ps), ps)
	}
	p := ps[0]
	if p.Kind != "sum" || p.Value != 5 || p.Monotonic || p.Temporality != "delta" ||
		p.Attrs["tags"] != `["a"]` || p.Attrs["ratio"] != "0.5" || p.Resource["host.cpus"] != "8" ||
		!p.Time.IsZero() || !p.StartTime.IsZero() {
		t.Errorf("int sum: %+v", p)
	}
	if p := ps[1]; p.Kind != "summary" || p.Value != 4 || p.Sum != 10 || !p.Time.Equal(time.Unix(100, 0)) {
		t.Errorf("summary: %+v", p)
	}
	if p := ps[2]; p.Kind != "exponential_histogram" || p.Value != 9 || p.Count != 9 {
		t.Errorf("exponential histogram: %+v", p)
	}
}
