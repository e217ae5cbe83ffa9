package gen

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Panel sizes on Grafana's 24-column grid.
const (
	full    = 24
	half    = 12
	third   = 8
	quarter = 6
	short   = 4
	tall    = 8
)

func targets(qs []*prometheus.DataqueryBuilder) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], len(qs))
	for i, q := range qs {
		out[i] = q
	}
	return out
}

// graph is a time series panel; every panel constructor takes the unit, so
// no panel is left without one.
func graph(title, description, unit string, width uint32, qs ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Unit(unit).
		Min(0).
		Span(width).
		Height(tall).
		FillOpacity(10).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementRight).
			ShowLegend(true).
			Calcs([]string{"lastNotNull", "max"})).
		Targets(targets(qs))
}

// bars draws counts per interval (restarts, errors) as bars, which read as
// a history of discrete happenings rather than a level.
func bars(title, description, unit string, width uint32, qs ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	return graph(title, description, unit, width, qs...).
		DrawStyle(common.GraphDrawStyleBars).
		FillOpacity(80)
}

// stacked stacks a graph's series, for counts that add up to a total.
func stacked(p *timeseries.PanelBuilder) *timeseries.PanelBuilder {
	return p.Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).FillOpacity(60)
}

// limitLine draws the series whose legend ends in " limit" as a dashed,
// unfilled red line: the container's limit above its usage.
func limitLine(p *timeseries.PanelBuilder) *timeseries.PanelBuilder {
	return p.OverrideByRegexp(".* limit$", []dashboard.DynamicConfigValue{
		{Id: "custom.lineStyle", Value: common.LineStyle{
			Fill: cog.ToPtr(common.LineStyleFillDash), Dash: []float64{10, 10},
		}},
		{Id: "custom.fillOpacity", Value: 0},
		{Id: "color", Value: map[string]any{"mode": "fixed", "fixedColor": "red"}},
	})
}

// single is a stat panel of one or a few numbers.
func single(title, description, unit string, width uint32, qs ...*prometheus.DataqueryBuilder) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Unit(unit).
		Span(width).
		Height(short).
		GraphMode(common.BigValueGraphModeNone).
		ColorMode(common.BigValueColorModeBackground).
		TextMode(common.BigValueTextModeValueAndName).
		Orientation(common.VizOrientationAuto).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		Targets(targets(qs))
}

// timeline is a state timeline: one row per series, coloured by value mapping.
func timeline(title, description string, width uint32, mappings []dashboard.ValueMapping, qs ...*prometheus.DataqueryBuilder) *statetimeline.PanelBuilder {
	return statetimeline.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Unit(unitState).
		Span(width).
		Height(tall).
		Mappings(mappings).
		ShowValue(common.VisibilityModeNever).
		MergeValues(true).
		FillOpacity(80).
		Targets(targets(qs))
}

// column describes one value column of a table: the value field of query
// refID (Grafana names it "Value #<refID>" once a table has several queries).
type column struct {
	field, title, unit string
	mappings           []dashboard.ValueMapping
	// colour colours the cell text by the panel's thresholds.
	colour bool
}

// grid is a table of instant queries, merged into one row per label set.
// hide lists label columns to drop; Time, job and instance always go.
func grid(title, description string, width uint32, cols []column, hide []string, qs ...*prometheus.DataqueryBuilder) *table.PanelBuilder {
	exclude := map[string]any{"Time": true, "job": true, "instance": true, "__name__": true}
	for _, h := range hide {
		exclude[h] = true
	}
	p := table.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Unit(unitState).
		Span(width).
		Height(tall).
		CellHeight(common.TableCellHeightSm).
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"})).
		Targets(targets(qs)).
		WithTransformation(dashboard.DataTransformerConfig{Id: "merge", Options: map[string]any{}}).
		WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
			"excludeByName": exclude,
		}})
	for _, c := range cols {
		p = p.OverrideByName(c.field, columnProps(c))
	}
	return p
}

// columnProps names the column, sets its unit and, for state columns and
// columns marked colour, colours the cell text by the value mapping or the
// thresholds.
func columnProps(c column) []dashboard.DynamicConfigValue {
	props := []dashboard.DynamicConfigValue{
		{Id: "displayName", Value: c.title},
		{Id: "unit", Value: c.unit},
	}
	if c.mappings != nil {
		props = append(props, dashboard.DynamicConfigValue{Id: "mappings", Value: c.mappings})
	}
	if c.mappings != nil || c.colour {
		props = append(props, dashboard.DynamicConfigValue{Id: "custom.cellOptions", Value: common.TableColorTextCellOptions{
			Type: common.TableCellDisplayModeColorText,
		}})
	}
	return props
}
