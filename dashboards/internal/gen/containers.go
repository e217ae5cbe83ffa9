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
			series("B", perContainer("max", sel("docker_container_memory_limit_bytes", containerFilter)), legendContainer+" limit")))).
		WithPanel(limitLine(graph("PIDs", "docker_container_pids, and docker_container_pids_limit as a dashed line for containers that have a limit.", unitCount, half,
			series("A", perContainer("max", sel("docker_container_pids", containerFilter)), legendContainer),
			series("B", perContainer("max", sel("docker_container_pids_limit", containerFilter)), legendContainer+" limit"))))
	b = b.WithRow(row("Network and block I/O"))
	for _, p := range ioPanels() {
		b = b.WithPanel(p)
	}
	return b
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

func healthTimeline() cog.Builder[dashboard.Panel] {
	return timeline("Health", "docker_container_health_status over time, for containers with a healthcheck.", half, stateMappings(healthStates...),
		series("A", oneHotCode("docker_container_health_status", "status", healthStates), legendContainer))
}

// restarts is a history: restarts under the restart policy (the counter
// Docker keeps), and every start including by hand or after a recreate
// (a change of the started timestamp), per $__rate_interval.
func restarts() cog.Builder[dashboard.Panel] {
	return bars("Restarts and starts", "increase of docker_container_restarts_total (restarts by Docker's restart policy) and changes of docker_container_started_timestamp_seconds (every start, also by hand), per interval.", unitCount, half,
		series("A", perContainer("sum", "increase("+sel("docker_container_restarts_total", containerFilter)+"[$__rate_interval])"), legendContainer+" restarts"),
		series("B", perContainer("sum", "changes("+sel("docker_container_started_timestamp_seconds", containerFilter)+"[$__rate_interval])"), legendContainer+" starts"))
}

func oomKilled() cog.Builder[dashboard.Panel] {
	return single("OOM-killed", "Containers whose last run the kernel OOM-killed (docker_container_oom_killed 1).", unitState, third,
		series("A", perContainer("max", sel("docker_container_oom_killed", containerFilter))+" == 1", legendContainer)).
		Mappings(stateMappings(stateText{"1", "OOM-killed", "red"})).
		NoValue("none").
		Height(tall)
}

// exitedTable lists exited containers; each value query keeps only the
// containers whose state is exited.
func exitedTable() cog.Builder[dashboard.Panel] {
	exited := " and on (host, name) (" + sel("docker_container_state", containerFilter, `state="exited"`) + " == 1)"
	codeColour := thresholds(step(1, "red"))
	return grid("Exited containers", "Exited containers with docker_container_exit_code, docker_container_finished_timestamp_seconds, docker_container_oom_killed and the image from docker_container_info.",
		third*2, []column{
			{field: "Value #A", title: "Exit code", unit: unitState},
			{field: "Value #B", title: "Finished", unit: unitDateTime},
			{field: "Value #C", title: "OOM-killed", unit: unitYesNo},
		}, []string{"Value #D"},
		instant("A", perContainer("max", sel("docker_container_exit_code", containerFilter))+exited),
		// Grafana's date units take milliseconds.
		instant("B", perContainer("max", sel("docker_container_finished_timestamp_seconds", containerFilter))+" * 1000"+exited),
		instant("C", perContainer("max", sel("docker_container_oom_killed", containerFilter))+exited),
		instant("D", "max by (host, name, image) ("+sel("docker_container_info", containerFilter)+")"+exited),
	).Thresholds(codeColour)
}

func cpuPanels() []cog.Builder[dashboard.Panel] {
	throttled := perContainer("sum", rate(sel("docker_container_cpu_throttled_periods_total", containerFilter)))
	periods := perContainer("sum", rate(sel("docker_container_cpu_periods_total", containerFilter))+" > 0")
	return []cog.Builder[dashboard.Panel]{
		limitLine(graph("CPU (cores)", "Rate of docker_container_cpu_usage_seconds_total in cores (1 = one full core), and docker_container_cpu_limit_cores as a dashed line for containers that have a limit.", unitCores, half,
			series("A", perContainer("sum", rate(sel("docker_container_cpu_usage_seconds_total", containerFilter))), legendContainer),
			series("B", perContainer("max", sel("docker_container_cpu_limit_cores", containerFilter)), legendContainer+" limit"))),
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
