package integration

import (
	"syscall"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/collector"
	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// TestDaemonRestart stops a daemon under the exporter and starts it again.
// The reconnect backoff is set long, and nothing scrapes between the restart
// and the creation of a container, so the exporter is still disconnected
// when the container appears: only the resync on reconnect can find it. The
// next scrape's ping finds the daemon back and ends the backoff early.
func TestDaemonRestart(t *testing.T) {
	d := testlab.Start(t, "restart")
	d.Run(t, "before", nil)
	opts := hostpool.DefaultOptions
	opts.Backoff = hostpool.Backoff{Initial: time.Minute, Max: time.Minute, Factor: 1, Retries: 3}
	exp := startExporter(t, []config.Host{testlab.Host(t, "r", d.Host)}, opts, collector.Options{})
	h := lbl("host", "r")

	m := exp.scrape(t)
	expect(t, m, "docker_host_up", h, 1)
	expect(t, m, "docker_container_state", lbl("host", "r", "name", "before", "state", "running"), 1)

	d.Stop(t)
	m = exp.scrape(t)
	expect(t, m, "docker_host_up", h, 0)
	expect(t, m, "docker_host_events_stream_up", h, 0)
	if n := m.count("docker_container_state", h); n != 0 {
		t.Errorf("%d container series while the daemon is down, want 0", n)
	}
	if v, _ := m.get("docker_monitor_connection_errors_total", lbl("host", "r", "reason", "refused")); v < 1 {
		t.Errorf("connection_errors_total{reason=refused} = %v, want >= 1", v)
	}

	d.Restart(t)
	d.Create(t, "while-away", nil)
	// Well inside the minute of backoff: the ping of a scrape ends it.
	waitUntil(t, 30*time.Second, "the event stream to reconnect", func() bool {
		m = exp.scrape(t)
		v, _ := m.get("docker_host_events_stream_up", h)
		return v == 1
	})
	expect(t, m, "docker_host_up", h, 1)
	expect(t, m, "docker_container_state", lbl("host", "r", "name", "while-away", "state", "created"), 1)
	// Without live-restore the daemon stopped the container on shutdown.
	expect(t, m, "docker_container_state", lbl("host", "r", "name", "before", "state", "exited"), 1)

	// And the stream is live again: a change shows without a resync
	// (--discovery.interval is far away), usually at the next scrape.
	d.Docker(t, "start", "while-away")
	scrapeUntil(t, exp, "while-away running", func(m metrics) bool {
		return m.matches("docker_container_state", lbl("host", "r", "name", "while-away", "state", "running"), 1)
	})

	// Events of every type are counted, not only the containers'.
	d.Docker(t, "network", "create", "ev-net")
	d.Docker(t, "volume", "create", "ev-vol")
	d.Docker(t, "tag", d.Image(t), "ev-image:tagged")
	if err := syscall.Kill(d.PID(), syscall.SIGHUP); err != nil { // dockerd reloads its config
		t.Fatal(err)
	}
	want := map[string]string{"network": "create", "volume": "create", "image": "tag", "daemon": "reload"}
	waitUntil(t, 30*time.Second, "network, volume, image and daemon events to be counted", func() bool {
		m = exp.scrape(t)
		for typ, action := range want {
			if v, _ := m.get("docker_events_total", lbl("host", "r", "type", typ, "action", action)); v < 1 {
				return false
			}
		}
		return true
	})
}
