package integration

import (
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/collector"
	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// TestContainerLimits checks the limit series against what a real daemon
// was told: a limit the container has is reported in base units, and a
// container without one has no series, where Docker's own stats would report
// the host's memory or a period count of 0.
func TestContainerLimits(t *testing.T) {
	d := testlab.Shared(t)
	exp := startExporter(t, []config.Host{testlab.Host(t, "lab", d.Host)}, hostpool.DefaultOptions, collector.Options{})
	c := func(name string) map[string]string { return lbl("host", "lab", "name", name) }

	// The burner wants a full core and gets a tenth, so the kernel throttles
	// it in most periods; a tenth keeps its cost to the shared machine low.
	d.Run(t, "lim-cpus", []string{"--cpus", "0.1", "--memory", "64m", "--pids-limit", "50"}, "cpu")
	d.Run(t, "lim-quota", []string{"--cpu-quota", "25000", "--cpu-period", "50000"})
	d.Run(t, "lim-none", nil)
	d.Create(t, "lim-created", []string{"--cpus", "2"})

	var m metrics
	waitUntil(t, 60*time.Second, "throttled periods of lim-cpus", func() bool {
		m = exp.scrape(t)
		return m.atLeast("docker_container_cpu_throttled_periods_total", c("lim-cpus"), 1)
	})
	expect(t, m, "docker_container_cpu_limit_cores", c("lim-cpus"), 0.1)
	expect(t, m, "docker_container_cpu_limit_cores", c("lim-quota"), 0.5)
	expect(t, m, "docker_container_cpu_limit_cores", c("lim-created"), 2) // a limit is configuration: stopped containers have it too
	expect(t, m, "docker_container_memory_limit_bytes", c("lim-cpus"), 64<<20)
	expect(t, m, "docker_container_pids_limit", c("lim-cpus"), 50)
	for _, name := range []string{"lim-cpus", "lim-quota"} {
		if !m.atLeast("docker_container_cpu_periods_total", c(name), 1) {
			t.Errorf("%s: no CFS periods counted", name)
		}
	}
	periods, _ := m.get("docker_container_cpu_periods_total", c("lim-cpus"))
	throttled, _ := m.get("docker_container_cpu_throttled_periods_total", c("lim-cpus"))
	if throttled > periods {
		t.Errorf("lim-cpus: %v throttled periods of %v", throttled, periods)
	}
	for _, name := range []string{"docker_container_cpu_limit_cores", "docker_container_memory_limit_bytes",
		"docker_container_pids_limit", "docker_container_cpu_periods_total"} {
		if n := m.count(name, c("lim-none")); n != 0 {
			t.Errorf("lim-none has no limit but %d %s series", n, name)
		}
	}

	// docker update sends an update event; the re-inspect carries the new limit.
	d.Docker(t, "update", "--cpus", "0.2", "lim-cpus")
	waitUntil(t, 30*time.Second, "the updated CPU limit", func() bool {
		return exp.scrape(t).matches("docker_container_cpu_limit_cores", c("lim-cpus"), 0.2)
	})
}
