package hostpool

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// TracerName names the instrumentation scope of hostpool's spans.
const TracerName = "github.com/snadboy/docker-monitor/hostpool"

// Span attributes: the host alias (the host label of every series) and the
// Engine API endpoint (the endpoint label of
// docker_monitor_api_request_duration_seconds).
var (
	attrHost     = attribute.Key("docker.host")
	attrEndpoint = attribute.Key("docker.endpoint")
)

// AttrHost is the span attribute naming a Docker host by alias, for the
// spans other packages make per host.
func AttrHost(alias string) attribute.KeyValue { return attrHost.String(alias) }

// startSpan starts one of the host's own spans (resync, stats round).
func (h *Host) startSpan(ctx context.Context, name string) (context.Context, trace.Span) {
	return h.tracer.Start(ctx, name, trace.WithAttributes(attrHost.String(h.Alias)))
}

// EndSpan ends span with err's error status, if any.
func EndSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
