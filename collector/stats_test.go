package collector

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/snadboy/docker-monitor/dockerstats"
	"github.com/snadboy/docker-monitor/hostpool"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// collectorFunc adapts a function to prometheus.Collector for tests.
type collectorFunc func(ch chan<- prometheus.Metric)

func (f collectorFunc) Describe(chan<- *prometheus.Desc)    {}
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }

func loadStats(t *testing.T, name string) *dockerstats.Stats {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var s dockerstats.Stats
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &s
}

// compareGolden compares a collector's text exposition with
// testdata/<golden>, or rewrites the file with -update.
func compareGolden(t *testing.T, c prometheus.Collector, golden string, names ...string) {
	t.Helper()
	path := filepath.Join("testdata", golden)
	if *update {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c)
		tmp := filepath.Join(t.TempDir(), "metrics.prom")
		if err := prometheus.WriteToTextfile(tmp, reg); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(tmp)
		if err != nil {
			t.Fatal(err)
		}
		if len(names) > 0 {
			b = []byte(filterFamilies(string(b), names))
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := testutil.CollectAndCompare(c, f, names...); err != nil {
		t.Error(err)
	}
}

// filterFamilies keeps the exposition lines of the named metric families.
func filterFamilies(text string, names []string) string {
	keep := map[string]bool{}
	for _, n := range names {
		keep[n] = true
	}
	var out []string
	for _, line := range strings.SplitAfter(text, "\n") {
		name := line
		if strings.HasPrefix(line, "# ") {
			if f := strings.Fields(line); len(f) >= 3 {
				name = f[2]
			}
		}
		if i := strings.IndexAny(name, "{ "); i >= 0 {
			name = name[:i]
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b := strings.TrimSuffix(name, suffix); b != name && keep[b] {
				name = b
			}
		}
		if keep[name] {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}

func TestStatsArithmetic(t *testing.T) {
	for _, tc := range []struct {
		payload, golden string
		c               hostpool.Container // the limits its inspect had
	}{
		// Recorded from Docker 20.10 on cgroup v1: a container throttled by
		// --cpus 0.1 that wrote 4 MiB of page cache, without a memory limit
		// (the sample's limit is the host's memory, and is left out).
		{"stats-cgroupv1-docker20.10.json", "stats-cgroupv1.prom", hostpool.Container{Name: "c1", CPULimit: 0.1}},
		// The Engine API documentation's example (cgroup v2), as if run
		// with a memory limit and no CPU limit.
		{"stats-cgroupv2-api-example.json", "stats-cgroupv2.prom", hostpool.Container{Name: "c1", MemoryLimit: 8217579520}},
	} {
		t.Run(tc.payload, func(t *testing.T) {
			s := loadStats(t, tc.payload)
			compareGolden(t, collectorFunc(func(ch chan<- prometheus.Metric) { emitStats(ch, "h1", &tc.c, s) }), tc.golden)
		})
	}
}
