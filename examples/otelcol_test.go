package examples_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusremotewriteexporter"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/otelcol/otelcoltest"
	"go.opentelemetry.io/collector/pipeline"
	"go.opentelemetry.io/collector/processor/batchprocessor"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/collector/service/telemetry"
	prometheusbridge "go.opentelemetry.io/contrib/bridges/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/snadboy/docker-monitor/internal/testlab"
)

const (
	collectorConfigPath = "otel-collector.yml"
	otelDocPath         = "../docs/opentelemetry.md"
)

// collectorFactories are the components the example may use: those of the
// Collector core and contrib distributions that this module pins. A
// component type the example names and this list lacks fails the load, as
// it would fail a Collector built without it.
func collectorFactories() (otelcol.Factories, error) {
	var f otelcol.Factories
	var err error
	if f.Receivers, err = otelcol.MakeFactoryMap(otlpreceiver.NewFactory()); err != nil {
		return f, err
	}
	if f.Processors, err = otelcol.MakeFactoryMap(batchprocessor.NewFactory()); err != nil {
		return f, err
	}
	f.Exporters, err = otelcol.MakeFactoryMap(
		otlpexporter.NewFactory(),
		otlphttpexporter.NewFactory(),
		prometheusremotewriteexporter.NewFactory(),
	)
	return f, err
}

// The component IDs the example uses, by their current type names (not the
// deprecated aliases otlp, otlphttp and prometheusremotewrite, which the
// factory maps also hold and which would log a warning).
var (
	otlpReceiverID = component.NewID(otlpreceiver.NewFactory().Type())
	batchID        = component.NewID(batchprocessor.NewFactory().Type())
	prwID          = component.NewID(prometheusremotewriteexporter.NewFactory().Type())
	otlpGRPCID     = component.NewID(otlpexporter.NewFactory().Type())
)

// TestCollectorConfig loads examples/otel-collector.yml with the Collector's
// own configuration code, which resolves, decodes into each component's
// Config (unknown keys are errors) and validates, and checks what
// docs/opentelemetry.md says about it.
func TestCollectorConfig(t *testing.T) {
	factories, err := collectorFactories()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := otelcoltest.LoadConfigAndValidate(collectorConfigPath, factories)
	if err != nil {
		t.Fatalf("%s: %v", collectorConfigPath, err)
	}

	// Exactly the two pipelines, each from the OTLP receiver through the
	// batch processor to its exporter.
	want := map[pipeline.ID]struct {
		exporter component.ID
	}{
		pipeline.NewID(pipeline.SignalMetrics): {prwID},
		pipeline.NewID(pipeline.SignalTraces):  {otlpGRPCID},
	}
	if len(cfg.Service.Pipelines) != len(want) {
		var got []string
		for id := range cfg.Service.Pipelines {
			got = append(got, id.String())
		}
		slices.Sort(got)
		t.Errorf("pipelines: got %v, want metrics and traces only", got)
	}
	for id, w := range want {
		p, ok := cfg.Service.Pipelines[id]
		if !ok {
			t.Errorf("pipeline %s missing", id)
			continue
		}
		if !slices.Equal(p.Receivers, []component.ID{otlpReceiverID}) {
			t.Errorf("pipeline %s: receivers %v, want [%s]", id, p.Receivers, otlpReceiverID)
		}
		if !slices.Contains(p.Processors, batchID) {
			t.Errorf("pipeline %s: processors %v, want %s among them", id, p.Processors, batchID)
		}
		if !slices.Equal(p.Exporters, []component.ID{w.exporter}) {
			t.Errorf("pipeline %s: exporters %v, want [%s]", id, p.Exporters, w.exporter)
		}
	}

	// The receiver listens on all addresses (the Collector's default is
	// localhost, unreachable from another container) on the standard ports.
	rc, ok := cfg.Receivers[otlpReceiverID].(*otlpreceiver.Config)
	if !ok {
		t.Fatalf("receiver %s: config is %T", otlpReceiverID, cfg.Receivers[otlpReceiverID])
	}
	if !rc.Protocols.GRPC.HasValue() {
		t.Error("otlp receiver: no grpc protocol")
	} else if got := rc.Protocols.GRPC.Get().NetAddr.Endpoint; got != "0.0.0.0:4317" {
		t.Errorf("otlp receiver: grpc endpoint %q, want 0.0.0.0:4317", got)
	}
	if !rc.Protocols.HTTP.HasValue() {
		t.Error("otlp receiver: no http protocol")
	} else if got := rc.Protocols.HTTP.Get().ServerConfig.NetAddr.Endpoint; got != "0.0.0.0:4318" {
		t.Errorf("otlp receiver: http endpoint %q, want 0.0.0.0:4318", got)
	}

	prw, ok := cfg.Exporters[prwID].(*prometheusremotewriteexporter.Config)
	if !ok {
		t.Fatalf("exporter %s: config is %T", prwID, cfg.Exporters[prwID])
	}
	if got := prw.HTTP.Endpoint; got != "http://prometheus:9090/api/v1/write" {
		t.Errorf("%s: endpoint %q, want http://prometheus:9090/api/v1/write", prwID, got)
	}
	// A resource attribute copied onto the data points would replace the
	// data-point attribute host.name of the --otlp.semconv metrics.
	//lint:ignore SA1019 the deprecated setting must stay unset too
	if !prw.ResourceConstantLabels.IsEmpty() || !prw.ResourceToTelemetrySettings.IsEmpty() {
		t.Errorf("%s: resource attributes are copied onto every series; the doc says they are left on target_info", prwID)
	}
	if !prw.DisableScopeInfo {
		t.Errorf("%s: disable_scope_info is false: every series would get otel_scope_name", prwID)
	}

	og, ok := cfg.Exporters[otlpGRPCID].(*otlpexporter.Config)
	if !ok {
		t.Fatalf("exporter %s: config is %T", otlpGRPCID, cfg.Exporters[otlpGRPCID])
	}
	if got := og.ClientConfig.Endpoint; got != "tempo:4317" {
		t.Errorf("%s: endpoint %q, want tempo:4317", otlpGRPCID, got)
	}
	if !og.ClientConfig.TLS.Insecure {
		t.Errorf("%s: tls.insecure is false; the doc describes a plain-text connection to tempo", otlpGRPCID)
	}
}

// The flags and variables docs/opentelemetry.md must describe, and the only
// ones it may name: a misspelt variable in the doc is one a user sets in
// vain.
var (
	otlpFlags = []string{"--otlp.metrics", "--otlp.traces", "--otlp.interval", "--otlp.semconv"}

	otelVarsRequired = []string{
		"OTEL_METRICS_EXPORTER",
		"OTEL_TRACES_EXPORTER",
		"OTEL_METRIC_EXPORT_INTERVAL",
		"OTEL_METRIC_EXPORT_TIMEOUT",
		"OTEL_EXPORTER_OTLP_ENDPOINT",
		"OTEL_EXPORTER_OTLP_PROTOCOL",
		"OTEL_EXPORTER_OTLP_HEADERS",
		"OTEL_EXPORTER_OTLP_CERTIFICATE",
		"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
		"OTEL_EXPORTER_OTLP_CLIENT_KEY",
		"OTEL_EXPORTER_OTLP_INSECURE",
		"OTEL_EXPORTER_OTLP_COMPRESSION",
		"OTEL_EXPORTER_OTLP_TIMEOUT",
		"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_RESOURCE_ATTRIBUTES",
		"OTEL_SERVICE_NAME",
		"OTEL_TRACES_SAMPLER",
		"OTEL_TRACES_SAMPLER_ARG",
		"OTEL_BSP_SCHEDULE_DELAY",
		"OTEL_BSP_EXPORT_TIMEOUT",
		"OTEL_BSP_MAX_QUEUE_SIZE",
		"OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
	}
	// Per-signal forms of the OTLP variables, and the families as written
	// with a trailing _* (the regexp below stops before the _*).
	otelVarsAllowed = append(slices.Clone(otelVarsRequired),
		"OTEL_EXPORTER_OTLP", "OTEL_EXPORTER_OTLP_METRICS", "OTEL_EXPORTER_OTLP_TRACES", "OTEL_BSP",
		"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
		"OTEL_EXPORTER_OTLP_METRICS_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
		"OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
		"OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
		"OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
		"OTEL_EXPORTER_OTLP_METRICS_INSECURE", "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
		"OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
		"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
	)

	otelVarRE  = regexp.MustCompile(`OTEL_[A-Z_]*[A-Z]`)
	otlpFlagRE = regexp.MustCompile(`--otlp\.[a-z.-]*[a-z]`)
)

// TestOpenTelemetryDoc checks that docs/opentelemetry.md names every
// --otlp.* flag and every OTEL_* variable that docker-monitor honours, no
// other, the exports counter, the example Collector config (as a link that
// resolves) and the place the semantic-convention table goes.
func TestOpenTelemetryDoc(t *testing.T) {
	b, err := os.ReadFile(otelDocPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)

	for _, f := range otlpFlags {
		if !strings.Contains(doc, "`"+f) {
			t.Errorf("%s does not mention flag %s", otelDocPath, f)
		}
	}
	for _, f := range otlpFlagRE.FindAllString(doc, -1) {
		if !slices.Contains(otlpFlags, f) {
			t.Errorf("%s names flag %s, which is not one of %v", otelDocPath, f, otlpFlags)
		}
	}
	for _, v := range otelVarsRequired {
		if !regexp.MustCompile(`\b` + v + `\b`).MatchString(doc) {
			t.Errorf("%s does not mention variable %s", otelDocPath, v)
		}
	}
	for _, v := range otelVarRE.FindAllString(doc, -1) {
		if !slices.Contains(otelVarsAllowed, v) {
			t.Errorf("%s names variable %s, which docker-monitor does not read", otelDocPath, v)
		}
	}

	for _, s := range []string{
		"docker_monitor_otlp_exports_total",
		`signal="metrics|traces"`,
		`result="success|failure|dropped"`,
		"\n## Semantic conventions (`--otlp.semconv`)\n",
		"\n<!-- MAPPING TABLE -->\n",
	} {
		if !strings.Contains(doc, s) {
			t.Errorf("%s does not contain %q", otelDocPath, s)
		}
	}
	link := "](../examples/" + collectorConfigPath + ")"
	if !strings.Contains(doc, link) {
		t.Errorf("%s does not link the example config as %q", otelDocPath, link)
	}
	// The doc's walk-through quotes the example's keys; they must be there.
	cfg, err := os.ReadFile(collectorConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"target_info", "disable_scope_info: true", "insecure: true", "0.0.0.0:4317", "0.0.0.0:4318"} {
		if !strings.Contains(string(cfg), key) {
			t.Errorf("%s lacks %q, which %s describes", collectorConfigPath, key, otelDocPath)
		}
		if !strings.Contains(doc, strings.TrimSuffix(key, ":")) {
			t.Errorf("%s does not describe %q of %s", otelDocPath, key, collectorConfigPath)
		}
	}
}

// TestCollectorEndToEnd runs examples/otel-collector.yml in a real Collector
// (this module's components, wired by otelcol), with only its addresses
// changed to 127.0.0.1, between the OpenTelemetry SDK's OTLP exporters
// (gRPC and HTTP, as docker-monitor's) and a real Prometheus with the
// remote-write receiver on, and a trace sink in place of Tempo. What it
// checks is what docs/opentelemetry.md says arrives in Prometheus.
func TestCollectorEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and a Collector")
	}
	prom := startRemoteWritePrometheus(t)
	sink, sinkAddr := startTraceSink(t)

	grpcAddr := fmt.Sprintf("127.0.0.1:%d", testlab.FreePort(t))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testlab.FreePort(t))
	startCollector(t,
		"receivers::otlp::protocols::grpc::endpoint: "+grpcAddr,
		"receivers::otlp::protocols::http::endpoint: "+httpAddr,
		"exporters::"+prwID.String()+"::http::endpoint: http://"+prom.addr+"/api/v1/write",
		"exporters::"+otlpGRPCID.String()+"::endpoint: "+sinkAddr,
	)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// docker-monitor's push: Prometheus collectors bridged to OTLP, plus an
	// SDK instrument with a semantic-convention name and a host.name
	// data-point attribute, as --otlp.semconv sends.
	grpcExp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(grpcAddr), otlpmetricgrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	pushMetrics(ctx, t, grpcExp, "e2e-grpc")
	httpExp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(httpAddr), otlpmetrichttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	pushMetrics(ctx, t, httpExp, "e2e-http")

	for _, instance := range []string{"e2e-grpc", "e2e-http"} {
		sel := `{job="docker-monitor",instance="` + instance + `"}`
		// The same name and labels as on /metrics, plus job and instance:
		// no otel_scope_name, no resource attribute.
		got := prom.waitFor(t, `docker_events_total`+sel)
		wantLabels := map[string]string{
			"__name__": "docker_events_total", "job": "docker-monitor", "instance": instance,
			"host": "local", "type": "container", "action": "start",
		}
		if !maps.Equal(got.Metric, wantLabels) || got.value(t) != 3 {
			t.Errorf("%s: got %v = %v, want %v = 3", instance, got.Metric, got.Value, wantLabels)
		}
		if v := prom.waitFor(t, `docker_host_up`+sel).value(t); v != 1 {
			t.Errorf("%s: docker_host_up = %v, want 1", instance, v)
		}
		// A histogram arrives as the classic series, buckets as on /metrics.
		if v := prom.waitFor(t, `docker_monitor_discovery_duration_seconds_bucket{le="0.5",job="docker-monitor",instance="`+instance+`"}`).value(t); v != 1 {
			t.Errorf("%s: bucket le=0.5 = %v, want 1", instance, v)
		}
		if v := prom.waitFor(t, `docker_monitor_discovery_duration_seconds_count`+sel).value(t); v != 1 {
			t.Errorf("%s: _count = %v, want 1", instance, v)
		}
		// The resource's other attributes are on target_info, and the doc's
		// join brings host.name to a series.
		joined := prom.waitFor(t, `docker_host_up`+sel+` * on (job, instance) group_left (host_name) target_info`)
		if joined.Metric["host_name"] != "e2e-machine" {
			t.Errorf("%s: join on target_info: got %v, want host_name=e2e-machine", instance, joined.Metric)
		}
		// The semantic-convention metric gets its unit and _total, and its
		// data-point host.name (the Docker host) is not overwritten by the
		// resource's (the machine).
		sc := prom.waitFor(t, `container_cpu_time_seconds_total`+sel)
		if sc.Metric["host_name"] != "local" || sc.Metric["cpu_mode"] != "user" || sc.value(t) != 1.5 {
			t.Errorf("%s: container_cpu_time_seconds_total: got %v = %v, want host_name=local, cpu_mode=user = 1.5", instance, sc.Metric, sc.Value)
		}
	}

	// Traces go through to the OTLP exporter, resource and all.
	traceExp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(traceExp), sdktrace.WithResource(e2eResource("e2e-traces")))
	_, span := tp.Tracer("e2e").Start(ctx, "push")
	span.End()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for sink.SpanCount() == 0 {
		if ctx.Err() != nil {
			t.Fatal("no span reached the traces exporter's endpoint")
		}
		time.Sleep(50 * time.Millisecond)
	}
	rs := sink.AllTraces()[0].ResourceSpans().At(0)
	if name, _ := rs.Resource().Attributes().Get("service.name"); name.AsString() != "docker-monitor" {
		t.Errorf("span resource service.name = %q, want docker-monitor", name.AsString())
	}
	if got := rs.ScopeSpans().At(0).Spans().At(0).Name(); got != "push" {
		t.Errorf("span name %q, want push", got)
	}
}

func e2eResource(instance string) *resource.Resource {
	return resource.NewSchemaless(
		attribute.String("service.name", "docker-monitor"),
		attribute.String("service.instance.id", instance),
		attribute.String("host.name", "e2e-machine"),
	)
}

// pushMetrics pushes once through exp what docker-monitor would: a registry
// of Prometheus collectors through the bridge, and a semantic-convention
// metric from an SDK instrument.
func pushMetrics(ctx context.Context, t *testing.T, exp sdkmetric.Exporter, instance string) {
	t.Helper()
	reg := prometheus.NewRegistry()
	events := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "docker_events_total", Help: "Docker events."}, []string{"host", "type", "action"})
	up := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "docker_host_up", Help: "Host up."}, []string{"host"})
	disc := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "docker_monitor_discovery_duration_seconds", Help: "Resync time.", Buckets: []float64{0.1, 0.5, 1},
	}, []string{"host"})
	reg.MustRegister(events, up, disc)
	events.WithLabelValues("local", "container", "start").Add(3)
	up.WithLabelValues("local").Set(1)
	disc.WithLabelValues("local").Observe(0.25)

	reader := sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour),
		sdkmetric.WithProducer(prometheusbridge.NewMetricProducer(prometheusbridge.WithGatherer(reg))))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithResource(e2eResource(instance)))
	_, err := mp.Meter("github.com/snadboy/docker-monitor/semconv").Float64ObservableCounter("container.cpu.time",
		metric.WithUnit("s"),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			o.Observe(1.5, metric.WithAttributes(
				attribute.String("cpu.mode", "user"),
				attribute.String("host.name", "local"),
				attribute.String("container.name", "web")))
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	// Shutdown pushes what is pending, once, and waits for the export.
	if err := mp.Shutdown(ctx); err != nil {
		t.Fatalf("push to the Collector (%s): %v", instance, err)
	}
}

// startCollector runs the example configuration, with the overrides given
// (confmap's yaml: URIs, key paths separated by ::), until the test ends. Its
// log is shown if the test fails.
func startCollector(t *testing.T, overrides ...string) {
	t.Helper()
	path, err := filepath.Abs(collectorConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	uris := []string{"file:" + path}
	for _, o := range overrides {
		uris = append(uris, "yaml:"+o)
	}
	var log testlab.SyncBuffer
	logger := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(&log), zap.InfoLevel))
	col, err := otelcol.NewCollector(otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{Command: "otelcol-e2e", Description: "examples test", Version: "test"},
		Factories: func() (otelcol.Factories, error) {
			f, err := collectorFactories()
			f.Telemetry = telemetry.NewFactory(func() component.Config { return struct{}{} },
				telemetry.WithCreateLogger(func(context.Context, telemetry.LoggerSettings, component.Config) (*zap.Logger, component.ShutdownFunc, error) {
					return logger, nil, nil
				}))
			return f, err
		},
		ConfigProviderSettings: otelcol.ConfigProviderSettings{ResolverSettings: confmap.ResolverSettings{
			URIs:              uris,
			ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory(), yamlprovider.NewFactory()},
		}},
		// The test process's signals are go test's, not the Collector's.
		DisableGracefulShutdown: true,
		SkipSettingGRPCLogger:   true,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- col.Run(context.Background()) }()
	t.Cleanup(func() {
		col.Shutdown()
		if err := <-done; err != nil {
			t.Errorf("collector: %v", err)
		}
		if t.Failed() {
			t.Logf("collector log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for col.GetState() != otelcol.StateRunning {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("collector did not start: %v\n%s", err, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector not running after 30s:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startTraceSink stands in for Tempo: an OTLP/gRPC receiver that keeps the
// spans it gets.
func startTraceSink(t *testing.T) (*consumertest.TracesSink, string) {
	t.Helper()
	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*otlpreceiver.Config)
	addr := fmt.Sprintf("127.0.0.1:%d", testlab.FreePort(t))
	cfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = addr
	cfg.Protocols.HTTP = configoptional.None[otlpreceiver.HTTPConfig]()
	sink := new(consumertest.TracesSink)
	r, err := f.CreateTraces(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Shutdown(context.Background()); err != nil {
			t.Errorf("trace sink: %v", err)
		}
	})
	return sink, addr
}

// remoteWritePrometheus is a Prometheus server started by this test, with
// the remote-write receiver on, which testlab.StartPrometheus does not
// offer.
type remoteWritePrometheus struct {
	addr string
	dir  string
}

// startRemoteWritePrometheus starts Debian's Prometheus (the one the other
// end-to-end tests use) on a free loopback port with its own TSDB, and stops
// it, by its PID only, when the test ends. Without the binary the test is
// skipped, except under CI=true, where it fails.
func startRemoteWritePrometheus(t *testing.T) *remoteWritePrometheus {
	t.Helper()
	testlab.RequirePrometheus(t)
	p := &remoteWritePrometheus{dir: t.TempDir()}
	p.addr = fmt.Sprintf("127.0.0.1:%d", testlab.FreePort(t))
	cfg := filepath.Join(p.dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 15s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(p.dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command("/usr/bin/prometheus",
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(p.dir, "data"),
		"--web.listen-address="+p.addr,
		"--web.enable-remote-write-receiver",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // gone with this test process, whatever happens
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(p.dir, "prometheus.log"))
			t.Logf("prometheus log:\n%s", b)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + p.addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-exited:
			t.Fatalf("prometheus exited during startup")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus on %s not ready after 60s: %v", p.addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// promSample is one series of an instant query's answer.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s promSample) value(t *testing.T) float64 {
	t.Helper()
	str, _ := s.Value[1].(string)
	v, err := strconv.ParseFloat(str, 64)
	if err != nil {
		t.Errorf("value %v: %v", s.Value, err)
	}
	return v
}

// waitFor runs the instant query until it returns exactly one series, for at
// most 30 s: remote write goes through the Collector's batch processor and
// queue first.
func (p *remoteWritePrometheus) waitFor(t *testing.T, query string) promSample {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for {
		resp, err := http.Get("http://" + p.addr + "/api/v1/query?" + url.Values{"query": {query}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Status string `json:"status"`
			Error  string `json:"error"`
			Data   struct {
				Result []promSample `json:"result"`
			} `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		if body.Status != "success" {
			t.Fatalf("%s: %s", query, body.Error)
		}
		if len(body.Data.Result) == 1 {
			return body.Data.Result[0]
		}
		last = fmt.Sprint(body.Data.Result)
		if time.Now().After(deadline) {
			t.Fatalf("%s: want one series within 30s, got %s", query, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
