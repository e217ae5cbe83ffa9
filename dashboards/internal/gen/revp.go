package gen

//lint:file-ignore SA1019 dashboardv2 is Grafana 12's schema; the v1 dashboard model is what Grafana 10 and 11 import.

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// routeLabels are the columns of the routes tables. Each value query is
// joined onto revp_route_info so that every query returns the same label
// set and Grafana's merge makes one row per route.
const routeLabels = "host, container, domain, port, host_port, backend_scheme"

// RevP shows reverse-proxy routes declared in snadboy.revp labels.
func RevP() *dashboard.DashboardBuilder {
	b := newDashboard(RevPUID, "RevP routes",
		"Reverse-proxy routes declared in snadboy.revp.* container labels: whether each is up, probe results, label errors and domains claimed twice.",
		containerVariables(routeOwnerQuery))
	b = b.WithRow(row("Routes"))
	for _, p := range revpSummary() {
		b = b.WithPanel(p)
	}
	b = b.WithPanel(routesTable()).WithPanel(routesDown())
	b = b.WithRow(row("Conflicts and label errors")).
		WithPanel(claimsTable()).
		WithPanel(labelErrorsTable())
	b = b.WithRow(row("Probes")).
		WithPanel(graph("Probe success", "Share of scrapes whose probe passed: revp_route_probe_success averaged over the interval (needs --revp.probe).", unitRatio, half,
			series("A", `avg by (host, container, port) (avg_over_time(`+sel("revp_route_probe_success", routeFilter)+`[$__rate_interval]))`, legendRoute)).Max(1)).
		WithPanel(graph("Probe latency", "revp_route_probe_duration_seconds (needs --revp.probe).", unitSeconds, half,
			series("A", `max by (host, container, port) (`+sel("revp_route_probe_duration_seconds", routeFilter)+`)`, legendRoute)))
	return b
}

// onRoute puts the labels of revp_route_info on a per-route value:
// value (one series per host, container, port[, domain]) is copied onto
// every matching route_info series.
func onRoute(value, on string) string {
	return "max by (" + routeLabels + ") (" + sel("revp_route_info", routeFilter) +
		" * on (" + on + ") group_left () max by (" + on + ") (" + value + "))"
}

func revpSummary() []cog.Builder[dashboard.Panel] {
	red := thresholds(step(1, "red"))
	return []cog.Builder[dashboard.Panel]{
		// revp_routes counts per host and has no container label.
		single("Routes", "revp_routes: routes of running and stopped containers on the selected hosts.", unitCount, quarter,
			series("A", `sum(`+sel("revp_routes", hostFilter)+`)`, "routes")),
		single("Routes down", "Routes with revp_route_up 0.", unitCount, quarter,
			series("A", `count(max by (host, container, port, domain) (`+sel("revp_route_up", routeFilter)+`) == 0) or vector(0)`, "down")).Thresholds(red),
		// revp_domain_claims has only a domain label, counted over every
		// host: this count is fleet-wide for the selected jobs, not per host.
		single("Domains claimed twice", "Domains with revp_domain_claims above 1, on all hosts of the selected jobs.", unitCount, quarter,
			series("A", `count(max by (domain) (`+sel("revp_domain_claims", jobFilter)+`) > 1) or vector(0)`, "conflicts")).Thresholds(red),
		single("Label errors", "Sum of revp_label_errors.", unitCount, quarter,
			series("A", `sum(`+sel("revp_label_errors", routeFilter)+`) or vector(0)`, "errors")).Thresholds(red),
	}
}

// routeColumns rename the label columns every routes table shares.
var routeColumns = []column{
	{field: "host_port", title: "Host port", unit: unitState},
	{field: "backend_scheme", title: "Scheme", unit: unitState},
}

func routesTable() cog.Builder[dashboard.Panel] {
	cols := append([]column{
		{field: "Value #A", title: "Up", unit: unitState, mappings: upDown},
		{field: "Value #B", title: "Probe", unit: unitState, mappings: okFailed},
		{field: "Value #C", title: "Probe latency", unit: unitSeconds},
	}, routeColumns...)
	return grid("All routes", "Every route (revp_route_info) with revp_route_up and, with --revp.probe, revp_route_probe_success and revp_route_probe_duration_seconds.",
		full, cols, nil,
		instant("A", onRoute(sel("revp_route_up", routeFilter), "host, container, port, domain")),
		instant("B", onRoute(sel("revp_route_probe_success", routeFilter), "host, container, port")),
		instant("C", onRoute(sel("revp_route_probe_duration_seconds", routeFilter), "host, container, port")),
	)
}

func routesDown() cog.Builder[dashboard.Panel] {
	down := "(max by (host, container, port, domain) (" + sel("revp_route_up", routeFilter) + ") == 0)"
	return grid("Routes that are down", "Routes with revp_route_up 0: the container is not running, does not publish the port over TCP, or its probe failed.",
		full, routeColumns, []string{"Value"},
		instant("A", onRoute(down, "host, container, port, domain")))
}

// claimsTable lists who claims a conflicting domain. revp_domain_claims
// has only a domain label, so it is joined to revp_route_info for the
// claimants and their hosts; claims count running containers only, so
// stopped claimants are left out with docker_container_state.
func claimsTable() cog.Builder[dashboard.Panel] {
	claims := "(max by (domain) (" + sel("revp_domain_claims", jobFilter) + ") > 1)"
	running := `label_replace(` + sel("docker_container_state", containerFilter, `state="running"`) + ` == 1, "container", "$1", "name", "(.*)")`
	expr := "max by (domain, host, container, port) (" + sel("revp_route_info", routeFilter) +
		" * on (domain) group_left () " + claims + ") and on (host, container) " + running
	return grid("Domains claimed more than once", "Running containers whose routes list a domain that revp_domain_claims counts more than once: the proxy lets the last one win.",
		half, []column{{field: "Value", title: "Claims", unit: unitCount}}, nil,
		instant("A", expr))
}

func labelErrorsTable() cog.Builder[dashboard.Panel] {
	return grid("Label errors by container", "revp_label_errors: problems with a container's snadboy.revp labels, by reason. docs/revp.md explains every reason and its fix.",
		half, []column{{field: "Value", title: "Problems", unit: unitCount}}, nil,
		instant("A", `max by (host, container, reason) (`+sel("revp_label_errors", routeFilter)+`) > 0`))
}
