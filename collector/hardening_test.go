package collector

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/dockerfake"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// successOf returns docker_monitor_scrape_collector_success of one
// collector in a scrape bound to ctx.
func successOf(t *testing.T, exp *Exporter, ctx context.Context, collector string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(exp.Collector(ctx))
	for _, mf := range mustGather(t, reg) {
		if mf.GetName() != "docker_monitor_scrape_collector_success" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == collector {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no success series for collector %s", collector)
	return 0
}

// A container that stops or goes away between the cache read and its stats
// call is churn: left out, counted as not_running, and the stats collector
// still succeeds. Docker 20.10 answers the first with an empty 200 and the
// second with a 404.
func TestStatsChurnIsNoFailure(t *testing.T) {
	exp, fake, m := startFake(t, Options{})
	fake.EndStats("web")
	if err := fake.Remove("writer"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if got := successOf(t, exp, ctx, "stats"); got != 1 {
		t.Errorf("stats success = %v with two containers gone mid-scrape, want 1", got)
	}
	if v := testutil.ToFloat64(m.StatsErrors.WithLabelValues("fake", "not_running")); v != 2 {
		t.Errorf("stats_errors_total{reason=not_running} = %v, want 2", v)
	}
	if v := testutil.ToFloat64(m.StatsErrors.WithLabelValues("fake", "error")); v != 0 {
		t.Errorf("stats_errors_total{reason=error} = %v, want 0", v)
	}
	if n := testutil.CollectAndCount(exp.Collector(ctx), "docker_container_cpu_usage_seconds_total"); n != 2 {
		t.Errorf("%d containers with CPU stats, want the 2 still running", n)
	}
}

// Until its first sync ends, a host that answers says so, claims no empty
// cache, and the collectors that need the cache do not report success.
func TestFirstSyncIsNotAnEmptyHost(t *testing.T) {
	fake := dockerfake.StartT(t)
	release := fake.Hold("containers")
	defer release()
	pool, err := hostpool.New([]config.Host{testlab.Host(t, "fake", fake.Host)}, hostpool.DefaultOptions, hostpool.NewMetrics(nil), discard())
	if err != nil {
		t.Fatal(err)
	}
	pool.Start(context.Background())
	t.Cleanup(pool.Stop)
	waitFor(t, func() bool { return fake.Requests("containers") > 0 })
	exp, err := New(pool, hostpool.NewMetrics(nil), Options{}, discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	want := `
# HELP docker_host_synced 1 once a full list of the host's containers has completed since it joined the pool; until then its container, stats and RevP series are absent, not zero.
# TYPE docker_host_synced gauge
docker_host_synced{host="fake"} 0
# HELP docker_host_up 1 if the Docker daemon answered a ping in this scrape.
# TYPE docker_host_up gauge
docker_host_up{host="fake"} 1
`
	if err := testutil.CollectAndCompare(exp.Collector(ctx), strings.NewReader(want), "docker_host_up", "docker_host_synced"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(exp.Collector(ctx), "docker_host_containers"); n != 0 {
		t.Errorf("%d docker_host_containers series before the first sync, want none", n)
	}
	for _, c := range []string{"container", "stats", "revp"} {
		if got := successOf(t, exp, ctx, c); got != 0 {
			t.Errorf("%s success = %v during the first sync, want 0", c, got)
		}
	}
	release()
	waitFor(t, pool.Ready)
	waitFor(t, func() bool { return successOf(t, exp, ctx, "stats") == 1 })
	if n := testutil.CollectAndCount(exp.Collector(ctx), "docker_host_containers"); n != len(hostpool.States) {
		t.Errorf("%d docker_host_containers series after the sync, want %d", n, len(hostpool.States))
	}
}

// The scrape timeout header is the client's: it cannot make a scrape wait
// past --scrape.max-timeout on a hung host, a bad one is refused, and one
// too short to ping in counts nothing against the hosts.
func TestScrapeTimeoutHeaderIsBounded(t *testing.T) {
	exp, fake, m := startFake(t, Options{})
	reg := prometheus.NewRegistry()
	h := exp.Handler(reg, HandlerOptions{DefaultTimeout: time.Second, MaxTimeout: time.Second, TimeoutOffset: 100 * time.Millisecond}, nil)
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(timeout string) int {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", timeout)
		resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
		if err != nil {
			t.Fatalf("header %s: %v", timeout, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, bad := range []string{"NaN", "-1", "0", "soon"} {
		if code := get(bad); code != http.StatusBadRequest {
			t.Errorf("header %q: status %d, want 400", bad, code)
		}
	}

	if code := get("0.001"); code != http.StatusOK {
		t.Errorf("header 0.001: status %d", code)
	}
	if n := testutil.CollectAndCount(m.ConnectionErrors); n != 0 {
		t.Errorf("a 1ms scrape counted %d connection error series against a healthy host, want none", n)
	}

	fake.SetHang(true)
	before := runtime.NumGoroutine()
	done := make(chan int, 20)
	for range 20 {
		go func() { done <- get("Inf") }()
	}
	for range 20 {
		if code := <-done; code != http.StatusOK {
			t.Errorf("header Inf on a hung host: status %d", code)
		}
	}
	// Every one of them returned: none waits for ever. Their goroutines end
	// with them (within a margin for the HTTP server's own).
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before+10 })
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
