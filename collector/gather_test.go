package collector

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/dockerfake"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// registryWith is a registry of gauges named names, each with two series,
// and a collector of a metric named fail that fails, unless fail is "".
func registryWith(t *testing.T, fail string, names ...string) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	for _, n := range names {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: n, Help: n + " help"}, []string{"host"})
		g.WithLabelValues("b").Set(2)
		g.WithLabelValues("a").Set(1)
		reg.MustRegister(g)
	}
	if fail != "" {
		reg.MustRegister(failing{prometheus.NewDesc(fail, "Fails.", nil, nil)})
	}
	return reg
}

type failing struct{ desc *prometheus.Desc }

func (f failing) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }
func (f failing) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(f.desc, errors.New("broken"))
}

// TestGatherBothAsGatherers: joining the scrape's registry and the global
// one serves what prometheus.Gatherers serves, errors included, whether
// the families are disjoint (joined), collide (Gatherers merges them) or
// the global gatherer is no registry.
func TestGatherBothAsGatherers(t *testing.T) {
	for _, tc := range []struct {
		name         string
		scrape, glob []string
		fail         bool // each registry has a collector that fails
		wrap         bool // global is a GathererFunc, not a registry
	}{
		{name: "disjoint", scrape: []string{"docker_b", "docker_a"}, glob: []string{"go_x", "docker_monitor_y"}},
		{name: "disjoint with errors", scrape: []string{"docker_a"}, glob: []string{"go_x"}, fail: true},
		{name: "same name", scrape: []string{"docker_a"}, glob: []string{"docker_a", "go_x"}},
		{name: "suffix", scrape: []string{"docker_a_count"}, glob: []string{"docker_a"}},
		{name: "not a registry", scrape: []string{"docker_a"}, glob: []string{"go_x"}, wrap: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newRegs := func() (*prometheus.Registry, prometheus.Gatherer) {
				sFail, gFail := "", ""
				if tc.fail {
					sFail, gFail = "docker_failing", "go_failing"
				}
				var g prometheus.Gatherer = registryWith(t, gFail, tc.glob...)
				if tc.wrap {
					g = prometheus.GathererFunc(g.Gather)
				}
				return registryWith(t, sFail, tc.scrape...), g
			}
			s, g := newRegs()
			got, gotErr := gatherBoth(s, g)
			s, g = newRegs()
			want, wantErr := prometheus.Gatherers{s, g}.Gather()
			if len(got) != len(want) {
				t.Fatalf("%d families, want %d", len(got), len(want))
			}
			for i := range want {
				if g, w := text(t, got[i]), text(t, want[i]); g != w {
					t.Errorf("family %d:\n%s\nwant\n%s", i, g, w)
				}
			}
			if tc.fail && gotErr == nil {
				t.Error("no error from collectors that fail")
			}
			if errText(gotErr) != errText(wantErr) {
				t.Errorf("error %q, want %q", errText(gotErr), errText(wantErr))
			}
		})
	}
}

func text(t *testing.T, mf *dto.MetricFamily) string {
	t.Helper()
	var b strings.Builder
	if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestGatherBothKeepsEveryFamilySorted: the joined families come in name
// order, their series in label order, as the text format wants them.
func TestGatherBothKeepsEveryFamilySorted(t *testing.T) {
	mfs, err := gatherBoth(registryWith(t, "", "docker_z", "docker_b"), registryWith(t, "", "go_a", "docker_monitor_m"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
		if v := labelValue(mf.Metric[0], "host"); v != "a" {
			t.Errorf("%s: first series host=%q, want a", mf.GetName(), v)
		}
	}
	if got := strings.Join(names, " "); got != "docker_b docker_monitor_m docker_z go_a" {
		t.Errorf("families in order %s", got)
	}
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestScrapeFamiliesJoinGlobal: a scrape's families and the process-wide
// ones the exporter serves with them never collide, so a scrape takes the
// join and not Gatherers' second pass over every series.
func TestScrapeFamiliesJoinGlobal(t *testing.T) {
	global := prometheus.NewRegistry()
	global.MustRegister(versioncollector.NewCollector("docker_monitor"), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := hostpool.NewMetrics(global)
	fake := dockerfake.StartT(t)
	exp, _ := startHostsWith(t, hostpool.DefaultOptions, Options{}, testlab.Host(t, "fake", fake.Host))
	// Every hostpool series, as a fleet has them all sooner or later.
	m.APIRequestDuration.WithLabelValues("fake", "ping").Observe(0.001)
	m.ConnectionErrors.WithLabelValues("fake", "timeout").Inc()
	m.ContainersDiscovered.WithLabelValues("fake").Inc()
	m.DiscoveryDuration.WithLabelValues("fake").Observe(0.01)
	m.ActiveConnections.WithLabelValues("fake").Inc()
	m.EventsDropped.WithLabelValues("fake").Inc()
	m.StatsErrors.WithLabelValues("fake", "timeout").Inc()
	m.StatsReads.WithLabelValues("fake", "api").Inc()
	scrape := prometheus.NewRegistry()
	scrape.MustRegister(exp.Collector(context.Background()))
	own, err := scrape.Gather()
	if err != nil {
		t.Fatal(err)
	}
	rest, err := global.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if familiesMayCollide(own, rest) {
		t.Error("a scrape's families collide with the process-wide ones: every scrape checks its series twice")
	}
}
