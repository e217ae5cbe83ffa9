package integration

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/snadboy/docker-monitor/cgroupstats"
	"github.com/snadboy/docker-monitor/collector"
	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// statsOpts are the pool options of one stats source, reading this
// machine's cgroup tree and /proc, which the testlab daemons' containers
// live in.
func statsOpts(t *testing.T, source string) hostpool.Options {
	t.Helper()
	opts := hostpool.DefaultOptions
	opts.StatsSource = source
	if source != hostpool.StatsAPI {
		r, err := cgroupstats.New("/sys/fs/cgroup", "/proc")
		if err != nil {
			t.Fatal(err)
		}
		opts.LocalStats = r
	}
	return opts
}

// statsFamily says whether a family comes from the stats sample, and how
// its values may differ between two reads of one container.
func statsFamily(name string) (compare bool, counter bool) {
	for _, p := range []string{"cpu_usage", "cpu_user", "cpu_system", "cpu_periods", "cpu_throttled",
		"memory_usage", "memory_working_set", "memory_limit", "block_io_", "pids", "network_"} {
		if strings.HasPrefix(name, "docker_container_"+p) {
			return true, strings.HasSuffix(name, "_total")
		}
	}
	return false, false
}

// TestStatsSourcesAgree reads the same running containers of a real
// daemon through the daemon's stats call and through the cgroup files, in
// the order API, files, API: every series one source has, the other has,
// every counter read from the files lies between the two API reads, and
// every gauge within the drift between them.
func TestStatsSourcesAgree(t *testing.T) {
	d := testlab.Shared(t)
	host := []config.Host{testlab.Host(t, "src", d.Host)}
	viaAPI := startExporter(t, host, statsOpts(t, hostpool.StatsAPI), collector.Options{})
	viaFiles := startExporter(t, host, statsOpts(t, hostpool.StatsCgroup), collector.Options{})

	names := []string{"src-limits", "src-write", "src-web", "src-hostnet"}
	d.Run(t, names[0], []string{"--cpus", "0.2", "--memory", "64m", "--pids-limit", "50"}, "cpu")
	d.Run(t, names[1], nil, "write", "1048576")
	d.Run(t, names[2], published, "serve", "80")
	// Not d.Run, which attaches its own network: Docker refuses two modes.
	d.Docker(t, "run", "-d", "--name", names[3], "--network", "host", d.Image(t))
	t.Cleanup(func() { _, _ = d.TryDocker("rm", "-f", names[3]) })
	port := strings.TrimSpace(d.Docker(t, "port", names[2], "80/tcp"))
	for i := range 20 { // traffic on src-web's eth0
		resp, err := http.Get("http://" + strings.Split(port, "\n")[0] + "/")
		if err != nil {
			t.Fatalf("request %d to src-web: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	var before, files, after metrics
	waitUntil(t, 60*time.Second, "stats of every container from both sources", func() bool {
		before, files, after = viaAPI.scrape(t), viaFiles.scrape(t), viaAPI.scrape(t)
		for _, n := range names {
			for _, m := range []metrics{before, files, after} {
				if m.count("docker_container_cpu_usage_seconds_total", lbl("host", "src", "name", n)) != 1 {
					return false
				}
			}
		}
		return true
	})
	if v, _ := files.get("docker_monitor_stats_reads_total", lbl("host", "src", "source", "api")); v != 0 {
		t.Errorf("--stats.source=cgroup asked the daemon for %v samples", v)
	}
	compared := compareSources(t, names, before, files, after)
	t.Logf("compared %d series of %d containers", compared, len(names))
	if n := files.count("docker_container_network_receive_bytes_total", lbl("name", "src-hostnet")); n != 0 {
		t.Errorf("src-hostnet (host network) has %d network series from the files; Docker reports none", n)
	}
	if v, _ := files.get("docker_container_network_receive_bytes_total", lbl("name", "src-web", "interface", "eth0")); v == 0 {
		t.Error("src-web: no bytes received on eth0 read from the files")
	}
}

// compareSources checks every stats series of the named containers and
// returns how many it compared.
func compareSources(t *testing.T, names []string, before, files, after metrics) int {
	t.Helper()
	var compared int
	for name, fam := range before {
		ok, counter := statsFamily(name)
		if !ok {
			continue
		}
		for _, n := range names {
			want := lbl("host", "src", "name", n)
			a, b, f := seriesOf(fam, want), seriesOf(after[name], want), seriesOf(files[name], want)
			if !sameKeys(a, f) {
				t.Errorf("%s{name=%q}: API has series %v, the files %v", name, n, seriesKeys(a), seriesKeys(f))
				continue
			}
			for k, v := range f {
				lo, hi := math.Min(a[k], b[k]), math.Max(a[k], b[k])
				if !counter { // a gauge may move either way between reads
					slack := 0.05*hi + 1<<20
					if strings.HasPrefix(name, "docker_container_pids") {
						slack = 2
					}
					lo, hi = lo-slack, hi+slack
				}
				if v < lo || v > hi {
					t.Errorf("%s{name=%q%s}: %v from the files, API read %v before and %v after", name, n, k, v, a[k], b[k])
				}
				compared++
			}
		}
	}
	return compared
}

// seriesOf maps the extra labels (beyond host and name) of a family's
// series matching want to their values.
func seriesOf(fam *dto.MetricFamily, want map[string]string) map[string]float64 {
	out := map[string]float64{}
	if fam == nil {
		return out
	}
	for _, m := range fam.GetMetric() {
		if !matches(m, want) {
			continue
		}
		var extra []string
		for _, l := range m.GetLabel() {
			if l.GetName() != "host" && l.GetName() != "name" {
				extra = append(extra, fmt.Sprintf(",%s=%q", l.GetName(), l.GetValue()))
			}
		}
		v := m.GetGauge().GetValue()
		if m.GetCounter() != nil {
			v = m.GetCounter().GetValue()
		}
		out[strings.Join(extra, "")] = v
	}
	return out
}

func sameKeys(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

func seriesKeys(m map[string]float64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
