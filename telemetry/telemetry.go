// Package telemetry sends what docker-monitor sees over OTLP: the metrics
// /metrics serves, bridged from the project's own Prometheus collectors and
// pushed on an interval, and traces of every collection. Configuration is
// the --otlp.* flags plus the standard OTEL_* variables.
package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/go-logr/logr"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Telemetry holds the OTLP pipelines; with both signals off it holds
// nothing and costs nothing.
type Telemetry struct {
	s      settings
	log    *slog.Logger
	x      *exports
	res    *resource.Resource
	tp     *sdktrace.TracerProvider // nil: tracing off
	mp     *sdkmetric.MeterProvider // nil: no push
	tracer trace.TracerProvider
}

// New sets up tracing as the options and variables ask and registers
// docker_monitor_otlp_exports_total on reg. The metric push starts with
// PushMetrics, once there is something to gather.
func New(ctx context.Context, o Options, reg prometheus.Registerer, log *slog.Logger) (*Telemetry, error) {
	s, err := o.resolve(osGetenv)
	if err != nil {
		return nil, err
	}
	t := &Telemetry{s: s, log: log, tracer: noop.NewTracerProvider()}
	if !s.metrics && !s.traces {
		return t, nil
	}
	if t.x, err = newExports(reg, log); err != nil {
		return nil, err
	}
	// Export failures reach the SDK's handler too, once per attempt; the
	// exports counter and its state-change lines already say so.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Debug("OpenTelemetry", "err", err) }))
	otel.SetLogger(logr.FromSlogHandler(log.Handler()))
	if t.res, err = newResource(ctx); err != nil {
		return nil, err
	}
	if s.traces {
		if t.tp, err = newTracerProvider(ctx, t.x, t.res); err != nil {
			return nil, err
		}
		if t.tp != nil {
			t.tracer = t.tp
		}
	}
	return t, nil
}

// newResource describes this process: the defaults first, then
// OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, which win.
func newResource(ctx context.Context) (*resource.Resource, error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(
			semconv.ServiceName("docker-monitor"),
			semconv.ServiceVersion(version.Version),
			semconv.ServiceInstanceID(uuid.NewString()),
		),
		resource.WithHost(),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if errors.Is(err, resource.ErrPartialResource) || errors.Is(err, resource.ErrSchemaURLConflict) {
		// What was detected is kept; the rest is named in err.
		return res, nil
	}
	return res, err
}

// TracerProvider is the provider every span comes from: the SDK's with
// tracing on, else the no-op one, which creates no span.
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tracer }

// Tracing says whether spans are recorded.
func (t *Telemetry) Tracing() bool { return t.tp != nil }

// PushMetrics starts the periodic push of what gather collects, if metrics
// are on.
func (t *Telemetry) PushMetrics(ctx context.Context, gather GatherFunc) error {
	if !t.s.metrics {
		return nil
	}
	mp, err := newMeterProvider(ctx, t.s, gather, t.x, t.tracer.Tracer(tracerName), t.res)
	if err != nil {
		return err
	}
	t.mp = mp
	t.log.Info("pushing metrics over OTLP", "interval", t.s.interval, "semconv", t.s.semconv)
	return nil
}

// Handler wraps h so that incoming requests continue the caller's W3C
// trace (traceparent) in a server span; with tracing off it is h itself.
func (t *Telemetry) Handler(h http.Handler, metricsPath string) http.Handler {
	if t.tp == nil {
		return h
	}
	return otelhttp.NewHandler(h, "docker-monitor",
		otelhttp.WithTracerProvider(t.tp),
		otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			return r.Method + " " + route(r.URL.Path, metricsPath)
		}))
}

// Shutdown pushes and flushes what is pending, within ctx: an endpoint that
// hangs cannot hold up the exit longer than that.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	if t.mp != nil {
		errs = append(errs, t.mp.Shutdown(ctx))
	}
	if t.tp != nil {
		errs = append(errs, t.tp.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// tracerName names the instrumentation scope of the push spans.
const tracerName = "github.com/snadboy/docker-monitor/telemetry"

// route names a request's span by what it asks for, not by its path: paths
// carry container IDs and names, which would make every span name unique.
func route(path, metricsPath string) string {
	switch {
	case path == metricsPath:
		return metricsPath
	case strings.HasPrefix(path, "/api/"):
		return "/api/v1/*"
	case path == "/-/healthy" || path == "/-/ready" || path == "/-/reload" || path == "/probe":
		return path
	}
	return "/"
}

func osGetenv(key string) string { return os.Getenv(key) }
