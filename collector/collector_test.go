package collector

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/snadboy/docker-monitor/internal/dockerfake"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

func TestLabelName(t *testing.T) {
	for in, want := range map[string]string{
		"team":                       "label_team",
		"com.docker.compose.project": "label_com_docker_compose_project",
		"snadboy.revp.80.domain":     "label_snadboy_revp_80_domain",
		"a-b/c d":                    "label_a_b_c_d",
	} {
		if got := LabelName(in); got != want {
			t.Errorf("LabelName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLabelAllowlistCollision(t *testing.T) {
	_, err := newContainerConcern([]string{"a.b", "a_b"})
	if err == nil || !strings.Contains(err.Error(), `"a.b" and "a_b" both become label label_a_b`) {
		t.Fatalf("err = %v", err)
	}
}

// The header is the client's: anything but a positive number of seconds
// is refused, and a long one is capped, so that no request can make a
// scrape wait for ever on a hung host.
func TestScrapeTimeout(t *testing.T) {
	o := HandlerOptions{DefaultTimeout: 10 * time.Second, MaxTimeout: time.Minute, TimeoutOffset: 500 * time.Millisecond}
	for _, tc := range []struct {
		header string
		want   time.Duration // 0: refused
	}{
		{"", 9500 * time.Millisecond},
		{"5", 4500 * time.Millisecond},
		{"0.25", 125 * time.Millisecond}, // offset larger than the timeout: half of it
		{"120", 59500 * time.Millisecond},
		{"1e9", 59500 * time.Millisecond},
		{"Inf", 59500 * time.Millisecond},
		{"+Inf", 59500 * time.Millisecond},
		{"1e400", 0}, // beyond float64: ParseFloat says Inf and an error
		{"garbage", 0},
		{"-3", 0},
		{"0", 0},
		{"NaN", 0},
		{"-Inf", 0},
	} {
		r, _ := http.NewRequest(http.MethodGet, "/metrics", nil)
		if tc.header != "" {
			r.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", tc.header)
		}
		got, err := o.ScrapeTimeout(r)
		switch {
		case tc.want == 0 && err == nil:
			t.Errorf("header %q: timeout %s, want an error", tc.header, got)
		case tc.want != 0 && (err != nil || got != tc.want):
			t.Errorf("header %q: timeout %s, %v; want %s", tc.header, got, err, tc.want)
		}
	}
}

// The metric names and HELP texts pass the same linter as
// `promtool check metrics`.
func TestPromlint(t *testing.T) {
	exp, _, m := startFake(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(exp.Collector(ctx), m.APIRequestDuration, m.ConnectionErrors, m.ContainersDiscovered,
		m.DiscoveryDuration, m.ActiveConnections, m.EventsDropped, m.StatsErrors)
	problems, err := promlint.NewWithMetricFamilies(mustGather(t, reg)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func mustGather(t *testing.T, g prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// A host that accepts requests and never answers is down for the scrape,
// and the scrape still ends by its deadline.
func TestHungHostIsDown(t *testing.T) {
	exp, fake, _ := startFake(t, Options{})
	fake.SetHang(true)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	want := `
# HELP docker_host_up 1 if the Docker daemon answered a ping in this scrape.
# TYPE docker_host_up gauge
docker_host_up{host="fake"} 0
`
	if err := testutil.CollectAndCompare(exp.Collector(ctx), strings.NewReader(want), "docker_host_up"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(exp.Collector(ctx), "docker_container_state"); n != 0 {
		t.Errorf("%d container series for a host that is down, want 0", n)
	}
}

// A host that hangs costs the other hosts nothing: their stats still arrive
// inside the scrape deadline, although every concern waits for all pings.
func TestHungHostDelaysNoOther(t *testing.T) {
	var fakes []*dockerfake.Server
	for range 2 {
		f := dockerfake.StartT(t)
		fakes = append(fakes, f)
	}
	exp, _ := startHosts(t, Options{},
		testlab.Host(t, "hung", fakes[0].Host), testlab.Host(t, "fine", fakes[1].Host))
	fakes[0].SetHang(true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(exp.Collector(ctx))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	running := 4 // in the recorded dataset
	got := map[string]int{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			host := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "host" {
					host = l.GetValue()
				}
			}
			switch {
			case mf.GetName() == "docker_host_up":
				got["up_"+host] = int(m.GetGauge().GetValue())
			case mf.GetName() == "docker_container_cpu_usage_seconds_total":
				got["cpu_"+host]++
			}
		}
	}
	want := map[string]int{"up_hung": 0, "up_fine": 1, "cpu_fine": running}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	if got["cpu_hung"] != 0 {
		t.Errorf("hung host has %d CPU series", got["cpu_hung"])
	}
}

// Two scrapes that overlap make one round of stats calls between them.
func TestOverlappingScrapesShareStats(t *testing.T) {
	exp, fake, _ := startFake(t, Options{})
	release := fake.HoldStats()
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	running := int64(4) // in the recorded dataset
	counts := make(chan int, 2)
	scrape := func() {
		counts <- testutil.CollectAndCount(exp.Collector(ctx), "docker_container_cpu_usage_seconds_total")
	}
	go scrape()
	waitFor(t, func() bool { return fake.Requests("stats") == running })
	pings := fake.Requests("ping")
	go scrape()
	waitFor(t, func() bool { return fake.Requests("ping") > pings })
	time.Sleep(200 * time.Millisecond) // let the second scrape reach the shared round
	release()
	for i := 0; i < 2; i++ {
		if n := <-counts; n != int(running) {
			t.Errorf("scrape %d: %d containers with CPU stats, want %d", i, n, running)
		}
	}
	if got := fake.Requests("stats"); got != running {
		t.Errorf("%d stats calls for two overlapping scrapes, want %d", got, running)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// The scrape that starts a shared round of stats may go away (a Prometheus
// replica that disconnects) without taking the round from the scrapes that
// joined it. A scrape that stops waiting at its deadline counts each
// running container it left out.
func TestSharedStatsRoundOutlivesItsStarter(t *testing.T) {
	exp, fake, m := startFake(t, Options{})
	release := fake.HoldStats()
	defer release()
	running := 4 // in the recorded dataset
	starter, cancelStarter := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelStarter()
	go testutil.CollectAndCount(exp.Collector(starter), "docker_container_cpu_usage_seconds_total")
	waitFor(t, func() bool { return fake.Requests("stats") == int64(running) })

	impatient, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if n := testutil.CollectAndCount(exp.Collector(impatient), "docker_container_cpu_usage_seconds_total"); n != 0 {
		t.Errorf("impatient scrape: %d CPU series, want 0", n)
	}
	if v := testutil.ToFloat64(m.StatsErrors.WithLabelValues("fake", "timeout")); v != float64(running) {
		t.Errorf("stats_errors_total{reason=timeout} = %v after a scrape gave up, want %d", v, running)
	}

	joined := make(chan int)
	ctx, cancelJoined := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelJoined()
	pings := fake.Requests("ping")
	go func() {
		joined <- testutil.CollectAndCount(exp.Collector(ctx), "docker_container_cpu_usage_seconds_total")
	}()
	waitFor(t, func() bool { return fake.Requests("ping") > pings })
	time.Sleep(200 * time.Millisecond) // let it join the round
	cancelStarter()
	time.Sleep(100 * time.Millisecond)
	release()
	if n := <-joined; n != running {
		t.Errorf("scrape that joined the round: %d CPU series after its starter went away, want %d", n, running)
	}
}
