package otlplab

import (
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Point is one data point of a received metric, flattened so that tests can
// compare plain values instead of walking pdata.
type Point struct {
	Name  string
	Unit  string
	Scope string // instrumentation scope name
	// Kind is "gauge", "sum", "histogram", "exponential_histogram" or
	// "summary".
	Kind string
	// Temporality is "cumulative" or "delta" for sums and histograms, empty
	// otherwise.
	Temporality string
	Monotonic   bool // sums only
	// Value is the number for gauges and sums and the observation count for
	// histograms and summaries, so that "did anything arrive" checks read
	// the same for every kind.
	Value float64
	Sum   float64 // histograms and summaries
	Count uint64  // histograms and summaries
	Attrs map[string]string
	// Time and StartTime are zero when the exporter left them unset.
	Time, StartTime time.Time
	Resource        map[string]string
}

// Metrics returns deep copies of every metrics export received so far, in
// arrival order; tests may modify them freely.
func (r *Receiver) Metrics() []pmetric.Metrics {
	all := r.metrics.AllMetrics()
	out := make([]pmetric.Metrics, len(all))
	for i, md := range all {
		out[i] = pmetric.NewMetrics()
		md.CopyTo(out[i])
	}
	return out
}

// Points flattens exports into data points, in export order.
func Points(ms []pmetric.Metrics) []Point {
	var out []Point
	for _, md := range ms {
		rms := md.ResourceMetrics()
		for i := range rms.Len() {
			rm := rms.At(i)
			res := attrs(rm.Resource().Attributes())
			sms := rm.ScopeMetrics()
			for j := range sms.Len() {
				sm := sms.At(j)
				mets := sm.Metrics()
				for k := range mets.Len() {
					base := Point{Scope: sm.Scope().Name(), Resource: res}
					out = append(out, metricPoints(mets.At(k), base)...)
				}
			}
		}
	}
	return out
}

// Named returns the points of ps that belong to metric name.
func Named(ps []Point, name string) []Point {
	var out []Point
	for _, p := range ps {
		if p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

func metricPoints(m pmetric.Metric, base Point) []Point {
	base.Name, base.Unit = m.Name(), m.Unit()
	var out []Point
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		base.Kind = "gauge"
		out = numberPoints(m.Gauge().DataPoints(), base)
	case pmetric.MetricTypeSum:
		s := m.Sum()
		base.Kind, base.Monotonic = "sum", s.IsMonotonic()
		base.Temporality = temporality(s.AggregationTemporality())
		out = numberPoints(s.DataPoints(), base)
	case pmetric.MetricTypeHistogram:
		h := m.Histogram()
		base.Kind, base.Temporality = "histogram", temporality(h.AggregationTemporality())
		dps := h.DataPoints()
		for i := range dps.Len() {
			dp := dps.At(i)
			out = append(out, countPoint(base, dp.Count(), dp.Sum(), dp.Attributes(), dp.Timestamp(), dp.StartTimestamp()))
		}
	case pmetric.MetricTypeExponentialHistogram:
		h := m.ExponentialHistogram()
		base.Kind, base.Temporality = "exponential_histogram", temporality(h.AggregationTemporality())
		dps := h.DataPoints()
		for i := range dps.Len() {
			dp := dps.At(i)
			out = append(out, countPoint(base, dp.Count(), dp.Sum(), dp.Attributes(), dp.Timestamp(), dp.StartTimestamp()))
		}
	case pmetric.MetricTypeSummary:
		base.Kind = "summary"
		dps := m.Summary().DataPoints()
		for i := range dps.Len() {
			dp := dps.At(i)
			out = append(out, countPoint(base, dp.Count(), dp.Sum(), dp.Attributes(), dp.Timestamp(), dp.StartTimestamp()))
		}
	}
	return out
}

func numberPoints(dps pmetric.NumberDataPointSlice, base Point) []Point {
	out := make([]Point, 0, dps.Len())
	for i := range dps.Len() {
		dp := dps.At(i)
		p := base
		if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
			p.Value = float64(dp.IntValue())
		} else {
			p.Value = dp.DoubleValue()
		}
		p.Attrs = attrs(dp.Attributes())
		p.Time, p.StartTime = timeOf(dp.Timestamp()), timeOf(dp.StartTimestamp())
		out = append(out, p)
	}
	return out
}

func countPoint(base Point, count uint64, sum float64, a pcommon.Map, ts, start pcommon.Timestamp) Point {
	p := base
	p.Value, p.Count, p.Sum = float64(count), count, sum
	p.Attrs = attrs(a)
	p.Time, p.StartTime = timeOf(ts), timeOf(start)
	return p
}

func temporality(t pmetric.AggregationTemporality) string {
	switch t {
	case pmetric.AggregationTemporalityCumulative:
		return "cumulative"
	case pmetric.AggregationTemporalityDelta:
		return "delta"
	}
	return ""
}

// attrs renders every value as a string (slices and maps as JSON) so that
// tests need not care which attribute type an exporter chose.
func attrs(m pcommon.Map) map[string]string {
	out := make(map[string]string, m.Len())
	for k, v := range m.All() {
		out[k] = v.AsString()
	}
	return out
}

// timeOf maps OTLP's "unset" (0) to the zero time.Time rather than 1970,
// so that IsZero means what a test expects.
func timeOf(ts pcommon.Timestamp) time.Time {
	if ts == 0 {
		return time.Time{}
	}
	return ts.AsTime()
}

// WaitMetric waits up to timeout for an export that contains metric name and
// returns all points of the latest such export (one export is one collection
// by the sender, so its points are mutually consistent). Fails the test on
// timeout; call it from the test's goroutine.
func (r *Receiver) WaitMetric(t testing.TB, timeout time.Duration, name string) []Point {
	t.Helper()
	var found []Point
	r.wait(t, timeout, func() bool {
		ms := r.metrics.AllMetrics()
		for i := len(ms) - 1; i >= 0; i-- {
			if ps := Points(ms[i : i+1]); len(Named(ps, name)) > 0 {
				found = ps
				return true
			}
		}
		return false
	}, func() string {
		return "metric " + name + "; received names: " + strings.Join(names(Points(r.metrics.AllMetrics())), ", ")
	})
	return found
}

func names(ps []Point) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range ps {
		if !seen[p.Name] {
			seen[p.Name] = true
			out = append(out, p.Name)
		}
	}
	sort.Strings(out)
	return out
}

// wait re-checks cond after every accepted export rather than on a timer,
// so a wait ends as soon as its data is in and costs nothing meanwhile.
func (r *Receiver) wait(t testing.TB, timeout time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		ch := r.changes() // before cond, so no export slips in between
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("otlplab: no %s after %v", what(), timeout)
		}
	}
}
