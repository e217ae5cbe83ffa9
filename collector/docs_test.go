package collector

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/snadboy/docker-monitor/hostpool"
)

// Every metric the exporter can emit is documented in docs/metrics.md.
func TestMetricsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	m := hostpool.NewMetrics(nil)
	pool, err := hostpool.New(nil, hostpool.DefaultOptions, m, discard())
	if err != nil {
		t.Fatal(err)
	}
	exp, err := New(pool, m, Options{ContainerLabels: []string{"team"}}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	ch := make(chan *prometheus.Desc, 200)
	go func() {
		exp.Collector(t.Context()).Describe(ch)
		for _, c := range []prometheus.Collector{m.APIRequestDuration, m.ConnectionErrors, m.ContainersDiscovered,
			m.DiscoveryDuration, m.ActiveConnections, m.EventsDropped, m.StatsErrors} {
			c.Describe(ch)
		}
		close(ch)
	}()
	name := regexp.MustCompile(`fqName: "([^"]+)"`)
	n := 0
	for d := range ch {
		fq := name.FindStringSubmatch(d.String())[1]
		n++
		if !strings.Contains(string(doc), "`"+fq+"`") {
			t.Errorf("%s is not documented in docs/metrics.md", fq)
		}
	}
	if n < 40 {
		t.Errorf("only %d metrics described; the check is not seeing them all", n)
	}
}
