// Package integration tests the exporter against real dockerd instances that
// internal/testlab starts.
package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/snadboy/docker-monitor/collector"
	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

func TestMain(m *testing.M) {
	code := testlab.Main(m)
	runBenchCleanups()
	os.Exit(code)
}

// exporter is an in-process docker-monitor serving /metrics over HTTP.
type exporter struct {
	url  string
	pool *hostpool.Pool
}

func startExporter(t *testing.T, hosts []config.Host, opts hostpool.Options, copts collector.Options) *exporter {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	m := hostpool.NewMetrics(reg)
	pool, err := hostpool.New(hosts, opts, m, log)
	if err != nil {
		t.Fatal(err)
	}
	if copts.EventWait == 0 {
		copts.EventWait = 500 * time.Millisecond
	}
	exp, err := collector.New(pool, m, copts, log)
	if err != nil {
		t.Fatal(err)
	}
	pool.Start(context.Background())
	srv := httptest.NewServer(exp.Handler(reg, collector.HandlerOptions{DefaultTimeout: 10 * time.Second, TimeoutOffset: 500 * time.Millisecond}, nil))
	t.Cleanup(func() {
		srv.Close()
		exp.Close()
		pool.Stop()
	})
	waitUntil(t, 60*time.Second, "first sync", pool.Ready)
	return &exporter{url: srv.URL + "/metrics", pool: pool}
}

// testWriter sends the exporter's log to the test log, so a failure shows it.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// metrics is one scrape, parsed.
type metrics map[string]*dto.MetricFamily

func (e *exporter) scrape(t *testing.T) metrics {
	t.Helper()
	return scrapeURL(t, e.url)
}

func scrapeURL(t testing.TB, url string) metrics {
	t.Helper()
	return scrapeWithTimeout(t, url, "10")
}

// scrapeWithTimeout scrapes as Prometheus with scrape_timeout seconds does,
// and gives up when that timeout is over, as Prometheus would.
func scrapeWithTimeout(t testing.TB, url, seconds string) metrics {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", seconds)
	limit, _ := time.ParseDuration(seconds + "s")
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	req = req.WithContext(ctx)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d, err %v: %s", resp.StatusCode, err, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return mfs
}

// get returns the value of the series of family name whose labels include
// want, and whether there is exactly one.
func (m metrics) get(name string, want map[string]string) (float64, bool) {
	var found []float64
	for _, s := range m[name].GetMetric() {
		if matches(s, want) {
			switch {
			case s.Gauge != nil:
				found = append(found, s.Gauge.GetValue())
			case s.Counter != nil:
				found = append(found, s.Counter.GetValue())
			case s.Untyped != nil:
				found = append(found, s.Untyped.GetValue())
			}
		}
	}
	if len(found) != 1 {
		return 0, false
	}
	return found[0], true
}

// matches reports whether the single series matching want has value v.
func (m metrics) matches(name string, want map[string]string, v float64) bool {
	got, ok := m.get(name, want)
	return ok && got == v
}

// atLeast reports whether the single series matching want is >= v.
func (m metrics) atLeast(name string, want map[string]string, v float64) bool {
	got, ok := m.get(name, want)
	return ok && got >= v
}

// count returns how many series of family name have labels including want.
func (m metrics) count(name string, want map[string]string) int {
	n := 0
	for _, s := range m[name].GetMetric() {
		if matches(s, want) {
			n++
		}
	}
	return n
}

// labels returns the label set of the single series matching want.
func (m metrics) labels(name string, want map[string]string) map[string]string {
	for _, s := range m[name].GetMetric() {
		if matches(s, want) {
			out := map[string]string{}
			for _, l := range s.GetLabel() {
				out[l.GetName()] = l.GetValue()
			}
			return out
		}
	}
	return nil
}

func matches(s *dto.Metric, want map[string]string) bool {
	have := map[string]string{}
	for _, l := range s.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// anyContainerSeries reports whether any docker_container_* series names c.
func (m metrics) anyContainerSeries(host, name string) []string {
	var fams []string
	for fam, mf := range m {
		if !strings.HasPrefix(fam, "docker_container_") {
			continue
		}
		for _, s := range mf.GetMetric() {
			if matches(s, map[string]string{"host": host, "name": name}) {
				fams = append(fams, fam)
				break
			}
		}
	}
	sort.Strings(fams)
	return fams
}

// waitUntil polls cond; it bounds waits for Docker itself (healthchecks,
// restart back-off), and never asserts on how long anything took.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// expect checks one series value and reports it clearly.
func expect(t *testing.T, m metrics, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := m.get(name, labels)
	if !ok {
		t.Errorf("%s%v: want one series = %v, found %d", name, labels, want, m.count(name, labels))
		return
	}
	if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

func lbl(kv ...string) map[string]string {
	if len(kv)%2 != 0 {
		panic(fmt.Sprint("odd label list ", kv))
	}
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// scrapeUntil scrapes until cond holds, and logs how many scrapes that took
// (1 is the usual case).
func scrapeUntil(t *testing.T, exp *exporter, what string, cond func(metrics) bool) metrics {
	t.Helper()
	var (
		m metrics
		n int
	)
	waitUntil(t, 30*time.Second, what, func() bool {
		m, n = exp.scrape(t), n+1
		return cond(m)
	})
	t.Logf("%s after %d scrape(s)", what, n)
	return m
}
