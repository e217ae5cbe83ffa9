// Package otlplab runs the OpenTelemetry Collector's own OTLP receiver
// (go.opentelemetry.io/collector/receiver/otlpreceiver) inside a test, so
// that docker-monitor's OTLP push is checked against the decoder real
// collectors use rather than against a fake that shares our assumptions.
// It also provides endpoints that misbehave: one that accepts connections
// and never answers, and one where nobody listens.
package otlplab

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/snadboy/docker-monitor/internal/testlab"
)

// shutdownTimeout bounds Stop: the gRPC server's graceful stop ignores
// contexts, so a wedged RPC would otherwise hang the test binary silently.
const shutdownTimeout = 10 * time.Second

// startAttempts covers another test process binding one of our ports between
// testlab.FreePort's check and the receiver's bind.
const startAttempts = 5

// Receiver is an in-process OTLP receiver listening for gRPC and HTTP on
// 127.0.0.1, storing every metrics and traces export it accepts. Safe for
// concurrent use.
type Receiver struct {
	t        testing.TB
	grpcAddr string
	httpAddr string
	metrics  *consumertest.MetricsSink
	traces   *consumertest.TracesSink
	comps    []component.Component

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every accepted export

	stopOnce sync.Once
}

// Start runs a Receiver until the end of the test (or an earlier Stop).
func Start(t testing.TB) *Receiver {
	t.Helper()
	r := &Receiver{
		t:       t,
		metrics: new(consumertest.MetricsSink),
		traces:  new(consumertest.TracesSink),
		changed: make(chan struct{}),
	}
	var err error
	for range startAttempts {
		if err = r.start(); err == nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	if err != nil {
		t.Fatalf("otlplab: start OTLP receiver: %v", err)
	}
	t.Cleanup(r.Stop)
	return r
}

// start builds a fresh config each time because otlpreceiver shares one
// server per *Config between its traces and metrics halves (so that both
// signals are served on the same ports); a retry must not find the failed
// attempt's server in that map.
func (r *Receiver) start() error {
	grpcAddr := FreeAddr(r.t)
	httpAddr := FreeAddr(r.t)
	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*otlpreceiver.Config)
	// The default config holds both protocols as configoptional.Default,
	// which counts as disabled until YAML mentions them; GetOrInsertDefault
	// is the programmatic way to switch them on.
	cfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = grpcAddr
	cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = httpAddr

	ctx := context.Background()
	set := receivertest.NewNopSettings(f.Type())
	mr, err := f.CreateMetrics(ctx, set, cfg, r.metricsConsumer())
	if err != nil {
		return err
	}
	tr, err := f.CreateTraces(ctx, set, cfg, r.tracesConsumer())
	if err != nil {
		return err
	}
	// mr and tr wrap one server; starting both is what a collector
	// pipeline does, and the second start is a no-op.
	comps := []component.Component{mr, tr}
	for _, c := range comps {
		if err := c.Start(ctx, componenttest.NewNopHost()); err != nil {
			return errors.Join(err, shutdown(comps))
		}
	}
	r.grpcAddr, r.httpAddr, r.comps = grpcAddr, httpAddr, comps
	return nil
}

// Copying on arrival decouples stored batches from the request buffers,
// which the receiver may recycle once Consume returns when pdata's proto
// pooling feature gate is on.
func (r *Receiver) metricsConsumer() consumer.Metrics {
	c, _ := consumer.NewMetrics(func(ctx context.Context, md pmetric.Metrics) error {
		cp := pmetric.NewMetrics()
		md.CopyTo(cp)
		err := r.metrics.ConsumeMetrics(ctx, cp)
		r.notify()
		return err
	})
	return c
}

func (r *Receiver) tracesConsumer() consumer.Traces {
	c, _ := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		cp := ptrace.NewTraces()
		td.CopyTo(cp)
		err := r.traces.ConsumeTraces(ctx, cp)
		r.notify()
		return err
	})
	return c
}

func (r *Receiver) notify() {
	r.mu.Lock()
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

func (r *Receiver) changes() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// Stop shuts the receiver down now, so that exports to it are refused from
// here on; what it already received stays readable. Later calls, including
// the one at cleanup, do nothing.
func (r *Receiver) Stop() {
	r.stopOnce.Do(func() {
		if err := shutdown(r.comps); err != nil {
			r.t.Errorf("otlplab: stop OTLP receiver: %v", err)
		}
	})
}

func shutdown(comps []component.Component) error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		var errs []error
		for _, c := range comps {
			errs = append(errs, c.Shutdown(ctx))
		}
		done <- errors.Join(errs...)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("shutdown still running after %v", shutdownTimeout)
	}
}

// GRPCEndpoint returns the OTLP/gRPC address, "127.0.0.1:port".
func (r *Receiver) GRPCEndpoint() string { return r.grpcAddr }

// HTTPEndpoint returns the OTLP/HTTP base URL, "http://127.0.0.1:port";
// the signal paths are the defaults, /v1/metrics and /v1/traces.
func (r *Receiver) HTTPEndpoint() string { return "http://" + r.httpAddr }

// Env returns the OTEL_EXPORTER_OTLP_* variables (KEY=value) that point an
// OTLP exporter at this receiver over protocol "grpc", "http/protobuf" or
// "http/json". Signal-specific variables (OTEL_EXPORTER_OTLP_METRICS_*) in
// the caller's environment would override these, so a child process should
// not inherit them. Panics on any other protocol, a bug in the test.
func (r *Receiver) Env(protocol string) []string {
	switch protocol {
	case "grpc":
		return []string{
			"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + r.grpcAddr,
			"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
			"OTEL_EXPORTER_OTLP_INSECURE=true",
		}
	case "http/protobuf", "http/json":
		return []string{
			"OTEL_EXPORTER_OTLP_ENDPOINT=" + r.HTTPEndpoint(),
			"OTEL_EXPORTER_OTLP_PROTOCOL=" + protocol,
		}
	}
	panic(fmt.Sprintf("otlplab: unknown OTLP protocol %q", protocol))
}

// MetricBatches returns how many metrics exports were accepted. Exports
// without any data point never reach the sink and are not counted.
func (r *Receiver) MetricBatches() int { return len(r.metrics.AllMetrics()) }

// SpanBatches returns how many trace exports were accepted; as with metrics,
// empty ones are not counted.
func (r *Receiver) SpanBatches() int { return len(r.traces.AllTraces()) }

// FreeAddr returns "127.0.0.1:port" for a port nothing listens on, for
// exercising "connection refused". The port lies below the kernel's
// ephemeral range, so no outgoing connection will occupy it meanwhile.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", testlab.FreePort(t))
}

// StartHanging returns "127.0.0.1:port" of a listener that accepts
// connections and then neither reads nor writes until the end of the test:
// an OTLP endpoint that takes the connection and never answers, so only the
// exporter's own timeout ends an export.
func StartHanging(t testing.TB) string {
	t.Helper()
	return testlab.StartHang(t)
}
