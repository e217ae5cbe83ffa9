package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/internal/testlab"
)

const benchContainers = 50

// benchLab is set up once per process: Go runs a benchmark function more
// than once (b.N = 1 first), and 50 containers are too slow to recreate.
var benchLab struct {
	once      sync.Once
	d         *testlab.Daemon
	exporters map[string]*testlab.Exporter // by --stats.source
	err       error
}

// BenchmarkScrape50 scrapes a separately running exporter binary that
// watches 50 running containers, the way Prometheus would, once per stats
// source, and compares it with `docker stats --no-stream` over the same
// containers. Its figures are the exporter's and the daemon's CPU per fresh
// scrape: the daemon's is the cost the cgroup source removes.
func BenchmarkScrape50(b *testing.B) {
	benchLab.once.Do(func() { setupBench(b) })
	if benchLab.err != nil {
		b.Fatal(benchLab.err)
	}
	for _, source := range []string{"api", "cgroup"} {
		b.Run("source="+source, func(b *testing.B) { benchScrape(b, source) })
	}
}

func benchScrape(b *testing.B, source string) {
	d := benchLab.d
	exporter := benchExporter(b, source)
	url := exporter.URL + "/metrics"
	scrape := func() time.Duration {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		elapsed := time.Since(start)
		if n := strings.Count(string(body), "docker_container_cpu_usage_seconds_total{"); n < benchContainers {
			var diag []string
			for _, l := range strings.Split(string(body), "\n") {
				if strings.HasPrefix(l, "docker_host_up") || strings.HasPrefix(l, "docker_monitor_stats_") ||
					strings.HasPrefix(l, "docker_monitor_scrape_collector") || strings.HasPrefix(l, "docker_host_containers") {
					diag = append(diag, l)
				}
			}
			b.Fatalf("scrape has CPU stats for %d containers, want %d:\n%s", n, benchContainers, strings.Join(diag, "\n"))
		}
		if n := strings.Count(string(body), `docker_monitor_stats_reads_total{host="`); n != 1 || !strings.Contains(string(body), `source="`+source+`"`) {
			b.Fatalf("scrape read stats from other sources than %s: %d series of docker_monitor_stats_reads_total", source, n)
		}
		return elapsed
	}
	scrape() // warm the connection pool

	exporterPID := exporter.PID
	daemonPIDs := d.ServicePIDs()
	cpu0, dcpu0 := cpuSeconds(exporterPID), sumCPU(daemonPIDs)
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		durations = append(durations, scrape())
	}
	b.StopTimer()
	cpu := (cpuSeconds(exporterPID) - cpu0) / float64(b.N)
	dcpu := (sumCPU(daemonPIDs) - dcpu0) / float64(b.N)
	rss := peakRSS(exporterPID)
	med := median(durations)

	// The reference: what `docker stats --no-stream` takes for the same set.
	var ref []time.Duration
	for i := 0; i < 5; i++ {
		start := time.Now()
		out := d.Docker(b, "stats", "--no-stream", "--format", "{{.Name}}")
		ref = append(ref, time.Since(start))
		if n := len(strings.Fields(out)); n < benchContainers {
			b.Fatalf("docker stats listed %d containers", n)
		}
	}
	refMed := median(ref)

	b.ReportMetric(med.Seconds(), "scrape-median-s")
	b.ReportMetric(cpu*1000, "exporter-cpu-ms/scrape")
	b.ReportMetric(float64(rss)/(1<<20), "peak-rss-MiB")
	b.ReportMetric(dcpu*1000, "dockerd-cpu-ms/scrape")
	b.ReportMetric((cpu+dcpu)*1000, "total-cpu-ms/scrape")
	b.ReportMetric(refMed.Seconds(), "docker-stats-median-s")
	b.ReportMetric(refMed.Seconds()/med.Seconds(), "docker-stats/scrape")
	fmt.Fprintf(os.Stderr, "\n%d running containers, %d scrapes, --stats.source=%s:\n"+
		"  exporter scrape median          %8.3f s\n"+
		"  exporter CPU per scrape         %8.2f ms\n"+
		"  exporter peak RSS               %8.1f MiB\n"+
		"  dockerd+containerd CPU / scrape %8.2f ms\n"+
		"  docker stats --no-stream median %8.3f s (5 runs)\n"+
		"  ratio docker stats / scrape     %8.1f x\n",
		benchContainers, b.N, source, med.Seconds(), cpu*1000, float64(rss)/(1<<20), dcpu*1000, refMed.Seconds(), refMed.Seconds()/med.Seconds())
}

func setupBench(b *testing.B) {
	d := testlab.Shared(b)
	benchLab.d = d
	// Not d.Run: its cleanup would remove the containers after the first
	// (b.N = 1) run; the shared daemon goes away with them at the end.
	for i := 0; i < benchContainers; i++ {
		d.Docker(b, "run", "-d", "--name", fmt.Sprintf("bench-%02d", i), "--network", d.Network(b), d.Image(b))
	}
	benchLab.exporters = map[string]*testlab.Exporter{}
}

// benchExporter starts the exporter binary reading stats from source once
// per process. DOCKER_MONITOR_BENCH_BINARY compares another build (an
// older commit) under the same daemon and containers.
func benchExporter(b *testing.B, source string) *testlab.Exporter {
	if e := benchLab.exporters[source]; e != nil {
		return e
	}
	bin := os.Getenv("DOCKER_MONITOR_BENCH_BINARY")
	if bin == "" {
		bin = testlab.ExporterBinary(b)
	}
	e, err := testlab.LaunchExporter(bin, nil, "--docker.host="+benchLab.d.Host, "--stats.source="+source)
	if err != nil {
		b.Fatal(err)
	}
	registerBenchCleanup(func() { _ = e.Stop() })
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(e.URL + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				benchLab.exporters[source] = e
				return e
			}
		}
	}
	b.Fatalf("exporter (--stats.source=%s) not ready after 60s", source)
	return nil
}

var (
	benchCleanupMu sync.Mutex
	benchCleanups  []func()
)

// registerBenchCleanup defers work to the end of the test binary, since the
// lab outlives any one benchmark run.
func registerBenchCleanup(f func()) {
	benchCleanupMu.Lock()
	benchCleanups = append(benchCleanups, f)
	benchCleanupMu.Unlock()
}

func runBenchCleanups() {
	benchCleanupMu.Lock()
	defer benchCleanupMu.Unlock()
	for _, f := range benchCleanups {
		f()
	}
	benchCleanups = nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// cpuSeconds is a process's user+system CPU time from /proc/<pid>/stat.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// Fields after the command: state is [0], utime [11], stime [12].
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

func sumCPU(pids []int) float64 {
	var s float64
	for _, p := range pids {
		s += cpuSeconds(p)
	}
	return s
}

// peakRSS is the process's high-water resident set (VmHWM) in bytes.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// BenchmarkStreamCheck50 is the daemon's cost of the stalled-stream check
// (--events.check-interval): one list of every container, here 50, the
// call the check makes once per interval per host.
func BenchmarkStreamCheck50(b *testing.B) {
	benchLab.once.Do(func() { setupBench(b) })
	if benchLab.err != nil {
		b.Fatal(benchLab.err)
	}
	d := benchLab.d
	sock := strings.TrimPrefix(d.Host, "unix://")
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	list := func() {
		resp, err := c.Get("http://docker/containers/json?all=1")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	list()
	daemonPIDs := d.ServicePIDs()
	dcpu0 := sumCPU(daemonPIDs)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		list()
	}
	b.StopTimer()
	b.ReportMetric((sumCPU(daemonPIDs)-dcpu0)/float64(b.N)*1000, "dockerd-cpu-ms/list")
}
