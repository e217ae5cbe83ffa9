package integration

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/internal/dockerfake"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// The scale benchmarks scrape the exporter binary watching a simulated
// fleet (internal/dockerfake/cmd/fakefleet, in a process of its own): each
// daemon answers after 1 ms, answers stats at the next tick of its
// once-a-second collector as Docker 20.10 does, and streams the events of
// a healthcheck every 30 s on half of its containers. They need no daemon
// and no root. Run them with -benchtime 10x: one scrape takes a second or
// more.
func BenchmarkScale1x1000(b *testing.B)  { benchScale(b, scaleShape{hosts: 1, containers: 1000}) }
func BenchmarkScale10x1000(b *testing.B) { benchScale(b, scaleShape{hosts: 10, containers: 1000}) }
func BenchmarkScale50x20(b *testing.B)   { benchScale(b, scaleShape{hosts: 50, containers: 20}) }

// scaleShape is a fleet: hosts daemons with containers clones each, next to
// the 9 recorded containers (4 of them running).
type scaleShape struct{ hosts, containers int }

func (s scaleShape) running() int { return s.hosts * (s.containers + len(dockerfake.RunningTemplates)) }

// limits are the exporter's flags for the shape: every stats call of a host
// in flight at once, since each waits for the daemon's next tick (the
// defaults, 50 a host and 200 in all, take a tick per 50 containers).
func (s scaleShape) limits() []string {
	perHost := max(50, s.containers+10)
	pool := max(200, s.hosts*perHost)
	if pool > 10_000 {
		pool = 0 // beyond the flag's bound; 0 is no limit
	}
	return []string{"--stats.concurrency=" + strconv.Itoa(perHost), "--docker.max-connections-per-host=" + strconv.Itoa(perHost),
		"--docker.connection-pool-size=" + strconv.Itoa(pool)}
}

// scaleLab is one shape's fleet and exporter, kept across the runs of its
// benchmark (Go runs it with b.N = 1 first, and once per -count) and
// stopped when the next shape starts, so that an idle fleet does not load
// the machine under another shape's figures.
var scaleLab struct {
	shape    scaleShape
	fleet    *fleetProc
	exporter *testlab.Exporter
	idleCPU  float64 // exporter CPU seconds per second between scrapes
	err      error
	cleanup  bool
}

func benchScale(b *testing.B, shape scaleShape) {
	if scaleLab.shape != shape || (scaleLab.exporter == nil && scaleLab.err == nil) {
		scaleTeardown()
		scaleLab.shape, scaleLab.err = shape, nil
		scaleLab.err = scaleSetup(b, shape)
	}
	if scaleLab.err != nil {
		b.Fatal(scaleLab.err)
	}
	url := scaleLab.exporter.URL + "/metrics"
	pid, fleetPID := scaleLab.exporter.PID, scaleLab.fleet.pid()
	var (
		durs           []time.Duration
		cpu, fleetCPU  float64
		last           scaleScrape
		missing, short int
	)
	b.ResetTimer()
	for range b.N {
		c0, f0 := cpuSeconds(pid), cpuSeconds(fleetPID)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		s, err := scrapeScale(ctx, url)
		cancel()
		cpu += cpuSeconds(pid) - c0
		fleetCPU += cpuSeconds(fleetPID) - f0
		if err != nil {
			b.Fatal(err)
		}
		durs = append(durs, s.dur)
		if n := shape.running() - s.cpuStats; n > 0 {
			missing += n
			short++
		}
		last = s
	}
	b.StopTimer()
	n := float64(b.N)
	if short > 0 {
		b.Logf("%d of %d scrapes missed stats (%d containers in all):\n%s", short, b.N, missing,
			linesWith(last.body, "docker_monitor_stats_errors_total", "docker_monitor_scrape_collector_"))
	}
	b.ReportMetric(median(durs).Seconds(), "scrape-median-s")
	b.ReportMetric(percentile(durs, 0.99).Seconds(), "scrape-p99-s")
	b.ReportMetric(cpu/n, "exporter-cpu-s/scrape")
	b.ReportMetric(float64(peakRSS(pid))/(1<<20), "peak-rss-MiB")
	b.ReportMetric(float64(last.series), "series")
	b.ReportMetric(float64(last.wire), "gzip-bytes")
	b.ReportMetric(float64(last.plain), "text-bytes")
	b.ReportMetric(float64(missing)/n, "stats-missed/scrape")
	b.ReportMetric(scaleLab.idleCPU*1000, "idle-cpu-ms/s")
	b.ReportMetric(fleetCPU/n, "fleet-cpu-s/scrape")
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[max(0, int(math.Ceil(p*float64(len(s))))-1)]
}

// scaleSetup starts the shape's fleet and the exporter on it, and waits
// until a scrape has stats for every running container.
func scaleSetup(b *testing.B, shape scaleShape) error {
	if !scaleLab.cleanup {
		scaleLab.cleanup = true
		registerBenchCleanup(scaleTeardown)
	}
	f, err := startFakeFleet("-hosts", strconv.Itoa(shape.hosts), "-containers", strconv.Itoa(shape.containers),
		"-latency", "1ms", "-tick", "1s", "-healthcheck-interval", "30s")
	if err != nil {
		return err
	}
	scaleLab.fleet = f
	bin := os.Getenv("DOCKER_MONITOR_BENCH_BINARY")
	if bin == "" {
		bin = testlab.ExporterBinary(b)
	}
	args := append([]string{"--config.file=" + f.hostsFile}, shape.limits()...)
	if hasFlag(bin, "--stats.source") {
		// The fleet's sockets are local hosts; their containers have no cgroups.
		args = append(args, "--stats.source=api")
	}
	e, err := testlab.LaunchExporter(bin, nil, args...)
	if err != nil {
		return err
	}
	scaleLab.exporter = e
	if err := waitScaleSynced(e.URL, shape); err != nil {
		return fmt.Errorf("%w\n%s", err, e.Logs())
	}
	// Between scrapes the exporter applies events, checks the streams and
	// resyncs: its cost per second, apart from the scrapes'.
	c0 := cpuSeconds(e.PID)
	time.Sleep(10 * time.Second)
	scaleLab.idleCPU = (cpuSeconds(e.PID) - c0) / 10
	return nil
}

// waitScaleSynced waits until every host is synced and a scrape (which
// also warms the connections) has stats for every running container. An
// exporter that cannot read them all in time is measured as it is, after
// three tries: the figures say how many it missed.
func waitScaleSynced(base string, shape scaleShape) error {
	deadline := time.Now().Add(3 * time.Minute)
	var last scaleScrape
	tries := 0
	for time.Now().Before(deadline) && tries < 3 {
		if !ready(base) {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		s, err := scrapeScale(ctx, base+"/metrics")
		cancel()
		last = s
		if err != nil || !allSynced(s.body, shape.hosts) {
			time.Sleep(time.Second)
			continue
		}
		if s.cpuStats == shape.running() {
			return nil
		}
		tries++
	}
	if tries == 3 {
		return nil
	}
	return fmt.Errorf("exporter never synced %d hosts:\n%s", shape.hosts,
		linesWith(last.body, "docker_host_synced", "docker_monitor_stats_errors_total", "docker_monitor_scrape_collector_success"))
}

// allSynced says whether every host's docker_host_synced is 1.
func allSynced(body []byte, hosts int) bool {
	n := 0
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "docker_host_synced{") && strings.HasSuffix(l, " 1") {
			n++
		}
	}
	return n == hosts
}

// hasFlag says whether the exporter binary has a flag: builds of other
// commits (DOCKER_MONITOR_BENCH_BINARY) may not.
func hasFlag(bin, flag string) bool {
	out, _ := exec.Command(bin, "--help").CombinedOutput()
	return strings.Contains(string(out), flag+"=")
}

func scaleTeardown() {
	if e := scaleLab.exporter; e != nil {
		_ = e.Stop()
	}
	if f := scaleLab.fleet; f != nil {
		f.stop()
	}
	scaleLab.exporter, scaleLab.fleet = nil, nil
}
