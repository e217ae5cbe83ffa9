package integration

import (
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/collector"
	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// An event stream that goes silent while the daemon still answers (a
// half-open connection) is noticed by the list check and replaced: a
// container started after the stall appears within the check interval plus
// its confirmation, not at the next full resync (10 minutes here).
func TestStalledEventStream(t *testing.T) {
	d := testlab.Shared(t)
	proxy := testlab.StartStallProxy(t, d)
	opts := hostpool.DefaultOptions
	opts.DiscoveryInterval = 10 * time.Minute
	opts.StreamCheckInterval = time.Second
	exp := startExporter(t, []config.Host{testlab.Host(t, "stall", "tcp://"+proxy.Addr)}, opts, collector.Options{})
	waitUntil(t, 30*time.Second, "stream up", func() bool {
		return exp.scrape(t).matches("docker_host_events_stream_up", lbl("host", "stall"), 1)
	})

	proxy.Stall()
	start := time.Now()
	d.Run(t, "stall-new", nil, "sleep")
	var m metrics
	waitUntil(t, 60*time.Second, "the container started after the stall", func() bool {
		m = exp.scrape(t)
		return m.matches("docker_container_state", lbl("host", "stall", "name", "stall-new", "state", "running"), 1)
	})
	t.Logf("seen %s after it started (check every 1s, confirmed after 2s)", time.Since(start).Round(100*time.Millisecond))
	if !m.atLeast("docker_monitor_connection_errors_total", lbl("host", "stall", "reason", "stalled"), 1) {
		t.Errorf("no connection error with reason stalled")
	}
}
