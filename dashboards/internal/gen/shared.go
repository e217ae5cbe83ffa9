// Package gen builds docker-monitor's Grafana dashboards with the Grafana
// Foundation SDK. Everything the three dashboards share (the datasource
// reference, the variables, the label filters, the units and the legends)
// is defined once in this file, so a change to one of them changes every
// dashboard at once.
package gen

//lint:file-ignore SA1019 dashboardv2 is Grafana 12's schema; the v1 dashboard model is what Grafana 10 and 11 import.

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// Dashboard UIDs. Links between the dashboards use them, so they never change.
const (
	FleetUID      = "docker-monitor-fleet"
	ContainersUID = "docker-monitor-containers"
	RevPUID       = "docker-monitor-revp"
)

// Units. Grafana has no "cores" unit: CPU is drawn as a plain number of
// cores (1 = one full core), and the panel titles say so.
const (
	unitCount    = units.Short
	unitCores    = units.Short
	unitRatio    = units.PercentUnit
	unitBytes    = units.BytesIEC
	unitBytesSec = units.BytesPerSecondIEC
	unitSeconds  = units.Seconds
	unitPerSec   = units.OpsPerSecond
	unitEventSec = units.EventsPerSecond
	unitDuration = units.DurationSeconds
	unitDateTime = units.DatetimeISO
	unitState    = units.NoUnit
	unitYesNo    = units.BoolYesNo
)

// Legends. Every per-container series names its host and container, so two
// containers of the same name on two hosts stay apart.
const (
	legendHost      = "{{host}}"
	legendContainer = "{{host}}/{{name}}"
	legendRoute     = "{{host}}/{{container}}:{{port}}"
	legendInstance  = "{{instance}}"
)

// Label filters. $job and $host are multi-value variables whose All is the
// regex .*, so every filter is a regex match (=~).
const (
	jobFilter  = `job=~"$job"`
	hostFilter = jobFilter + `,host=~"$host"`
	// Container metrics name the container in label "name".
	containerFilter = hostFilter + `,name=~"$container"`
	// RevP metrics name it in label "container".
	routeFilter = hostFilter + `,container=~"$container"`
)

// sel returns metric{filter[,extra]}: every selector goes through it so no
// expression can forget the variables.
func sel(metric, filter string, extra ...string) string {
	parts := append([]string{filter}, extra...)
	return metric + "{" + strings.Join(parts, ",") + "}"
}

// rate is rate(selector[$__rate_interval]): Grafana's $__rate_interval is
// never shorter than four scrape intervals, so rate always has two samples.
func rate(selector string) string {
	return fmt.Sprintf("rate(%s[$__rate_interval])", selector)
}

// recentOOM is docker_container_oom_killed 1 for the containers whose
// OOM-killed run ended within the dashboard's time range. The metric stays
// 1 until the container's next run ends, which may be never; like the
// ContainerOOMKilled alert, a kill counts while it is recent.
func recentOOM(filter string) string {
	return sel("docker_container_oom_killed", filter) + " == 1 and on (job, instance, host, name) time() - " +
		sel("docker_container_finished_timestamp_seconds", filter) + " < $__range_s"
}

// datasource points every panel, target and query variable at the
// dashboard's datasource variable, so one dashboard serves any Prometheus.
func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
}

// datasourceVariable lets the user pick any Prometheus datasource.
func datasourceVariable() *dashboard.DatasourceVariableBuilder {
	return dashboard.NewDatasourceVariableBuilder("datasource").
		Label("Data source").
		Type("prometheus")
}

// queryVariable is a multi-select label_values variable with All = .*;
// without allValue Grafana would send a long (a|b|c) list of every value.
func queryVariable(name, label, query string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).
		Definition(query).
		Datasource(datasource()).
		Multi(true).
		IncludeAll(true).
		AllValue(".*").
		Current(dashboard.VariableOption{
			Selected: cog.ToPtr(true),
			Text:     dashboard.StringOrArrayOfString{String: cog.ToPtr("All")},
			Value:    dashboard.StringOrArrayOfString{String: cog.ToPtr("$__all")},
		}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalCaseInsensitiveAsc)
}

// Query texts of the chained variables: each one is narrowed by the ones before it.
const (
	jobQuery           = `label_values(docker_host_up, job)`
	hostQuery          = `label_values(docker_host_up{job=~"$job"}, host)`
	containerNameQuery = `label_values(docker_container_info{job=~"$job",host=~"$host"}, name)`
	routeOwnerQuery    = `label_values(revp_route_info{job=~"$job",host=~"$host"}, container)`
)

// hostVariables are datasource → job → host, on every dashboard.
func hostVariables() []cog.Builder[dashboard.VariableModel] {
	return []cog.Builder[dashboard.VariableModel]{
		datasourceVariable(),
		queryVariable("job", "Job", jobQuery),
		queryVariable("host", "Host", hostQuery),
	}
}

// containerVariables add $container, read from the label that names the
// container in the dashboard's metrics (name, or container for RevP).
func containerVariables(query string) []cog.Builder[dashboard.VariableModel] {
	return append(hostVariables(), queryVariable("container", "Container", query))
}

// newDashboard sets what every dashboard has in common.
func newDashboard(uid, title, description string, vars []cog.Builder[dashboard.VariableModel]) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{"docker", "docker-monitor"}).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Refresh("30s").
		Time("now-6h", "now").
		Timezone(common.TimeZoneBrowser).
		Variables(vars).
		Link(dashboard.NewDashboardLinkBuilder("docker-monitor").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{"docker-monitor"}).
			AsDropdown(true).
			IncludeVars(true).
			KeepTime(true))
}

// row is a non-collapsed row: its panels follow it at the top level of the
// dashboard, as Grafana stores open rows.
func row(title string) *dashboard.RowBuilder {
	return dashboard.NewRowBuilder(title).Datasource(datasource())
}

// series is a range query drawn over time.
func series(refID, expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		RefId(refID).
		Expr(expr).
		LegendFormat(legend).
		Range()
}

// instant is an instant query returned as a table: one row per series,
// one column per label.
func instant(refID, expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		RefId(refID).
		Expr(expr).
		Format(prometheus.PromQueryFormatTable).
		Instant()
}

// stateMappings maps numeric codes to text and colour, for up/down style values.
func stateMappings(states ...stateText) []dashboard.ValueMapping {
	opts := map[string]dashboard.ValueMappingResult{}
	for i, s := range states {
		opts[s.value] = dashboard.ValueMappingResult{
			Text: cog.ToPtr(s.text), Color: cog.ToPtr(s.color), Index: cog.ToPtr(int32(i)),
		}
	}
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{
		Type: dashboard.MappingTypeValueToText, Options: opts,
	}}}
}

type stateText struct{ value, text, color string }

// upDown is the mapping of every 0/1 health value on the dashboards.
var upDown = stateMappings(stateText{"0", "down", "red"}, stateText{"1", "up", "green"})

// okFailed is upDown's wording for success flags.
var okFailed = stateMappings(stateText{"0", "failed", "red"}, stateText{"1", "ok", "green"})

// thresholds colours a value green below the first step and then as given.
func thresholds(steps ...dashboard.Threshold) *dashboard.ThresholdsConfigBuilder {
	all := append([]dashboard.Threshold{{Color: "green"}}, steps...)
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(all)
}

func step(value float64, color string) dashboard.Threshold {
	return dashboard.Threshold{Value: cog.ToPtr(value), Color: color}
}
