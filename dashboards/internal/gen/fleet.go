package gen

//lint:file-ignore SA1019 dashboardv2 is Grafana 12's schema; the v1 dashboard model is what Grafana 10 and 11 import.

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
)

// Fleet is the overview of every Docker host and of the exporter itself.
func Fleet() *dashboard.DashboardBuilder {
	b := newDashboard(FleetUID, "Docker fleet",
		"Every Docker host docker-monitor watches: up or down, engine, containers by state, events, errors, and the exporter's own health.",
		hostVariables())
	b = b.WithRow(row("Hosts"))
	for _, p := range fleetSummary() {
		b = b.WithPanel(p)
	}
	b = b.WithPanel(hostTable()).WithPanel(hostTimeline())
	b = b.WithRow(row("Containers and events")).
		WithPanel(stacked(graph("Containers by state", "docker_host_containers per host and state, stacked: the top of the stack is every container on the selected hosts.", unitCount, half,
			series("A", `max by (host, state) (`+sel("docker_host_containers", hostFilter)+`)`, legendHost+" {{state}}")))).
		WithPanel(graph("Docker events by type and action", "Rate of docker_events_total.", unitEventSec, half,
			series("A", `sum by (host, type, action) (`+rate(sel("docker_events_total", hostFilter))+`)`, legendHost+" {{type}}/{{action}}")))
	b = b.WithRow(row("Connections")).
		WithPanel(graph("Ping latency", "docker_host_ping_duration_seconds: how long each daemon took to answer the scrape's ping.", unitSeconds, half,
			series("A", `max by (host) (`+sel("docker_host_ping_duration_seconds", hostFilter)+`)`, legendHost))).
		WithPanel(bars("Connection errors by reason", "Rate of docker_monitor_connection_errors_total: failed Docker API calls and event-stream breaks.", unitPerSec, half,
			series("A", `sum by (host, reason) (`+rate(sel("docker_monitor_connection_errors_total", hostFilter))+`)`, legendHost+" {{reason}}")))
	b = b.WithRow(row("Exporter"))
	for _, p := range exporterPanels() {
		b = b.WithPanel(p)
	}
	return b
}

// fleetSummary are the headline numbers: hosts and containers in trouble.
// "or vector(0)" shows 0 instead of "No data" when nothing is in trouble.
func fleetSummary() []cog.Builder[dashboard.Panel] {
	red := thresholds(step(1, "red"))
	return []cog.Builder[dashboard.Panel]{
		single("Hosts up", "Hosts whose daemon answered the last ping (docker_host_up).", unitCount, short,
			series("A", `sum(max by (host) (`+sel("docker_host_up", hostFilter)+`))`, "up")),
		single("Hosts down", "Hosts whose daemon did not answer the last ping (docker_host_up 0).", unitCount, short,
			series("A", `count(max by (host) (`+sel("docker_host_up", hostFilter)+`) == 0) or vector(0)`, "down")).Thresholds(red),
		single("Unhealthy containers", "Containers whose healthcheck reports unhealthy (docker_container_health_status).", unitCount, short,
			series("A", `count(max by (host, name) (`+sel("docker_container_health_status", hostFilter, `status="unhealthy"`)+`) == 1) or vector(0)`, "unhealthy")).Thresholds(red),
		single("Restarting containers", "Containers in state restarting (docker_host_containers).", unitCount, short,
			series("A", `sum(max by (host) (`+sel("docker_host_containers", hostFilter, `state="restarting"`)+`)) or vector(0)`, "restarting")).Thresholds(red),
		single("OOM-killed containers", "Containers whose last run the kernel OOM-killed (docker_container_oom_killed) and ended within the dashboard's time range.", unitCount, short,
			series("A", `count(max by (host, name) (`+recentOOM(hostFilter)+`)) or vector(0)`, "OOM-killed")).Thresholds(red),
		// up has no host label: an exporter serves many hosts.
		single("Exporters up", "Prometheus' up for the selected jobs: whether the exporter itself was scraped.", unitState, short,
			series("A", sel("up", jobFilter), legendInstance)).Mappings(upDown),
	}
}

// hostTable is one row per host; clicking a row opens the containers
// dashboard for that host, keeping the job and datasource selection.
func hostTable() *table.PanelBuilder {
	cols := []column{
		{field: "Value #A", title: "Up", unit: unitState, mappings: upDown},
		{field: "Value #B", title: "Event stream", unit: unitState, mappings: upDown},
		{field: "Value #C", title: "In this state for", unit: unitDuration},
		{field: "Value #D", title: "Ping", unit: unitSeconds},
		{field: "Value #E", title: "Running containers", unit: unitCount},
	}
	return grid("Hosts",
		"docker_host_up, docker_host_events_stream_up, docker_host_ping_duration_seconds, docker_host_containers, docker_host_connection_info and docker_host_info per host. "+
			"'In this state for' is the time since docker_host_up last changed, accurate to about one $__rate_interval (it may read up to that much short), or at least the dashboard's time range if it has not changed in it. Click a row for the host's containers.",
		full, cols, []string{"Value #F", "Value #G"},
		instant("A", `max by (host) (`+sel("docker_host_up", hostFilter)+`)`),
		instant("B", `max by (host) (`+sel("docker_host_events_stream_up", hostFilter)+`)`),
		instant("C", hostStateAge()),
		instant("D", `max by (host) (`+sel("docker_host_ping_duration_seconds", hostFilter)+`)`),
		instant("E", `max by (host) (`+sel("docker_host_containers", hostFilter, `state="running"`)+`)`),
		instant("F", `max by (host, connection, endpoint) (`+sel("docker_host_connection_info", hostFilter)+`)`),
		instant("G", `max by (host, version, api_version, os, kernel_version, architecture) (`+sel("docker_host_info", hostFilter)+`)`),
	).DataLinks([]cog.Builder[dashboard.DashboardLink]{
		dashboard.NewDashboardLinkBuilder("Containers on ${__data.fields.host}").
			Type(dashboard.DashboardLinkTypeLink).
			Url("/d/" + ContainersUID + "?var-host=${__data.fields.host}&${job:queryparam}&${datasource:queryparam}&${__url_time_range}"),
	})
}

// hostStateAge is the seconds since docker_host_up last changed: the
// subquery finds the last step at which changes() saw a flip. Its step is
// $__interval, which is shorter than the $__rate_interval window, so the
// windows overlap and no flip falls between two steps; without a step the
// subquery would use Prometheus' evaluation interval, whatever the range.
// The last step that still sees a flip is up to one $__rate_interval after
// it, so the age may read that much short. A host that did not flip in the
// time range gets the range itself ("at least").
func hostStateAge() string {
	up := sel("docker_host_up", hostFilter)
	return `max by (host) (time() - max_over_time(timestamp(changes(` + up + `[$__rate_interval]) > 0)[$__range:$__interval]))` +
		` or max by (host) (0 * ` + up + ` + $__range_s)`
}

// hostTimeline shows when each host was up or down over the time range.
func hostTimeline() cog.Builder[dashboard.Panel] {
	return timeline("Host up", "docker_host_up over time: hover a band for how long it lasted.", full, upDown,
		series("A", `max by (host) (`+sel("docker_host_up", hostFilter)+`)`, legendHost))
}

// exporterPanels show docker-monitor's own health. The scrape and config
// metrics have no host label (one exporter serves many hosts), so they are
// filtered by job only and told apart by instance.
func exporterPanels() []cog.Builder[dashboard.Panel] {
	return []cog.Builder[dashboard.Panel]{
		graph("Scrape duration per collector", "docker_monitor_scrape_collector_duration_seconds.", unitSeconds, third,
			series("A", `max by (instance, collector) (`+sel("docker_monitor_scrape_collector_duration_seconds", jobFilter)+`)`, legendInstance+" {{collector}}")),
		timeline("Collector success", "docker_monitor_scrape_collector_success: 0 when a collector failed or missed the deadline for a host that is up.", third, okFailed,
			series("A", `min by (instance, collector) (`+sel("docker_monitor_scrape_collector_success", jobFilter)+`)`, legendInstance+" {{collector}}")),
		bars("Stats errors by reason", "Rate of docker_monitor_stats_errors_total: running containers left out of a scrape's stats.", unitPerSec, third,
			series("A", `sum by (host, reason) (`+rate(sel("docker_monitor_stats_errors_total", hostFilter))+`)`, legendHost+" {{reason}}")),
		bars("Events dropped", "Rate of docker_monitor_events_dropped_total: events that overflowed --events.buffer (each schedules a resync).", unitEventSec, third,
			series("A", `sum by (host) (`+rate(sel("docker_monitor_events_dropped_total", hostFilter))+`)`, legendHost)),
		single("Config reload", "docker_monitor_config_last_reload_successful: whether the last load of the hosts file worked.", unitState, third,
			series("A", `min by (instance) (`+sel("docker_monitor_config_last_reload_successful", jobFilter)+`)`, legendInstance)).Mappings(okFailed),
		// Grafana's date units take milliseconds.
		single("Last successful reload", "docker_monitor_config_last_reload_success_timestamp_seconds.", unitDateTime, third,
			series("A", `max by (instance) (`+sel("docker_monitor_config_last_reload_success_timestamp_seconds", jobFilter)+`) * 1000`, legendInstance)).ColorMode(common.BigValueColorModeNone),
	}
}
