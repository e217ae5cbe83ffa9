package integration

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/snadboy/docker-monitor/internal/otlplab"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// The OTLP tests run the binary against the OpenTelemetry Collector's own
// OTLP receiver (otlplab), over gRPC and over HTTP.

// otlpGauges must agree exactly between a push and the scrapes around it
// (the lab's containers do not change meanwhile); otlpStats are read from
// the daemon on every collection and may drift between reads.
var (
	otlpGauges = []string{"docker_container_state", "docker_host_up", "docker_container_info", "docker_container_pids_limit"}
	otlpStats  = []string{"docker_container_cpu_usage_seconds_total", "docker_container_cpu_user_seconds_total",
		"docker_container_memory_usage_bytes", "docker_container_pids", "docker_container_network_receive_bytes_total"}
)

// TestOTLPMetricsMatchScrape: a push between two scrapes carries every
// series of the compared families with the same attributes as the labels,
// gauges with the same values and stats within the two scrapes' range.
// With --otlp.semconv the semantic-convention metrics come too, with units.
func TestOTLPMetricsMatchScrape(t *testing.T) {
	d := testlab.Shared(t)
	d.Run(t, "otlp-burn", []string{"--pids-limit", "64"}, "cpu")
	d.Run(t, "otlp-idle", nil)
	d.Run(t, "otlp-exited", nil, "exit", "3")
	d.Docker(t, "wait", "otlp-exited")
	for _, proto := range []string{"grpc", "http/protobuf"} {
		t.Run(strings.ReplaceAll(proto, "/", "-"), func(t *testing.T) {
			r := otlplab.Start(t)
			exp := testlab.StartExporter(t, testlab.ExporterBinary(t), r.Env(proto), "--docker.host="+d.Host,
				"--otlp.metrics", "--otlp.interval=1s", "--otlp.semconv")
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("exporter log:\n%s", tail(exp.Logs(), 60))
				}
			})
			waitUntil(t, 60*time.Second, "a push with the lab's containers", func() bool {
				return len(containerPoints(latestWith(r, "docker_container_cpu_usage_seconds_total"), "otlp-burn")) > 0
			})
			before := scrapeURL(t, exp.URL+"/metrics")
			n := r.MetricBatches()
			// The second push after the scrape started collecting after the
			// first was sent, so after the scrape ended.
			waitUntil(t, 30*time.Second, "two more pushes", func() bool { return r.MetricBatches() >= n+2 })
			push := otlplab.Points(r.Metrics()[n+1 : n+2])
			after := scrapeURL(t, exp.URL+"/metrics")
			for _, name := range otlpGauges {
				compareFamily(t, name, push, before, after, false)
			}
			for _, name := range otlpStats {
				compareFamily(t, name, push, before, after, true)
			}
			checkSemconv(t, push)
			if v, ok := after.get("docker_monitor_otlp_exports_total", lbl("signal", "metrics", "result", "success")); !ok || v == 0 {
				t.Errorf("docker_monitor_otlp_exports_total{signal=metrics,result=success} = %v (found %v)", v, ok)
			}
		})
	}
}

// latestWith is the points of the latest push that has the metric.
func latestWith(r *otlplab.Receiver, name string) []otlplab.Point {
	ms := r.Metrics()
	for i := len(ms) - 1; i >= 0; i-- {
		if pts := otlplab.Points(ms[i : i+1]); len(otlplab.Named(pts, name)) > 0 {
			return pts
		}
	}
	return nil
}

func containerPoints(pts []otlplab.Point, name string) []otlplab.Point {
	var out []otlplab.Point
	for _, p := range pts {
		if p.Attrs["name"] == name {
			out = append(out, p)
		}
	}
	return out
}

// seriesKey identifies a series by its labels, whichever side it is on.
func seriesKey(labels map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		fmt.Fprintf(&b, "%s=%q,", k, labels[k])
	}
	return b.String()
}

func scrapeSeries(m metrics, name string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range m[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range s.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		out[seriesKey(labels)] = sampleValue(s)
	}
	return out
}

func sampleValue(s *dto.Metric) float64 {
	switch {
	case s.Gauge != nil:
		return s.Gauge.GetValue()
	case s.Counter != nil:
		return s.Counter.GetValue()
	}
	return math.NaN()
}

// compareFamily checks one family of the push against the scrapes before
// and after it: the same series (labels as attributes) and values equal
// to both scrapes', or, for stats, within their range (counters only
// grow; gauges move either way between reads).
func compareFamily(t *testing.T, name string, push []otlplab.Point, before, after metrics, drift bool) {
	t.Helper()
	b, a := scrapeSeries(before, name), scrapeSeries(after, name)
	pushed := map[string]float64{}
	for _, p := range otlplab.Named(push, name) {
		pushed[seriesKey(p.Attrs)] = p.Value
	}
	if len(pushed) == 0 {
		t.Errorf("%s: not in the push", name)
		return
	}
	for key, v := range pushed {
		lo, okB := b[key]
		hi, okA := a[key]
		if !okB || !okA {
			t.Errorf("%s{%s} pushed but not in both scrapes (before %v, after %v)", name, key, okB, okA)
			continue
		}
		lo, hi = min(lo, hi), max(lo, hi)
		switch {
		case !drift && (v != lo || v != hi):
			t.Errorf("%s{%s}: pushed %v, scraped %v and %v", name, key, v, b[key], a[key])
		case drift && strings.HasSuffix(name, "_total") && (v < lo || v > hi):
			t.Errorf("%s{%s}: pushed %v, outside the scrapes' range %v..%v", name, key, v, lo, hi)
		case drift && !strings.HasSuffix(name, "_total") && (v < lo/2 || v > hi*2):
			// A gauge read at another moment moves either way: the Go
			// fixture's heap went 1.90 MB → 1.38 MB → 1.90 MB under load.
			t.Errorf("%s{%s}: pushed %v, not within a factor 2 of the scrapes' %v..%v", name, key, v, lo, hi)
		}
	}
	for key := range b {
		if _, ok := pushed[key]; !ok {
			if _, still := a[key]; still {
				t.Errorf("%s{%s}: in both scrapes, not pushed", name, key)
			}
		}
	}
}

// checkSemconv: the semantic-convention metrics of the same push, with
// their units and attributes, equal to the bridged values they derive from.
func checkSemconv(t *testing.T, push []otlplab.Point) {
	t.Helper()
	units := map[string]string{"container.cpu.time": "s", "container.memory.usage": "By",
		"container.network.io": "By", "container.uptime": "s"}
	for name, unit := range units {
		pts := otlplab.Named(push, name)
		burn := 0
		for _, p := range pts {
			if p.Unit != unit {
				t.Errorf("%s: unit %q, want %q", name, p.Unit, unit)
			}
			if p.Attrs["container.name"] == "otlp-burn" {
				burn++
				for _, k := range []string{"container.id", "container.image.name", "host.name"} {
					if p.Attrs[k] == "" {
						t.Errorf("%s: no %s: %v", name, k, p.Attrs)
					}
				}
			}
		}
		if burn == 0 {
			t.Errorf("%s: no point for otlp-burn (%d points)", name, len(pts))
		}
	}
	var user, mem float64
	for _, p := range otlplab.Named(push, "docker_container_cpu_user_seconds_total") {
		if p.Attrs["name"] == "otlp-burn" {
			user = p.Value
		}
	}
	for _, p := range otlplab.Named(push, "docker_container_memory_usage_bytes") {
		if p.Attrs["name"] == "otlp-burn" {
			mem = p.Value
		}
	}
	for _, p := range otlplab.Named(push, "container.cpu.time") {
		if p.Attrs["container.name"] == "otlp-burn" && p.Attrs["cpu.mode"] == "user" && p.Value != user {
			t.Errorf("container.cpu.time{cpu.mode=user} = %v, docker_container_cpu_user_seconds_total = %v", p.Value, user)
		}
	}
	for _, p := range otlplab.Named(push, "container.memory.usage") {
		if p.Attrs["container.name"] == "otlp-burn" && p.Value != mem {
			t.Errorf("container.memory.usage = %v, docker_container_memory_usage_bytes = %v", p.Value, mem)
		}
	}
}

// TestOTLPTraces: a scrape that carries a W3C traceparent is traced under
// it: the server span, the scrape, a span per host (an error on the host
// that is down), the steps of each, and a client span per Engine API call
// with host, endpoint and status. The event goroutine's resyncs are traced
// as traces of their own.
func TestOTLPTraces(t *testing.T) {
	d := testlab.Shared(t)
	d.Run(t, "otlp-traced", nil)
	r := otlplab.Start(t)
	down := otlplab.FreeAddr(t)
	exp := testlab.StartExporter(t, testlab.ExporterBinary(t), append(r.Env("grpc"), "OTEL_BSP_SCHEDULE_DELAY=200"),
		"--docker.host="+d.Host, "--docker.host=tcp://"+down, "--otlp.traces",
		// Stats from the daemon, whose calls the stats round's spans are.
		"--stats.source=api")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("exporter log:\n%s", tail(exp.Logs(), 60))
		}
	})
	waitUntil(t, 60*time.Second, "the exporter to be ready", func() bool { return ready(exp.URL) })
	traceID, parentID := randomHex(t, 16), randomHex(t, 8)
	scrapeTraced(t, exp.URL+"/metrics", "00-"+traceID+"-"+parentID+"-01")
	spans := r.WaitSpans(t, 30*time.Second, func(ss []otlplab.Span) bool {
		for _, s := range ss {
			if s.TraceID == traceID && s.Name == "scrape" {
				return true
			}
		}
		return false
	})
	tree := newSpanTree(spans, traceID)
	server := tree.only(t, "GET /metrics", parentID)
	if server.Kind != "Server" {
		t.Errorf("server span kind %s", server.Kind)
	}
	scrape := tree.only(t, "scrape", server.SpanID)
	hosts := tree.children(scrape.SpanID)
	if len(hosts) != 2 {
		t.Fatalf("scrape has %d children, want a span per host: %v", len(hosts), names(hosts))
	}
	for _, h := range hosts {
		isDown := strings.Contains(h.Attrs["docker.host"], "127.0.0.1")
		if got := h.StatusCode == "Error"; got != isDown {
			t.Errorf("span %q (docker.host %q): status %s %q", h.Name, h.Attrs["docker.host"], h.StatusCode, h.StatusMessage)
		}
		steps := names(tree.children(h.SpanID))
		want := []string{"ping", "snapshot"}
		if !isDown {
			want = append(want, "stats round", "wait events")
		}
		for _, w := range want {
			if !slices.Contains(steps, w) {
				t.Errorf("span %q has no %q child: %v", h.Name, w, steps)
			}
		}
		ping := tree.only(t, "ping", h.SpanID)
		// The client pings with HEAD, and again with GET when that fails.
		calls := tree.children(ping.SpanID)
		ok := false
		for _, call := range calls {
			if call.Name != "docker ping" || call.Kind != "Client" || call.Attrs["docker.host"] != h.Attrs["docker.host"] || call.Attrs["docker.endpoint"] != "ping" {
				t.Errorf("ping call span %q: kind %s attrs %v", call.Name, call.Kind, call.Attrs)
			}
			if isDown && call.StatusCode != "Error" {
				t.Errorf("the down host's ping call has status %s", call.StatusCode)
			}
			ok = ok || call.Attrs["http.response.status_code"] == "200"
		}
		if len(calls) == 0 || ok == isDown {
			t.Errorf("host %q: ping calls %v, one answered 200: %v", h.Attrs["docker.host"], names(calls), ok)
		}
		if ping.StatusCode == "Error" != isDown {
			t.Errorf("ping span status %s", ping.StatusCode)
		}
		if isDown {
			continue
		}
		round := tree.only(t, "stats round", h.SpanID)
		stats := tree.children(round.SpanID)
		if len(stats) == 0 {
			t.Errorf("the stats round has no call spans")
		}
		for _, s := range stats {
			if s.Name != "docker container_stats" || s.Attrs["http.response.status_code"] != "200" || s.Attrs["docker.endpoint"] != "container_stats" {
				t.Errorf("stats call span %q: %v", s.Name, s.Attrs)
			}
		}
	}
	resync := false
	for _, s := range spans {
		if s.Name == "resync" && s.ParentID == "" && s.Attrs["docker.host"] != "" {
			resync = slices.Contains(names(newSpanTree(spans, s.TraceID).children(s.SpanID)), "docker containers_list")
			if resync {
				break
			}
		}
	}
	if !resync {
		t.Errorf("no resync trace with a containers_list call")
	}
}
