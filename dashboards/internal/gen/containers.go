package gen

//lint:file-ignore SA1019 dashboardv2 is Grafana 12's schema; the v1 dashboard model is what Grafana 10 and 11 import.

import (
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// Containers shows the containers of the selected hosts: state, health,
// restarts, exits and resource use against their limits.
func Containers() *dashboard.DashboardBuilder {
	b := newDashboard(ContainersUID, "Docker containers",
		"Containers of the selected hosts: state, health, restarts, exit codes, OOM kills, and CPU, memory, PIDs, network and block I/O against their limits.",
		containerVariables(containerNameQuery))
	b = b.WithRow(row("State and health")).
		WithPanel(stateTimeline()).
		WithPanel(healthTimeline()).
		WithPanel(restarts()).
		WithPanel(oomKilled()).
		WithPanel(exitedTable())
	b = b.WithRow(row("CPU"))
	for _, p := range cpuPanels() {
		b = b.WithPanel(p)
	}
	b = b.WithRow(row("Memory and processes")).
		WithPanel(limitLine(graph("Memory working set", "docker_container_memory_working_set_bytes, and docker_container_memory_limit_bytes as a dashed line for containers that have a limit.", unitBytes, half,
			series("A", perContainer("max", sel("docker_container_memory_working_set_bytes", containerFilter)), legendContainer),
			series("B", perContainer("max", whileRunning(sel("docker_container_memory_limit_bytes", containerFilter))), legendContainer+" limit")))).
		WithPanel(limitLine(graph("PIDs", "docker_container_pids, and docker_container_pids_limit as a dashed line for containers that have a limit.", unitCount, half,
			series("A", perContainer("max", sel("docker_container_pids", containerFilter)), legendContainer),
			series("B", perContainer("max", whileRunning(sel("docker_container_pids_limit", containerFilter))), legendContainer+" limit"))))
	b = b.WithRow(row("Network and block I/O"))
	for _, p := range ioPanels() {
		b = b.WithPanel(p)
	}
	return b
}

// whileRunning keeps expr's series for the containers that are running.
// Usage (the stats series) exists only while a container runs, but
// docker_container_cpu_limit_cores is configuration and exists in every
// state: without this a stopped container would get a limit line and no
// usage. The memory and PIDs limits come from stats; they are joined too,
// so every limit line follows the same rule.
func whileRunning(expr string) string {
	return expr + " and on (job, instance, host, name) " + sel("docker_container_state", containerFilter, `state="running"`) + " == 1"
}

// perContainer aggregates to one series per host and container, dropping
// job and instance: two Prometheus jobs scraping one host draw one line.
func perContainer(agg, expr string) string {
	return agg + " by (host, name) (" + expr + ")"
}

// containerStates are docker_container_state's one-hot states; the
// timeline codes them 1..7 in this order.
var containerStates = []stateText{
	{"1", "created", "blue"}, {"2", "running", "green"}, {"3", "paused", "yellow"},
	{"4", "restarting", "orange"}, {"5", "removing", "purple"}, {"6", "exited", "#8e8e8e"},
	{"7", "dead", "red"},
}

var healthStates = []stateText{{"1", "starting", "blue"}, {"2", "healthy", "green"}, {"3", "unhealthy", "red"}}

// oneHotCode turns a one-hot metric (1 for the current value of label key,
// 0 for the others) into one series per container whose value is the code
// of the current value, which a state timeline can colour.
func oneHotCode(metric, key string, states []stateText) string {
	terms := make([]string, len(states))
	for i, s := range states {
		terms[i] = sel(metric, containerFilter, key+`="`+s.text+`"`) + " * " + s.value
	}
	return perContainer("max", strings.Join(terms, " or "))
}

func stateTimeline() cog.Builder[dashboard.Panel] {
	return timeline("State", "docker_container_state over time.", full, stateMappings(containerStates...),
		series("A", oneHotCode("docker_container_state", "state", containerStates), legendContainer))
}

// healthTimeline needs no state filter: the exporter reports health only
// for running containers with a healthcheck.
func healthTimeline() cog.Builder[dashboard.Panel] {
	return timeline("Health", "docker_container_health_status over time, for running containers with a healthcheck (a stopped container has no health).", half, stateMappings(healthStates...),
		series("A", oneHotCode("docker_container_health_status", "status", healthStates), legendContainer))
}

// restarts is a history: restarts under the restart policy (the counter
// Docker keeps) and starts (a change of the started timestamp: every start,
// also by hand or after a recreate). Each bar counts what happened since
// the previous bar. The range query's step is $__interval, so "offset
// $__interval" is the previous bar, and differences between consecutive
// bars add up exactly to the change over the time range, whatever the
// scrape interval. increase() or changes() over [$__rate_interval] would
// not: that window is at least four scrapes and longer than the step, so
// one restart would show in several bars.
func restarts() cog.Builder[dashboard.Panel] {
	return bars("Restarts and starts", "Since the previous bar, so the bars add up: restarts (docker_container_restarts_total, restarts by Docker's restart policy) and whether the container started (docker_container_started_timestamp_seconds changed: every start, also by hand or after a recreate).", unitCount, half,
		series("A", perContainer("sum", counterSteps(sel("docker_container_restarts_total", containerFilter))), legendContainer+" restarts"),
		series("B", perContainer("sum", started(sel("docker_container_started_timestamp_seconds", containerFilter))), legendContainer+" starts"))
}

// counterSteps is a counter's increase since the previous step. Docker
// sets the restart count back to 0 on a start by hand or a recreate: after
// such a reset the increase is the count itself, as increase() takes it.
// A series without a value one step back (a new container) has no bar.
func counterSteps(c string) string {
	prev := c + " offset $__interval"
	return "(" + c + " - " + prev + " >= 0) or (" + c + " and " + c + " < " + prev + ")"
}

// started is 1 if the start timestamp changed since the previous step (a
// start, at most one a bar), else 0.
func started(ts string) string {
	return ts + " != bool " + ts + " offset $__interval"
}

func oomKilled() cog.Builder[dashboard.Panel] {
	return single("OOM-killed", "Containers whose last run the kernel OOM-killed (docker_container_oom_killed 1) and ended within the dashboard's time range.", unitState, third,
		series("A", perContainer("max", recentOOM(containerFilter)), legendContainer)).
		Mappings(stateMappings(stateText{"1", "OOM-killed", "red"})).
		NoValue("none").
		Height(tall)
}

// exitedTable lists exited and dead containers, as the exit-code alert
// covers both; each value query keeps only the containers in those states.
// The exit code is coloured by the panel's thresholds: red unless 0.
func exitedTable() cog.Builder[dashboard.Panel] {
	stopped := sel("docker_container_state", containerFilter, `state=~"exited|dead"`) + " == 1"
	exited := " and on (host, name) (" + stopped + ")"
	codeColour := thresholds(step(1, "red"))
	return grid("Exited containers", "Exited and dead containers with their state, docker_container_exit_code (red unless 0), docker_container_finished_timestamp_seconds, docker_container_oom_killed and the image from docker_container_info.",
		third*2, []column{
			{field: "Value #A", title: "Exit code", unit: unitState, colour: true},
			{field: "Value #B", title: "Finished", unit: unitDateTime},
			{field: "Value #C", title: "OOM-killed", unit: unitYesNo},
		}, []string{"Value #D", "Value #E"},
		instant("A", perContainer("max", sel("docker_container_exit_code", containerFilter))+exited),
		// Grafana's date units take milliseconds.
		instant("B", perContainer("max", sel("docker_container_finished_timestamp_seconds", containerFilter))+" * 1000"+exited),
		instant("C", perContainer("max", sel("docker_container_oom_killed", containerFilter))+exited),
		instant("D", "max by (host, name, image) ("+sel("docker_container_info", containerFilter)+")"+exited),
		instant("E", "max by (host, name, state) ("+stopped+")"),
	).Thresholds(codeColour)
}

func cpuPanels() []cog.Builder[dashboard.Panel] {
	throttled := perContainer("sum", rate(sel("docker_container_cpu_throttled_periods_total", containerFilter)))
	periods := perContainer("sum", rate(sel("docker_container_cpu_periods_total", containerFilter))+" > 0")
	return []cog.Builder[dashboard.Panel]{
		limitLine(graph("CPU (cores)", "Rate of docker_container_cpu_usage_seconds_total in cores (1 = one full core), and docker_container_cpu_limit_cores as a dashed line for containers that have a limit.", unitCores, half,
			series("A", perContainer("sum", rate(sel("docker_container_cpu_usage_seconds_total", containerFilter))), legendContainer),
			series("B", perContainer("max", whileRunning(sel("docker_container_cpu_limit_cores", containerFilter))), legendContainer+" limit"))),
		// Periods with no CFS enforcement (no quota, or idle) are dropped
		// by "> 0" rather than divided by zero.
		graph("CPU throttling", "Share of CFS enforcement periods in which the container was throttled: rate of docker_container_cpu_throttled_periods_total / rate of docker_container_cpu_periods_total.", unitRatio, half,
			series("A", throttled+" / "+periods, legendContainer)).Max(1),
	}
}

func ioPanels() []cog.Builder[dashboard.Panel] {
	net := func(metric, dir string) string {
		return perContainer("sum", rate(sel("docker_container_network_"+dir+"_"+metric+"_total", containerFilter)))
	}
	return []cog.Builder[dashboard.Panel]{
		graph("Network", "Rates of docker_container_network_receive_bytes_total and docker_container_network_transmit_bytes_total, all interfaces.", unitBytesSec, third,
			series("A", net("bytes", "receive"), legendContainer+" received"),
			series("B", net("bytes", "transmit"), legendContainer+" sent")),
		graph("Network errors and drops", "Rates of docker_container_network_{receive,transmit}_{errors,dropped}_total.", unitPerSec, third,
			series("A", net("errors", "receive"), legendContainer+" receive errors"),
			series("B", net("errors", "transmit"), legendContainer+" transmit errors"),
			series("C", net("dropped", "receive"), legendContainer+" receive drops"),
			series("D", net("dropped", "transmit"), legendContainer+" transmit drops")),
		graph("Block I/O", "Rates of docker_container_block_io_read_bytes_total and docker_container_block_io_write_bytes_total.", unitBytesSec, third,
			series("A", perContainer("sum", rate(sel("docker_container_block_io_read_bytes_total", containerFilter))), legendContainer+" read"),
			series("B", perContainer("sum", rate(sel("docker_container_block_io_write_bytes_total", containerFilter))), legendContainer+" written")),
	}
}
