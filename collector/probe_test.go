package collector

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/snadboy/docker-monitor/internal/dockerfake"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

var probeOpts = HandlerOptions{DefaultTimeout: 10 * time.Second, MaxTimeout: time.Minute, TimeoutOffset: 500 * time.Millisecond}

// probeLab is an exporter of two fake hosts, a and b.
type probeLab struct {
	exp  *Exporter
	a, b *dockerfake.Server
}

func startProbeLab(t *testing.T) *probeLab {
	t.Helper()
	l := &probeLab{a: dockerfake.StartT(t), b: dockerfake.StartT(t)}
	l.exp, _ = startHosts(t, Options{}, testlab.Host(t, "a", l.a.Host), testlab.Host(t, "b", l.b.Host))
	return l
}

// probe serves one request to /probe?<query> with the header's timeout
// ("" for none). A probe that does not end is a failure of the deadline;
// the bound only keeps a broken build from hanging the test binary.
func (l *probeLab) probe(t *testing.T, query, timeout string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/probe?"+query, nil)
	if timeout != "" {
		r.Header.Set(timeoutHeader, timeout)
	}
	w := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.exp.ProbeHandler(probeOpts, nil).ServeHTTP(w, r)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("/probe?%s did not return", query)
	}
	return w
}

func parseExposition(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the probe: %v\n%s", err, body)
	}
	return mfs
}

func label(m *dto.Metric, name string) (string, bool) {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue(), true
		}
	}
	return "", false
}

// seriesOf returns name{labels} of every series with host=alias.
func seriesOf(mfs map[string]*dto.MetricFamily, alias string) map[string]bool {
	out := map[string]bool{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if h, ok := label(m, "host"); ok && h == alias {
				var ls []string
				for _, l := range m.GetLabel() {
					ls = append(ls, l.GetName()+"="+l.GetValue())
				}
				out[name+"{"+strings.Join(ls, ",")+"}"] = true
			}
		}
	}
	return out
}

// A probe serves one host's series, the same series a full scrape has for
// that host, and nothing of the exporter's own registry; the other host's
// daemon is not even pinged.
func TestProbeOneHost(t *testing.T) {
	l := startProbeLab(t)
	pingsB, statsB := l.b.Requests("ping"), l.b.Requests("stats")
	w := l.probe(t, "target=a", "")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	mfs := parseExposition(t, w.Body.String())
	for name, mf := range mfs {
		if !strings.HasPrefix(name, "docker_") && !strings.HasPrefix(name, "revp_") {
			t.Errorf("%s in a probe: only the host's series belong there", name)
		}
		if strings.HasPrefix(name, "docker_monitor_") && !strings.HasPrefix(name, "docker_monitor_scrape_collector_") {
			t.Errorf("%s in a probe: the exporter's own metrics are /metrics'", name)
		}
		for _, m := range mf.GetMetric() {
			if h, ok := label(m, "host"); ok && h != "a" {
				t.Errorf("%s with host=%q in the probe of a", name, h)
			}
		}
	}
	if up := mfs["docker_host_up"]; len(up.GetMetric()) != 1 || up.GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Errorf("docker_host_up = %v, want one series of a, 1", up)
	}
	if n := len(mfs["docker_container_cpu_usage_seconds_total"].GetMetric()); n != 4 { // running in the dataset
		t.Errorf("%d CPU series, want 4", n)
	}
	if p, s := l.b.Requests("ping"), l.b.Requests("stats"); p != pingsB || s != statsB {
		t.Errorf("probe of a made %d pings and %d stats calls to b", p-pingsB, s-statsB)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(l.exp.Collector(ctx))
	full := map[string]*dto.MetricFamily{}
	for _, mf := range mustGather(t, reg) {
		full[mf.GetName()] = mf
	}
	probed, scraped := seriesOf(mfs, "a"), seriesOf(full, "a")
	for s := range scraped {
		if !probed[s] {
			t.Errorf("%s in /metrics, not in the probe", s)
		}
	}
	for s := range probed {
		if !scraped[s] {
			t.Errorf("%s in the probe, not in /metrics", s)
		}
	}
}

// Every malformed probe is the client's error, answered 400 with a message
// that says what is wrong, before any daemon is asked anything.
func TestProbeBadRequest(t *testing.T) {
	l := startProbeLab(t)
	pings := l.a.Requests("ping") + l.b.Requests("ping")
	long := strings.Repeat("x", 10000)
	for _, tc := range []struct {
		query, timeout string
		want           string
	}{
		{"", "", "target parameter is missing"},
		{"target=", "", "target parameter is missing"},
		{"module=a", "", "target parameter is missing"},
		{"target=nope", "", `unknown target "nope"`},
		{"target=A", "", `unknown target "A"`},
		{"target=a%00", "", `unknown target "a\x00"`},
		{"target=" + long, "", `unknown target "` + long[:maxEchoedTarget] + `..."`},
		{"target=a&target=b", "", "target parameter given 2 times"},
		{"target=%zz", "", "bad query string"},
		{"target=a;b", "", "bad query string"},
		{"target=a", "abc", `X-Prometheus-Scrape-Timeout-Seconds: "abc" is not a positive number`},
		{"target=a", "-1", "is not a positive number"},
	} {
		w := l.probe(t, tc.query, tc.timeout)
		body := w.Body.String()
		if w.Code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("/probe?%.40s (timeout %q): %d %.200q, want 400 with %q", tc.query, tc.timeout, w.Code, body, tc.want)
		}
		if len(body) > 1000 {
			t.Errorf("/probe?%.40s: %d bytes of answer", tc.query, len(body))
		}
	}
	if n := l.a.Requests("ping") + l.b.Requests("ping"); n != pings {
		t.Errorf("%d pings for requests that were refused", n-pings)
	}
}

// A probe collects under the deadline of its own request: stats that do
// not come in time are left out (and counted) rather than holding the
// answer, and a host that hangs is down for the probe.
func TestProbeDeadline(t *testing.T) {
	fake := dockerfake.StartT(t)
	exp, m := startHosts(t, Options{}, testlab.Host(t, "a", fake.Host))
	l := &probeLab{exp: exp, a: fake}
	release := fake.HoldStats()
	defer release()

	w := l.probe(t, "target=a", "1") // 500ms to collect after the offset
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	mfs := parseExposition(t, w.Body.String())
	if n := len(mfs["docker_container_cpu_usage_seconds_total"].GetMetric()); n != 0 {
		t.Errorf("%d CPU series while the daemon holds every stats call", n)
	}
	if v := collectorSuccess(mfs, "stats"); v != 0 {
		t.Errorf("stats success %v, want 0 (the deadline passed)", v)
	}
	// At least: the round's own calls and the probe that stopped waiting
	// for it may both count a container, as they do for /metrics.
	if v := testutil.ToFloat64(m.StatsErrors.WithLabelValues("a", "timeout")); v < 4 {
		t.Errorf("stats_errors_total{reason=timeout} = %v, want each of the 4 running containers counted", v)
	}
	release()

	fake.SetHang(true)
	mfs = parseExposition(t, l.probe(t, "target=a", "1").Body.String())
	if up := mfs["docker_host_up"].GetMetric(); len(up) != 1 || up[0].GetGauge().GetValue() != 0 {
		t.Errorf("docker_host_up of a hung host = %v, want 0", up)
	}
}

func collectorSuccess(mfs map[string]*dto.MetricFamily, collector string) float64 {
	for _, m := range mfs["docker_monitor_scrape_collector_success"].GetMetric() {
		if c, _ := label(m, "collector"); c == collector {
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

// A probe and a full scrape of the same host that overlap make one round
// of stats calls between them, as two scrapes do.
func TestProbeSharesStatsRound(t *testing.T) {
	l := startProbeLab(t)
	release := l.a.HoldStats()
	defer release()
	running := int64(4) // in the recorded dataset
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	scraped := make(chan int, 1)
	go func() {
		scraped <- testutil.CollectAndCount(l.exp.Collector(ctx), "docker_container_cpu_usage_seconds_total")
	}()
	waitFor(t, func() bool { return l.a.Requests("stats") == running })
	pings := l.a.Requests("ping")
	probed := make(chan *httptest.ResponseRecorder, 1)
	go func() { probed <- l.probe(t, "target=a", "20") }()
	waitFor(t, func() bool { return l.a.Requests("ping") > pings })
	time.Sleep(200 * time.Millisecond) // let the probe reach the shared round
	release()
	if n := <-scraped; n != 2*int(running) { // the scrape has hosts a and b
		t.Errorf("scrape: %d CPU series, want %d", n, 2*running)
	}
	w := <-probed
	if n := len(parseExposition(t, w.Body.String())["docker_container_cpu_usage_seconds_total"].GetMetric()); n != int(running) {
		t.Errorf("probe: %d CPU series, want %d", n, running)
	}
	if got := l.a.Requests("stats"); got != running {
		t.Errorf("%d stats calls to a for an overlapping scrape and probe, want %d", got, running)
	}
}
