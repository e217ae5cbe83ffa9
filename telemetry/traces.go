package telemetry

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// defaultQueueSize is the batch span processor's OTEL_BSP_MAX_QUEUE_SIZE
// default.
const defaultQueueSize = 2048

// newTracerProvider sends spans through the batch span processor to the
// exporter autoexport builds from OTEL_TRACES_EXPORTER and the OTLP
// variables; the sampler comes from OTEL_TRACES_SAMPLER and _ARG, which the
// SDK reads. Returns nil when the variables say "none".
func newTracerProvider(ctx context.Context, x *exports, res *resource.Resource) (*sdktrace.TracerProvider, error) {
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, err
	}
	if autoexport.IsNoneSpanExporter(exp) {
		return nil, nil
	}
	b := &boundedProcessor{limit: int64(queueSize())}
	b.SpanProcessor = sdktrace.NewBatchSpanProcessor(countedSpanExporter{SpanExporter: exp, x: x, queued: &b.queued})
	b.x = x
	return sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSpanProcessor(b)), nil
}

// queueSize is the batch processor's queue as the SDK sizes it.
func queueSize() int {
	if n, err := strconv.Atoi(strings.TrimSpace(os.Getenv("OTEL_BSP_MAX_QUEUE_SIZE"))); err == nil && n > 0 {
		return n
	}
	return defaultQueueSize
}

// boundedProcessor counts the spans the batch processor would drop. The
// processor drops silently when its queue is full and keeps no count we can
// read; holding spans not yet handed to an export to the queue's size
// means its queue is never full, and every span turned away here is
// counted.
type boundedProcessor struct {
	sdktrace.SpanProcessor
	x      *exports
	limit  int64
	queued atomic.Int64 // ended and sampled, not yet handed to an export
}

func (b *boundedProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return // the batch processor exports sampled spans only
	}
	if b.queued.Add(1) > b.limit {
		b.queued.Add(-1)
		b.x.dropped(signalTraces, 1)
		return
	}
	b.SpanProcessor.OnEnd(s)
}

// countedSpanExporter counts each batch's spans by outcome, and releases
// their places in boundedProcessor's bound as they leave the queue.
type countedSpanExporter struct {
	sdktrace.SpanExporter
	x      *exports
	queued *atomic.Int64
}

func (e countedSpanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.queued.Add(-int64(len(spans)))
	err := e.SpanExporter.ExportSpans(ctx, spans)
	e.x.exported(signalTraces, len(spans), err)
	return err
}
