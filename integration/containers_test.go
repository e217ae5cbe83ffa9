package integration

import (
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/collector"
	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// TestContainerLifecycle starts the exporter first and the containers after,
// so every state below reaches the cache through the event stream.
func TestContainerLifecycle(t *testing.T) {
	d := testlab.Shared(t)
	exp := startExporter(t, []config.Host{testlab.Host(t, "lab", d.Host)}, hostpool.DefaultOptions,
		collector.Options{ContainerLabels: []string{"team"}})
	host := "lab"
	c := func(name string) map[string]string { return lbl("host", host, "name", name) }

	runningID := d.Run(t, "lc-running", []string{"--label", "com.docker.compose.project=shop",
		"--label", "com.docker.compose.service=web", "--label", "team=payments"}, "write", "1048576")
	d.Run(t, "lc-paused", nil)
	d.Docker(t, "pause", "lc-paused")
	d.Run(t, "lc-exit3", nil, "exit", "3")
	d.Create(t, "lc-created", nil)
	d.Run(t, "lc-flapper", []string{"--restart", "always"}, "exit", "1")
	d.Run(t, "lc-healthy", []string{"--health-cmd", "/fixture healthcheck", "--health-interval", "1s", "-e", "HEALTH=ok"})
	d.Run(t, "lc-unhealthy", []string{"--health-cmd", "/fixture healthcheck", "--health-interval", "1s",
		"--health-retries", "1", "-e", "HEALTH=fail"})
	d.RunOOM(t, "lc-oom", nil)

	var (
		m       metrics
		pending []string
	)
	settled := func() bool {
		m = exp.scrape(t)
		pending = nil
		for what, ok := range map[string]bool{
			"healthy":      m.matches("docker_container_health_status", lbl("name", "lc-healthy", "status", "healthy"), 1),
			"unhealthy":    m.matches("docker_container_health_status", lbl("name", "lc-unhealthy", "status", "unhealthy"), 1),
			"2 restarts":   m.atLeast("docker_container_restarts_total", c("lc-flapper"), 2),
			"oom exit 137": m.matches("docker_container_exit_code", c("lc-oom"), 137),
			"oom event":    m.atLeast("docker_events_total", lbl("host", host, "type", "container", "action", "oom"), 1),
			"exit3 exited": m.matches("docker_container_state", lbl("name", "lc-exit3", "state", "exited"), 1),
		} {
			if !ok {
				pending = append(pending, what)
			}
		}
		return len(pending) == 0
	}
	waitUntil(t, 90*time.Second, "healthchecks, restarts and the OOM kill", func() bool {
		ok := settled()
		if !ok {
			t.Logf("still waiting for: %v", pending)
		}
		return ok
	})

	for name, state := range map[string]string{
		"lc-running": "running", "lc-paused": "paused", "lc-exit3": "exited", "lc-created": "created",
		"lc-healthy": "running", "lc-unhealthy": "running", "lc-oom": "exited",
	} {
		for _, s := range hostpool.States {
			want := 0.0
			if s == state {
				want = 1
			}
			expect(t, m, "docker_container_state", lbl("host", host, "name", name, "state", s), want)
		}
	}
	expect(t, m, "docker_container_exit_code", c("lc-exit3"), 3)
	// RunOOM let lc-oom exit only after Docker's oom event, so Docker has
	// marked it OOMKilled.
	expect(t, m, "docker_container_oom_killed", c("lc-oom"), 1)
	expect(t, m, "docker_container_oom_killed", c("lc-exit3"), 0)
	expect(t, m, "docker_container_health_status", lbl("host", host, "name", "lc-unhealthy", "status", "healthy"), 0)
	if v, _ := m.get("docker_container_health_failing_streak", c("lc-unhealthy")); v < 1 {
		t.Errorf("unhealthy container failing streak %v, want >= 1", v)
	}
	if n := m.count("docker_container_health_status", c("lc-running")); n != 0 {
		t.Errorf("%d health series for a container without a healthcheck, want 0", n)
	}
	if n := m.count("docker_container_started_timestamp_seconds", c("lc-created")); n != 0 {
		t.Errorf("a never-started container has a start timestamp")
	}

	info := m.labels("docker_container_info", c("lc-running"))
	want := map[string]string{"id": runningID[:12], "image": d.Image(t), "compose_project": "shop",
		"compose_service": "web", "label_team": "payments"}
	for k, v := range want {
		if info[k] != v {
			t.Errorf("docker_container_info %s = %q, want %q (all: %v)", k, info[k], v, info)
		}
	}

	// Stats exist for running containers only.
	for _, name := range []string{"lc-running", "lc-healthy"} {
		if v, ok := m.get("docker_container_cpu_usage_seconds_total", c(name)); !ok || v <= 0 {
			t.Errorf("%s: cpu usage %v (present %v), want > 0", name, v, ok)
		}
		if v, ok := m.get("docker_container_memory_working_set_bytes", c(name)); !ok || v <= 0 {
			t.Errorf("%s: working set %v (present %v), want > 0", name, v, ok)
		}
		if n := m.count("docker_container_network_receive_bytes_total", lbl("host", host, "name", name, "interface", "eth0")); n != 1 {
			t.Errorf("%s: %d eth0 receive series, want 1", name, n)
		}
	}
	for _, name := range []string{"lc-paused", "lc-exit3", "lc-created"} {
		if n := m.count("docker_container_cpu_usage_seconds_total", c(name)); n != 0 {
			t.Errorf("%s is not running but has CPU stats", name)
		}
	}

	expect(t, m, "docker_host_up", lbl("host", host), 1)
	expect(t, m, "docker_host_events_stream_up", lbl("host", host), 1)
	if v, _ := m.get("docker_host_containers", lbl("host", host, "state", "paused")); v < 1 {
		t.Errorf("docker_host_containers{state=paused} = %v, want >= 1", v)
	}
	if v, _ := m.get("docker_events_total", lbl("host", host, "type", "container", "action", "health_status")); v < 1 {
		t.Errorf("no health_status events counted")
	}

	// A scrape waits (up to EventWait) for the events already read to be
	// applied, so the scrape right after `docker stop` usually shows the
	// die event. Usually, not always: under load the event can still be on
	// its way, or its inspect take longer, so the checks poll.
	d.Docker(t, "stop", "-t", "5", "lc-running")
	m = scrapeUntil(t, exp, "lc-running exited", func(m metrics) bool {
		return m.matches("docker_container_state", lbl("host", host, "name", "lc-running", "state", "exited"), 1)
	})
	if n := m.count("docker_container_cpu_usage_seconds_total", c("lc-running")); n != 0 {
		t.Errorf("stopped container still has CPU stats")
	}

	// Docker marks a stopped container unhealthy; that is not its service's
	// health, and the exporter reports none.
	d.Docker(t, "stop", "-t", "1", "lc-healthy")
	m = scrapeUntil(t, exp, "lc-healthy exited", func(m metrics) bool {
		return m.matches("docker_container_state", lbl("host", host, "name", "lc-healthy", "state", "exited"), 1)
	})
	for _, name := range []string{"docker_container_health_status", "docker_container_health_failing_streak"} {
		if n := m.count(name, c("lc-healthy")); n != 0 {
			t.Errorf("stopped lc-healthy has %d %s series", n, name)
		}
	}

	// After `docker rm` every series of the container goes at once.
	d.Docker(t, "rm", "-f", "lc-exit3")
	m = scrapeUntil(t, exp, "lc-exit3 gone", func(m metrics) bool {
		return m.count("docker_container_info", c("lc-exit3")) == 0
	})
	if fams := m.anyContainerSeries(host, "lc-exit3"); len(fams) != 0 {
		t.Errorf("removed container still has series: %v", fams)
	}
}
