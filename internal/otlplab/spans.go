package otlplab

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Span is a received span, flattened; IDs are lowercase hex, ParentID is
// empty for a root span.
type Span struct {
	TraceID, SpanID, ParentID string
	Name                      string
	// Kind is "Unspecified", "Internal", "Server", "Client", "Producer" or
	// "Consumer".
	Kind  string
	Attrs map[string]string
	// StatusCode is "Unset", "Ok" or "Error".
	StatusCode    string
	StatusMessage string
	Start, End    time.Time
	Resource      map[string]string
	Scope         string // instrumentation scope name
}

// Spans returns every span received so far, in arrival order.
func (r *Receiver) Spans() []Span {
	var out []Span
	for _, td := range r.traces.AllTraces() {
		rss := td.ResourceSpans()
		for i := range rss.Len() {
			rs := rss.At(i)
			res := attrs(rs.Resource().Attributes())
			sss := rs.ScopeSpans()
			for j := range sss.Len() {
				ss := sss.At(j)
				spans := ss.Spans()
				for k := range spans.Len() {
					out = append(out, flatSpan(spans.At(k), ss.Scope().Name(), res))
				}
			}
		}
	}
	return out
}

func flatSpan(s ptrace.Span, scope string, res map[string]string) Span {
	return Span{
		TraceID:       s.TraceID().String(),
		SpanID:        s.SpanID().String(),
		ParentID:      s.ParentSpanID().String(),
		Name:          s.Name(),
		Kind:          s.Kind().String(),
		Attrs:         attrs(s.Attributes()),
		StatusCode:    s.Status().Code().String(),
		StatusMessage: s.Status().Message(),
		Start:         timeOf(s.StartTimestamp()),
		End:           timeOf(s.EndTimestamp()),
		Resource:      res,
		Scope:         scope,
	}
}

// WaitSpans waits up to timeout until done holds for all spans received so
// far and returns them. Fails the test on timeout; call it from the test's
// goroutine.
func (r *Receiver) WaitSpans(t testing.TB, timeout time.Duration, done func([]Span) bool) []Span {
	t.Helper()
	var spans []Span
	r.wait(t, timeout, func() bool {
		spans = r.Spans()
		return done(spans)
	}, func() string {
		var b strings.Builder
		b.WriteString("matching spans; received:")
		for _, s := range r.Spans() {
			fmt.Fprintf(&b, " %s(%s)", s.Name, s.StatusCode)
		}
		return b.String()
	})
	return spans
}
