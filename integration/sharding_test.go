package integration

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/snadboy/docker-monitor/internal/testlab"
)

// The sharding example (examples/sharding) for real: two exporter replicas
// with one hosts file, two Prometheus servers with the example's configs,
// rendered with this test's addresses and a 1s scrape interval.
const (
	shardJob      = "docker-monitor-probe" // the example's job name
	shardInterval = time.Second
	shardWait     = 3 * time.Minute // for anything Prometheus does; the machines are loaded
)

// shardAliases are the hosts. With a modulus of 2, shard-a hashes to 1 and
// shard-b and shard-c to 0 (TestShardedProbes checks it), so both shards
// have hosts and one has two.
var shardAliases = []string{"shard-a", "shard-b", "shard-c"}

type shardLab struct {
	t       *testing.T
	proms   [2]*testlab.Prometheus
	exps    [2]*testlab.Exporter
	sdPath  string // the file_sd target list
	gen     int    // configurations written, a marker of which one Prometheus runs
	configs [2][]byte
}

// TestShardedProbes splits three Docker hosts between two Prometheus
// servers by hashmod, each probing through its own exporter replica: every
// host is scraped exactly once. It then moves every host to the other
// shard, widening one shard before narrowing the other, and checks that no
// host was ever out of both servers' targets, nor without an `up` sample
// for more than one scrape interval.
func TestShardedProbes(t *testing.T) {
	testlab.RequirePrometheus(t)
	for _, a := range shardAliases {
		t.Logf("%s: hashmod 2 = %d", a, promHashmod(a, 2))
	}
	if promHashmod("shard-a", 2) != 1 || promHashmod("shard-b", 2) != 0 || promHashmod("shard-c", 2) != 0 {
		t.Fatal("the aliases no longer split between the shards: pick others")
	}
	start := time.Now()
	l := startShardLab(t)
	t.Logf("daemons, exporters and Prometheus servers up after %v", time.Since(start).Round(time.Millisecond))
	l.checkProbeErrors()

	// Shard i keeps hash bucket i.
	l.configure(0, "0")
	l.configure(1, "1")
	l.waitSplit("initial split", func(alias string) int { return int(promHashmod(alias, 2)) })

	moveStart := time.Now()
	stopWatch := l.watchTargets()
	// Widen first, then narrow: shard 1 takes everything, shard 0 gives up
	// bucket 0 for bucket 1, shard 1 gives up bucket 1.
	l.configure(1, "0|1")
	l.waitHosts("shard 1 widened", 1, shardAliases)
	l.configure(0, "1")
	l.waitHosts("shard 0 narrowed to bucket 1", 0, l.bucket(1))
	l.configure(1, "0")
	l.waitSplit("swapped split", func(alias string) int { return 1 - int(promHashmod(alias, 2)) })
	if missing := stopWatch(); len(missing) > 0 {
		t.Errorf("out of both servers' active targets during the move: %s", strings.Join(missing, "; "))
	}
	l.checkUpContinuity(moveStart)
	t.Logf("done after %v", time.Since(start).Round(time.Millisecond))
}

func startShardLab(t *testing.T) *shardLab {
	t.Helper()
	daemons := map[string]*testlab.Daemon{
		"shard-a": testlab.Start(t, "shard-a"),
		"shard-b": testlab.Start(t, "shard-b"),
		"shard-c": testlab.Shared(t), // a third host for free
	}
	hosts := writeMonitoringHosts(t, daemons)
	l := &shardLab{t: t, sdPath: filepath.Join(t.TempDir(), "hosts.json")}
	bin := testlab.ExporterBinary(t)
	for i := range l.exps {
		// Prometheus's 900ms timeout leaves 800ms to collect.
		l.exps[i] = testlab.StartExporter(t, bin, nil, "--config.file="+hosts, "--scrape.timeout-offset=100ms")
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, e := range l.exps {
				t.Logf("exporter %d log (tail):\n%s", i, tail(e.Logs(), 30))
				t.Logf("Prometheus %d config:\n%s", i, l.configs[i])
			}
		}
	})
	sd, err := json.Marshal([]map[string][]string{{"targets": shardAliases}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.sdPath, sd, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range l.proms {
		// Started with a job that scrapes nothing; configure loads the example.
		l.proms[i] = testlab.StartPrometheus(t, testlab.PrometheusConfig{Job: "placeholder"})
	}
	return l
}

// checkProbeErrors asks a replica for what Prometheus never sends: an
// alias it does not know, and no target.
func (l *shardLab) checkProbeErrors() {
	for query, want := range map[string]string{
		"target=nope": `unknown target "nope"`,
		"":            "target parameter is missing",
	} {
		resp, err := http.Get(l.exps[0].URL + "/probe?" + query)
		if err != nil {
			l.t.Fatal(err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), want) {
			l.t.Errorf("/probe?%s: %s %q, want 400 with %q", query, resp.Status, body, want)
		}
	}
}

// bucket returns the aliases that hash to b.
func (l *shardLab) bucket(b uint64) []string {
	var out []string
	for _, a := range shardAliases {
		if promHashmod(a, 2) == b {
			out = append(out, a)
		}
	}
	return out
}

// configure loads examples/sharding/prometheus-shard-<i>.yml into
// Prometheus i with keep as the regex of its keep action, and waits until
// Prometheus runs it (SIGHUP to the PID this test started).
func (l *shardLab) configure(i int, keep string) {
	t := l.t
	t.Helper()
	l.gen++
	marker := fmt.Sprintf("gen-%d", l.gen)
	cfg := renderShardConfig(t, i, strings.TrimPrefix(l.exps[i].URL, "http://"), l.sdPath, keep, marker)
	l.configs[i] = cfg
	p := l.proms[i]
	if err := os.WriteFile(filepath.Join(p.Dir, "prometheus.yml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(p.PID(), syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP to Prometheus %d (PID %d): %v", i, p.PID(), err)
	}
	start := time.Now()
	waitUntil(t, shardWait, fmt.Sprintf("Prometheus %d to load config %s", i, marker), func() bool {
		var data struct {
			YAML string `json:"yaml"`
		}
		if err := p.API("status/config", nil, &data); err != nil {
			t.Fatal(err)
		}
		return strings.Contains(data.YAML, marker)
	})
	t.Logf("Prometheus %d: keep %q loaded after %v", i, keep, time.Since(start).Round(time.Millisecond))
}

// renderShardConfig is the example config of shard i with this test's
// exporter address, target file, keep regex and 1s interval; no rules or
// Alertmanager. marker goes into the external labels, to tell reloads apart.
func renderShardConfig(t *testing.T, i int, exporter, sdPath, keep, marker string) []byte {
	t.Helper()
	path := filepath.Join("..", "examples", "sharding", fmt.Sprintf("prometheus-shard-%d.yml", i))
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(readFile(t, path)), &cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	delete(cfg, "rule_files")
	delete(cfg, "alerting")
	g := cfg["global"].(map[string]any)
	g["scrape_interval"], g["scrape_timeout"], g["evaluation_interval"] = "1s", "900ms", "1s"
	g["external_labels"].(map[string]any)["config"] = marker
	jobs := cfg["scrape_configs"].([]any)
	if len(jobs) != 1 {
		t.Fatalf("%s: %d scrape configs, want 1", path, len(jobs))
	}
	job := jobs[0].(map[string]any)
	if job["job_name"] != shardJob {
		t.Fatalf("%s: job %v, want %s", path, job["job_name"], shardJob)
	}
	job["file_sd_configs"] = []any{map[string]any{"files": []any{sdPath}}}
	var keeps, addrs int
	for _, r := range job["relabel_configs"].([]any) {
		rc := r.(map[string]any)
		switch {
		case rc["action"] == "keep":
			rc["regex"] = keep
			keeps++
		case rc["target_label"] == "__address__" && rc["source_labels"] == nil:
			rc["replacement"] = exporter
			addrs++
		}
	}
	if keeps != 1 || addrs != 1 {
		t.Fatalf("%s: %d keep actions and %d __address__ replacements, want one of each", path, keeps, addrs)
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hostUp is one docker_host_up series in one Prometheus.
type hostUp struct {
	server         int
	host, instance string
	job, value     string
}

func (h hostUp) String() string {
	return fmt.Sprintf("server %d: docker_host_up{host=%q,instance=%q,job=%q} %s", h.server, h.host, h.instance, h.job, h.value)
}

// hostsUp returns every docker_host_up series both servers hold now.
func (l *shardLab) hostsUp() []hostUp {
	var out []hostUp
	for i, p := range l.proms {
		var data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		}
		if err := p.API("query", url.Values{"query": {"docker_host_up"}}, &data); err != nil {
			l.t.Fatal(err)
		}
		for _, r := range data.Result {
			v, _ := r.Value[1].(string)
			out = append(out, hostUp{server: i, host: r.Metric["host"], instance: r.Metric["instance"], job: r.Metric["job"], value: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// waitSplit waits until every host's docker_host_up is in exactly one
// server, the one want names, with value 1 and the alias as instance.
func (l *shardLab) waitSplit(what string, want func(alias string) int) {
	l.t.Helper()
	l.waitState(what, func(series []hostUp) bool {
		seen := map[string]int{}
		for _, s := range series {
			if s.value != "1" || s.instance != s.host || s.job != shardJob || want(s.host) != s.server {
				return false
			}
			seen[s.host]++
		}
		for _, a := range shardAliases {
			if seen[a] != 1 {
				return false
			}
		}
		return len(series) == len(shardAliases)
	})
}

// waitHosts waits until server i holds exactly the hosts named, each up.
func (l *shardLab) waitHosts(what string, server int, hosts []string) {
	l.t.Helper()
	l.waitState(what, func(series []hostUp) bool {
		var got []string
		for _, s := range series {
			if s.server == server && s.value == "1" {
				got = append(got, s.host)
			}
		}
		sort.Strings(got)
		return strings.Join(got, ",") == strings.Join(hosts, ",")
	})
}

func (l *shardLab) waitState(what string, ok func([]hostUp) bool) {
	l.t.Helper()
	start := time.Now()
	var last []hostUp
	for {
		last = l.hostsUp()
		if ok(last) {
			l.t.Logf("%s after %v", what, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > shardWait {
			var s []string
			for _, h := range last {
				s = append(s, h.String())
			}
			l.t.Fatalf("%s: not reached after %v; series now:\n%s", what, shardWait, strings.Join(s, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// watchTargets polls both servers' active targets until the returned
// function is called, which returns every time a host was in neither.
func (l *shardLab) watchTargets() (stop func() []string) {
	done := make(chan struct{})
	var (
		mu      sync.Mutex
		missing []string
		polls   int
		wg      sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			in, err := l.activeTargets()
			mu.Lock()
			polls++
			if err != nil {
				missing = append(missing, err.Error())
			}
			for _, a := range shardAliases {
				if err == nil && !in[a] {
					missing = append(missing, fmt.Sprintf("%s at %s", a, time.Now().Format("15:04:05.000")))
				}
			}
			mu.Unlock()
		}
	}()
	return func() []string {
		close(done)
		wg.Wait()
		l.t.Logf("active targets polled %d times during the move", polls)
		return missing
	}
}

// activeTargets returns the instances either server scrapes now.
func (l *shardLab) activeTargets() (map[string]bool, error) {
	in := map[string]bool{}
	for i, p := range l.proms {
		var data struct {
			Active []struct {
				Labels map[string]string `json:"labels"`
			} `json:"activeTargets"`
		}
		if err := p.API("targets", url.Values{"state": {"active"}}, &data); err != nil {
			return nil, fmt.Errorf("server %d targets: %w", i, err)
		}
		for _, a := range data.Active {
			if a.Labels["job"] == shardJob {
				in[a.Labels["instance"]] = true
			}
		}
	}
	return in, nil
}

// checkUpContinuity reads back every `up` sample of each host since the
// move started, from both servers: Prometheus writes one per scrape,
// failed or not, so a gap is a time no server scraped the host. One
// missed interval (a tick a loaded Prometheus skips) is allowed, not two.
func (l *shardLab) checkUpContinuity(since time.Time) {
	t := l.t
	window := time.Since(since).Truncate(time.Second) + 2*time.Second
	for _, a := range shardAliases {
		var stamps []float64
		for i, p := range l.proms {
			var data struct {
				Result []struct {
					Values [][2]any `json:"values"`
				} `json:"result"`
			}
			q := fmt.Sprintf(`up{job=%q,instance=%q}[%ds]`, shardJob, a, int(window.Seconds()))
			if err := p.API("query", url.Values{"query": {q}}, &data); err != nil {
				t.Fatalf("server %d: %s: %v", i, q, err)
			}
			for _, r := range data.Result {
				for _, v := range r.Values {
					if ts, ok := v[0].(float64); ok && ts >= float64(since.UnixMilli())/1000 {
						stamps = append(stamps, ts)
					}
				}
			}
		}
		sort.Float64s(stamps)
		var worst float64
		for i := 1; i < len(stamps); i++ {
			worst = max(worst, stamps[i]-stamps[i-1])
		}
		t.Logf("%s: %d up samples over both servers in the %v of the move; longest gap %.3fs",
			a, len(stamps), time.Since(since).Round(time.Millisecond), worst)
		if len(stamps) == 0 || worst >= 2.5*shardInterval.Seconds() {
			t.Errorf("%s: longest time without an up sample on either server %.3fs: more than one %v interval missed",
				a, worst, shardInterval)
		}
	}
}

// promHashmod is Prometheus's hashmod relabel action on one label value.
func promHashmod(v string, modulus uint64) uint64 {
	sum := md5.Sum([]byte(v))
	return binary.BigEndian.Uint64(sum[8:]) % modulus
}
