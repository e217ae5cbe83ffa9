package examples_test

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/internal/metricsdoc"
)

const (
	shardTargetsSD  = "/etc/prometheus/docker-hosts.json" // the file_sd path in the shard configs
	shardingReadme  = "sharding/README.md"
	shardingHostsSD = "sharding/hosts.json"
	shardingHosts   = "sharding/hosts.yml"
	scalingDoc      = "../docs/scaling.md"
	metricsDoc      = "../docs/metrics.md"
)

var shardConfigs = []string{"sharding/prometheus-shard-0.yml", "sharding/prometheus-shard-1.yml"}

// Both shard configs pass `promtool check config`, with the file_sd path
// pointed at the example's hosts.json so that promtool checks that too.
func TestShardingPromtoolCheckConfig(t *testing.T) {
	promtool := requirePromtool(t)
	sd, err := filepath.Abs(shardingHostsSD)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range shardConfigs {
		cfg := readExample(t, path)
		if !strings.Contains(cfg, "files: ["+shardTargetsSD+"]") {
			t.Fatalf("%s: no file_sd files entry %s", path, shardTargetsSD)
		}
		local := filepath.Join(t.TempDir(), filepath.Base(path))
		if err := os.WriteFile(local, []byte(strings.Replace(cfg, shardTargetsSD, sd, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(promtool, "check", "config", local).CombinedOutput()
		if err != nil || strings.Contains(string(out), "WARNING") {
			t.Errorf("promtool check config %s: %v\n%s", path, err, out)
		}
	}
}

func requirePromtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("promtool not installed (Debian package prometheus): run scripts/test-deps.sh")
	}
	t.Skip("promtool not installed (Debian package prometheus): skipping")
	return ""
}

// The shard configs are one config: they differ only in the shard's
// number, its keep regex and its replica's address.
func TestShardConfigsDifferOnlyInShard(t *testing.T) {
	var norm []any
	for i, path := range shardConfigs {
		var cfg map[string]any
		if err := yaml.Unmarshal([]byte(readExample(t, path)), &cfg); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, want := range []struct {
			at   []any
			want string
		}{
			{[]any{"global", "external_labels", "shard"}, itoa(i)},
			{[]any{"scrape_configs", 0, "relabel_configs", 1, "regex"}, itoa(i)},
			{[]any{"scrape_configs", 0, "relabel_configs", 4, "replacement"}, "docker-monitor-" + itoa(i) + ":9742"},
		} {
			if got := swap(cfg, want.at, "SHARD"); got != want.want {
				t.Errorf("%s: %v is %v, want %q", path, want.at, got, want.want)
			}
		}
		norm = append(norm, cfg)
	}
	if !reflect.DeepEqual(norm[0], norm[1]) {
		t.Errorf("%s and %s differ in more than the shard:\n%v\n%v", shardConfigs[0], shardConfigs[1], norm[0], norm[1])
	}
	sc := norm[0].(map[string]any)["scrape_configs"].([]any)[0].(map[string]any)
	if sc["metrics_path"] != "/probe" {
		t.Errorf("metrics_path %v, want /probe", sc["metrics_path"])
	}
	hm := sc["relabel_configs"].([]any)[0].(map[string]any)
	if hm["action"] != "hashmod" || hm["modulus"] != len(shardConfigs) {
		t.Errorf("first relabelling %v, want hashmod with modulus %d", hm, len(shardConfigs))
	}
}

func itoa(i int) string { return string(rune('0' + i)) }

// swap replaces the value at path in a YAML tree with v and returns the old one.
func swap(tree any, path []any, v any) any {
	for i, k := range path {
		last := i == len(path)-1
		switch n := tree.(type) {
		case map[string]any:
			if last {
				old := n[k.(string)]
				n[k.(string)] = v
				return old
			}
			tree = n[k.(string)]
		case []any:
			idx := k.(int)
			if idx >= len(n) {
				return nil
			}
			if last {
				old := n[idx]
				n[idx] = v
				return old
			}
			tree = n[idx]
		default:
			return nil
		}
	}
	return nil
}

// hosts.json lists exactly the aliases of hosts.yml, none of which is the
// replica's own machine, and the README's split of them is Prometheus's.
func TestShardingHostsMatch(t *testing.T) {
	var groups []struct {
		Targets []string `json:"targets"`
	}
	if err := json.Unmarshal([]byte(readExample(t, shardingHostsSD)), &groups); err != nil {
		t.Fatalf("%s: %v", shardingHostsSD, err)
	}
	var targets []string
	for _, g := range groups {
		targets = append(targets, g.Targets...)
	}
	var aliases []string
	for _, h := range parseExampleHosts(t) {
		aliases = append(aliases, h.Alias)
		if h.Connection == "local" {
			t.Errorf("%s: host %q is local: a different machine on each replica", shardingHosts, h.Alias)
		}
	}
	sorted := slices.Sorted(slices.Values(targets))
	slices.Sort(aliases)
	if !slices.Equal(sorted, aliases) {
		t.Errorf("%s targets %v, %s aliases %v", shardingHostsSD, sorted, shardingHosts, aliases)
	}
	readme := readExample(t, shardingReadme)
	for shard := range shardConfigs {
		var in []string
		for _, a := range targets {
			if hashmod(a, uint64(len(shardConfigs))) == uint64(shard) {
				in = append(in, "`"+a+"`")
			}
		}
		line := "shard " + itoa(shard) + ": " + strings.Join(in, ", ")
		if len(in) == 0 || !strings.Contains(readme, line) {
			t.Errorf("%s does not say %q", shardingReadme, line)
		}
	}
}

// parseExampleHosts loads hosts.yml as the exporter does, with the key and
// certificate paths it names replaced by empty placeholder files: Parse
// checks that they exist.
func parseExampleHosts(t *testing.T) []config.Host {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	certs := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certs, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{key, filepath.Join(certs, "ca.pem"), filepath.Join(certs, "cert.pem"), filepath.Join(certs, "key.pem")} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	y := strings.NewReplacer("~/.ssh/id_ed25519", key, "/etc/docker-monitor/build", certs).Replace(readExample(t, shardingHosts))
	hosts, err := config.Parse([]byte(y), shardingHosts)
	if err != nil {
		t.Fatal(err)
	}
	return hosts
}

// hashmod is Prometheus's hashmod relabel action on one label value.
func hashmod(v string, modulus uint64) uint64 {
	sum := md5.Sum([]byte(v))
	return binary.BigEndian.Uint64(sum[8:]) % modulus
}

func readExample(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The self-metrics job of docs/scaling.md is a valid scrape config, and
// keeps exactly the exporter's own documented series: every docker_monitor_*
// metric but the scrape's collector metrics, and no docker_* or revp_*
// metric of the fleet.
func TestScalingDocSelfJob(t *testing.T) {
	doc := readExample(t, scalingDoc)
	_, section, ok := strings.Cut(doc, "\n## The exporter's own metrics\n")
	if !ok {
		t.Fatalf("%s: no section \"The exporter's own metrics\"", scalingDoc)
	}
	_, block, ok := strings.Cut(section, "```yaml\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatalf("%s: no yaml block in \"The exporter's own metrics\"", scalingDoc)
	}
	cfg := "scrape_configs:\n" + block
	var parsed struct {
		ScrapeConfigs []struct {
			MetricRelabel []struct {
				Regex  string `yaml:"regex"`
				Action string `yaml:"action"`
			} `yaml:"metric_relabel_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(cfg), &parsed); err != nil {
		t.Fatalf("%s: %v\n%s", scalingDoc, err, cfg)
	}
	if len(parsed.ScrapeConfigs) != 1 || len(parsed.ScrapeConfigs[0].MetricRelabel) != 1 ||
		parsed.ScrapeConfigs[0].MetricRelabel[0].Action != "keep" {
		t.Fatalf("%s: want one job with one keep metric relabelling:\n%s", scalingDoc, cfg)
	}
	// Prometheus anchors relabelling regexes.
	keep := regexp.MustCompile("^(?:" + parsed.ScrapeConfigs[0].MetricRelabel[0].Regex + ")$")
	documented, err := metricsdoc.Load(metricsDoc)
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range documented {
		own := strings.HasPrefix(name, "docker_monitor_") && !strings.HasPrefix(name, "docker_monitor_scrape_collector_")
		series := name
		if m.Type == "histogram" {
			series += "_bucket"
		}
		if keep.MatchString(series) != own {
			t.Errorf("%s: the self-metrics job keeps %s: %v, want %v", scalingDoc, series, !own, own)
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "promhttp_metric_handler_requests_total"} {
		if !keep.MatchString(name) {
			t.Errorf("%s: the self-metrics job drops %s", scalingDoc, name)
		}
	}

	promtool := requirePromtool(t)
	path := filepath.Join(t.TempDir(), "self.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "config", path).CombinedOutput(); err != nil || strings.Contains(string(out), "WARNING") {
		t.Errorf("promtool check config of the self-metrics job of %s: %v\n%s", scalingDoc, err, out)
	}
}
