package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/alerts"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// Issue 8, in CI for real: the exporter binary watches two daemons, a real
// Prometheus scrapes it every two seconds and evaluates the shipped alert
// rules (with every `for:` shortened to 1s) every second, and a real
// Alertmanager sends what fires to a webhook in this test. Fixtures make
// every condition the dashboards and the rules look at exist.

const (
	monJob = "docker-monitor" // the job name the dashboards' $job and the rules expect

	// Generous: the test machines are small and shared, and Docker's restart
	// back-off and healthchecks take their own time.
	alertTimeout = 90 * time.Second
)

// Names of the fixtures. Host monA is stopped and restarted at the end; the
// fixtures whose alerts are checked live on monB, which stays up.
const (
	monA = "mon-a"
	monB = "mon-b"

	fxCPU         = "mon-cpu"          // --cpus 0.5; its healthcheck runs in it every second, so CFS periods pass
	fxMemory      = "mon-memory"       // --memory 64m
	fxPids        = "mon-pids"         // --pids-limit 64
	fxHealthy     = "mon-healthy"      // a healthcheck that passes
	fxProbeOK     = "mon-probe-ok"     // RevP route whose health path answers 200
	fxConflictA   = "mon-conflict-a"   // RevP route for conflictDomain on monA
	fxConflictB   = "mon-conflict-b"   // the same domain on monB: a conflict across hosts
	fxUnhealthy   = "mon-unhealthy"    // a healthcheck that fails
	fxOOM         = "mon-oom"          // OOM-killed
	fxLoop        = "mon-loop"         // --restart always, exits 1 at once
	fxExited      = "mon-exited"       // exited with code 3
	fxLabelErrors = "mon-label-errors" // snadboy.revp.80.https=maybe: bad_boolean
	fxProbeFail   = "mon-probe-fail"   // RevP route whose health path answers 500

	conflictDomain = "same.example"
)

// TestMonitoringStack checks that the fixtures' alerts fire for the right
// host and container, that every dashboard expression returns data (see
// boardCheck), and that a Docker host going down and coming back reaches the
// webhook as DockerHostDown firing, then resolved.
func TestMonitoringStack(t *testing.T) {
	testlab.RequirePrometheus(t)
	testlab.RequireAlertmanager(t)
	start := time.Now()
	a := testlab.Start(t, monA)
	b := testlab.Start(t, monB)
	t.Logf("daemons up after %v", time.Since(start).Round(time.Second))
	exp, prom, hook := startMonitoringStack(t, a, b)
	t.Logf("exporter, Prometheus and Alertmanager up after %v", time.Since(start).Round(time.Second))
	startMonitoringFixtures(t, a, b)
	t.Logf("stack and fixtures up after %v", time.Since(start).Round(time.Second))

	waitFiring(t, prom, alertTimeout, []alertWant{
		{"ContainerUnhealthy", lbl("host", monB, "name", fxUnhealthy)},
		{"ContainerRestartLoop", lbl("host", monB, "name", fxLoop)},
		{"ContainerOOMKilled", lbl("host", monB, "name", fxOOM)},
		{"ContainerExitedWithError", lbl("host", monB, "name", fxExited)},
		{"RevPDomainConflict", lbl("domain", conflictDomain)},
		{"RevPLabelErrors", lbl("host", monB, "name", fxLabelErrors, "reason", "bad_boolean")},
		{"RevPProbeFailing", lbl("host", monB, "name", fxProbeFail)},
	})
	// By now it would have fired too if the rule or the exporter confused
	// the healthy container with its unhealthy neighbour. (Alerts that one
	// slow scrape on a loaded machine can fire, such as a probe or a ping
	// that misses the deadline, are not asserted absent.)
	notFiring(t, prom, []alertWant{{"ContainerUnhealthy", lbl("name", fxHealthy)}})
	t.Logf("fixture alerts firing after %v", time.Since(start).Round(time.Second))
	waitRunningStats(t, prom)
	missStatsDeadline(t, exp)
	waitUntil(t, alertTimeout, "two samples of the stats errors in Prometheus", func() bool {
		return !promEmpty(t, prom, "count_over_time(docker_monitor_stats_errors_total[1m]) >= 2")
	})

	// While both hosts are up, so that the one-value pass can pick either.
	check := newBoardCheck(t, prom, loadBoards(t, filepath.Join("..", "dashboards")))
	check.run()
	t.Logf("dashboards checked after %v: %d queries", time.Since(start).Round(time.Second), check.queries)

	hostDownAndBack(t, a, prom, hook, check)
	check.report()
	t.Logf("done after %v", time.Since(start).Round(time.Second))
}

// startMonitoringStack starts the exporter binary watching a and b, an
// Alertmanager that sends to a webhook of this test, and a Prometheus that
// scrapes the exporter with the shipped rules and sends to Alertmanager.
func startMonitoringStack(t *testing.T, a, b *testlab.Daemon) (*testlab.Exporter, *testlab.Prometheus, *alertHook) {
	t.Helper()
	hosts := writeMonitoringHosts(t, map[string]*testlab.Daemon{monA: a, monB: b})
	exp := testlab.StartExporter(t, testlab.ExporterBinary(t), nil, "--config.file="+hosts,
		"--revp.probe", "--revp.probe-timeout=500ms",
		// The API, not the cgroup files that answer in milliseconds: the
		// stats-error panels need a short scrape that misses the daemon's
		// once-a-second stats tick (missStatsDeadline).
		"--stats.source=api",
		// The scrape deadline is then 1.8s of Prometheus' 1.9s (below).
		"--scrape.timeout-offset=100ms",
		// Events arrive in bursts (every docker run, every restart of the
		// loop); a one-event buffer drops some, so the events-dropped
		// panel and the resync a drop triggers are exercised for real.
		"--events.buffer=1",
		"--docker.retry-initial-delay=1s", "--docker.retry-max-delay=2s")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("exporter log (tail):\n%s", tail(exp.Logs(), 60))
		}
	})
	hook := startAlertHook(t)
	am := testlab.StartAlertmanager(t, alertmanagerConfig(hook.URL))
	prom := testlab.StartPrometheus(t, testlab.PrometheusConfig{
		// Not every second: Docker 20.10 answers a stats call after about
		// 1.02s (its collector's next tick), so a scrape deadline under 1s
		// leaves most scrapes without stats, and the stats series, the
		// dashboards' CPU, memory and PIDs panels, come and go. Rules are
		// still evaluated every second.
		ScrapeInterval: 2 * time.Second,
		ScrapeTimeout:  1900 * time.Millisecond,
		Job:            monJob,
		Targets:        []string{strings.TrimPrefix(exp.URL, "http://")},
		Rules:          shippedRules(t, time.Second),
		Alertmanagers:  []string{am.Addr},
	})
	return exp, prom, hook
}

// hostDownAndBack stops daemon a: DockerHostDown fires in Prometheus and
// reaches the webhook through Alertmanager; once a is back, the webhook
// gets it resolved. Only notifications sent after each step count.
func hostDownAndBack(t *testing.T, a *testlab.Daemon, prom *testlab.Prometheus, hook *alertHook, check *boardCheck) {
	t.Helper()
	down := lbl("host", monA)
	mark := hook.mark()
	a.Stop(t)
	waitFiring(t, prom, alertTimeout, []alertWant{{"DockerHostDown", down}})
	waitUntil(t, alertTimeout, "DockerHostDown{host=mon-a} firing at the webhook", func() bool {
		return hook.saw(mark, "DockerHostDown", "firing", down)
	})
	// Expressions that are empty while every host is up (connection
	// errors) get their second chance now.
	check.retryEmpty("with host "+monA+" down", alertTimeout)
	mark = hook.mark()
	a.Restart(t)
	waitUntil(t, alertTimeout, "DockerHostDown{host=mon-a} resolved at the webhook", func() bool {
		return hook.saw(mark, "DockerHostDown", "resolved", down)
	})
	// Its containers were healthy when the daemon stopped them, and Docker
	// marks a stopped container unhealthy: neither the outage (rules hold
	// the last known health) nor the exited containers after it may look
	// like a failing healthcheck. ALERTS has a sample for every evaluation
	// in which an alert was pending or firing.
	if q := `ALERTS{alertname="ContainerUnhealthy",host="` + monA + `"}[10m]`; !promEmpty(t, prom, q) {
		t.Errorf("ContainerUnhealthy was pending or firing for a container of %s: %s", monA, q)
	}
}

// runningFixtures are the fixtures that keep running, by host.
var runningFixtures = map[string][]string{
	monA: {fxConflictA, fxProbeOK, fxHealthy, fxCPU, fxMemory, fxPids},
	monB: {fxUnhealthy, fxLabelErrors, fxProbeFail, fxConflictB},
}

// waitRunningStats waits until Prometheus has two CPU samples in the last
// minute of every fixture that keeps running: the rate() panels need two,
// and a container's stats exist only once the exporter knows it runs. A
// start event the exporter dropped (--events.buffer=1) can leave it
// "created" until its stream check (--events.check-interval, 10s) notices.
func waitRunningStats(t *testing.T, prom *testlab.Prometheus) {
	t.Helper()
	var missing []string
	logged := ""
	waitUntil(t, alertTimeout, "two CPU samples of every running fixture in Prometheus", func() bool {
		var data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
			} `json:"result"`
		}
		q := "count_over_time(docker_container_cpu_usage_seconds_total[1m]) >= 2"
		if err := prom.API("query", url.Values{"query": {q}}, &data); err != nil {
			t.Fatalf("query %s: %v", q, err)
		}
		have := map[string]bool{}
		for _, s := range data.Result {
			have[s.Metric["host"]+"/"+s.Metric["name"]] = true
		}
		missing = missing[:0]
		for host, names := range runningFixtures {
			for _, n := range names {
				if !have[host+"/"+n] {
					missing = append(missing, host+"/"+n)
				}
			}
		}
		slices.Sort(missing) // one log line per change, not per map order
		if now := fmt.Sprint(missing); len(missing) > 0 && now != logged {
			t.Logf("waiting for stats of %s", now)
			logged = now
		}
		return len(missing) == 0
	})
}

// missStatsDeadline scrapes the exporter as a second Prometheus with a
// 0.6s scrape timeout would: Docker takes about a second to answer a stats
// call, so every running container's stats miss this scrape's deadline and
// are counted in docker_monitor_stats_errors_total, which the dashboards'
// stats errors panel shows.
func missStatsDeadline(t *testing.T, exp *testlab.Exporter) {
	t.Helper()
	// Docker answers at its collector's next tick, anywhere in the next
	// second: a 0.5 s deadline misses it about half the time, so scrape
	// until one has.
	for i := 1; ; i++ {
		req, err := http.NewRequest(http.MethodGet, exp.URL+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "0.6")
		c := &http.Client{Timeout: 30 * time.Second}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("short scrape: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("short scrape: %s", resp.Status)
		}
		if scrapeURL(t, exp.URL+"/metrics").count("docker_monitor_stats_errors_total", lbl("reason", "timeout")) > 0 {
			t.Logf("a short scrape missed the stats tick after %d tries", i)
			return
		}
		if i == 30 {
			t.Fatal("30 scrapes with a 0.5 s deadline all had their stats in time")
		}
	}
}

// promEmpty reports whether the instant query expr has an empty result.
func promEmpty(t *testing.T, prom *testlab.Prometheus, expr string) bool {
	t.Helper()
	var data struct {
		Result []json.RawMessage `json:"result"`
	}
	if err := prom.API("query", url.Values{"query": {expr}}, &data); err != nil {
		t.Fatalf("query %s: %v", expr, err)
	}
	return len(data.Result) == 0
}

// writeMonitoringHosts writes a hosts file naming each daemon by its alias.
func writeMonitoringHosts(t *testing.T, daemons map[string]*testlab.Daemon) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("hosts:\n")
	for alias, d := range daemons {
		fmt.Fprintf(&b, "  %s:\n    connection: local\n    socket: %s\n", alias, sock(d))
	}
	path := filepath.Join(t.TempDir(), "hosts.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// shippedRules returns alerts/docker-monitor.rules.yml with every `for:`
// set to d, so that the test does not wait minutes for what fires at once.
func shippedRules(t *testing.T, d time.Duration) []byte {
	t.Helper()
	short, err := alerts.ShortenFor(alerts.Rules, d)
	if err != nil {
		t.Fatalf("shortening the rules' for: %v", err)
	}
	return short
}

// alertmanagerConfig sends every alert, each in its own group ('...'), to
// the webhook at once, and its resolution as soon as Prometheus reports it.
func alertmanagerConfig(webhook string) string {
	return `route:
  receiver: hook
  group_by: ['...']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: "` + webhook + `"
        send_resolved: true
`
}

// startMonitoringFixtures runs a container for every condition the rules
// and dashboards look at. Routes publish on loopback only.
func startMonitoringFixtures(t *testing.T, a, b *testlab.Daemon) {
	t.Helper()
	pub := []string{"-p", "127.0.0.1::80"}
	revp := func(kv ...string) []string {
		args := append([]string(nil), pub...)
		for i := 0; i < len(kv); i += 2 {
			args = append(args, "--label", "snadboy.revp.80."+kv[i]+"="+kv[i+1])
		}
		return args
	}
	health := func(state, retries string) []string {
		return []string{"--health-cmd", "/fixture healthcheck", "--health-interval", "1s",
			"--health-retries", retries, "-e", "HEALTH=" + state}
	}
	serve := []string{"serve", "80"}
	runFixtures(t, func() { b.RunOOM(t, fxOOM, nil) }, []fixture{
		{b, fxUnhealthy, health("fail", "1"), nil},
		{b, fxLoop, []string{"--restart", "always"}, []string{"exit", "1"}},
		{b, fxExited, nil, []string{"exit", "3"}},
		{b, fxLabelErrors, revp("domain", "labels.example", "https", "maybe"), serve},
		{b, fxProbeFail, revp("domain", "fail.example", "health", "/fail"), serve},
		{b, fxConflictB, revp("domain", conflictDomain), serve},
		{a, fxConflictA, revp("domain", conflictDomain), serve},
		{a, fxProbeOK, revp("domain", "ok.example", "health", "/"), serve},
		{a, fxHealthy, health("ok", "3"), nil},
		// No CPU burner: on the small shared test machines a throttled
		// burner would slow everything else. A quota's CFS periods count
		// whenever the container runs at all, and its healthcheck runs in
		// it every second.
		{a, fxCPU, append([]string{"--cpus", "0.5"}, health("ok", "3")...), nil},
		{a, fxMemory, []string{"--memory", "64m"}, nil},
		{a, fxPids, []string{"--pids-limit", "64"}, nil},
	})
}

// fixture is one container of the fixture image: docker run -d --name
// name <args> <image> <cmd>.
type fixture struct {
	d    *testlab.Daemon
	name string
	args []string
	cmd  []string
}

// runFixtures starts the fixtures of each daemon in a goroutine of its own,
// and meanwhile calls inline (which may use t) on the test's goroutine:
// one after the other, a dozen `docker run`s take half a minute on a loaded
// machine. No cleanup is registered: the daemons are this test's own, and
// their containers go with them.
func runFixtures(t *testing.T, inline func(), fxs []fixture) {
	t.Helper()
	byDaemon := map[*testlab.Daemon][]fixture{}
	for _, f := range fxs {
		byDaemon[f.d] = append(byDaemon[f.d], f)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(fxs))
	for d, list := range byDaemon {
		image, network := d.Image(t), d.Network(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, f := range list {
				args := append([]string{"run", "-d", "--name", f.name, "--network", network}, f.args...)
				if _, err := d.TryDocker(append(append(args, image), f.cmd...)...); err != nil {
					errs <- err
				}
			}
		}()
	}
	inline()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// alertHook is the Alertmanager webhook receiver: it records every alert of
// every notification with the status it was sent with.
type alertHook struct {
	URL string

	mu  sync.Mutex
	got []hookAlert
}

type hookAlert struct {
	Status string            `json:"status"`
	Labels map[string]string `json:"labels"`
}

func startAlertHook(t *testing.T) *alertHook {
	t.Helper()
	h := &alertHook{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			Alerts []hookAlert `json:"alerts"`
		}
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.got = append(h.got, msg.Alerts...)
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("webhook received:\n%s", h.String())
		}
	})
	h.URL = srv.URL + "/alerts"
	return h
}

// mark returns how many alerts the webhook has received so far.
func (h *alertHook) mark() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.got)
}

// saw reports whether the webhook got alert name with status ("firing" or
// "resolved") and labels including want, after the first since alerts.
func (h *alertHook) saw(since int, name, status string, want map[string]string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.got[since:] {
		if a.Status == status && alertMatches(a.Labels, alertWant{name, want}) {
			return true
		}
	}
	return false
}

func (h *alertHook) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var lines []string
	for _, a := range h.got {
		lines = append(lines, a.Status+" "+formatLabels(a.Labels))
	}
	return strings.Join(lines, "\n")
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
