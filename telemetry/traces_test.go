package telemetry

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/snadboy/docker-monitor/internal/otlplab"
)

// TestSpansDroppedWhenTheEndpointHangs: with an endpoint that accepts and
// never answers, spans beyond the queue are turned away and counted, and
// ending a span never blocks.
func TestSpansDroppedWhenTheEndpointHangs(t *testing.T) {
	setEnv(t, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + otlplab.StartHanging(t), "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_EXPORTER_OTLP_INSECURE=true", "OTEL_EXPORTER_OTLP_TIMEOUT=1000", "OTEL_BSP_MAX_QUEUE_SIZE=10"})
	reg := prometheus.NewRegistry()
	tel, err := New(context.Background(), Options{Traces: true, Interval: DefaultInterval}, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	tr := tel.TracerProvider().Tracer("test")
	for range 100 {
		_, span := tr.Start(context.Background(), "s")
		span.End()
	}
	dropped := testutil.ToFloat64(tel.x.total.WithLabelValues(signalTraces, resultDropped))
	// At most the queue and one batch taken from it are admitted.
	if dropped < 80 {
		t.Errorf("%v of 100 spans dropped with a queue of 10", dropped)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = tel.Shutdown(ctx)
	if got := tel.x.total.WithLabelValues(signalTraces, resultSuccess); testutil.ToFloat64(got) != 0 {
		t.Errorf("spans counted as sent to a hanging endpoint")
	}
}
