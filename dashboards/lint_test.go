package dashboards

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/snadboy/docker-monitor/internal/metricsdoc"
)

// documentedMetrics are the metrics of docs/metrics.md (histograms with
// their _bucket, _sum and _count series), and Prometheus' own up and
// ALERTS, which the dashboards also query.
func documentedMetrics(t *testing.T) map[string]metricsdoc.Metric {
	t.Helper()
	out, err := metricsdoc.Load("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	out["up"] = metricsdoc.Metric{Name: "up", Type: "gauge", Labels: map[string]bool{"job": true, "instance": true}}
	out["ALERTS"] = metricsdoc.Metric{Name: "ALERTS", Type: "gauge", Labels: map[string]bool{"job": true, "alertname": true, "alertstate": true}}
	return out
}

func loadAll(t *testing.T) map[string]*Board {
	t.Helper()
	files, err := Files(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("dashboard files: %v, want 3", files)
	}
	boards := map[string]*Board{}
	for _, path := range files {
		b, err := LoadBoard(path)
		if err != nil {
			t.Fatal(err)
		}
		boards[path] = b
	}
	return boards
}

func TestUIDsUnique(t *testing.T) {
	seen := map[string]string{}
	for path, b := range loadAll(t) {
		if b.UID == "" || b.Title == "" {
			t.Errorf("%s: uid %q title %q", path, b.UID, b.Title)
		}
		if other, dup := seen[b.UID]; dup {
			t.Errorf("uid %s in both %s and %s", b.UID, path, other)
		}
		seen[b.UID] = path
	}
	for _, uid := range []string{"docker-monitor-fleet", "docker-monitor-containers", "docker-monitor-revp"} {
		if seen[uid] == "" {
			t.Errorf("no dashboard with uid %s", uid)
		}
	}
}

// TestVariables checks the chain datasource → job → host (→ container).
func TestVariables(t *testing.T) {
	for path, b := range loadAll(t) {
		var names []string
		for _, v := range b.Variables {
			names = append(names, v.Name)
		}
		want := []string{"datasource", "job", "host"}
		if b.UID != "docker-monitor-fleet" {
			want = append(want, "container")
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s: variables %v, want %v", path, names, want)
			continue
		}
		if v := b.Variables[0]; v.Type != "datasource" {
			t.Errorf("%s: first variable has type %s", path, v.Type)
		}
		for i, v := range b.Variables[1:] {
			if v.Type != "query" || !v.Multi || !v.IncludeAll || v.AllValue != ".*" {
				t.Errorf("%s: variable %s: %+v, want a multi query variable with All = .*", path, v.Name, v)
			}
			sel, label, ok := ParseLabelValues(v.Query)
			if !ok || label != map[string]string{"job": "job", "host": "host", "container": label}[v.Name] {
				t.Errorf("%s: variable %s query %q", path, v.Name, v.Query)
			}
			// Each variable is narrowed by every one before it.
			for _, prev := range b.Variables[1 : i+1] {
				if !strings.Contains(sel, prev.Name+`=~"$`+prev.Name+`"`) {
					t.Errorf("%s: variable %s query %q does not filter by $%s", path, v.Name, v.Query, prev.Name)
				}
			}
		}
	}
}

// selectorRE finds metric{matchers}; bareRE finds a metric used without
// braces, which could not carry the job and host filters.
var (
	selectorRE = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}`)
	bareRE     = regexp.MustCompile(`\b((?:docker|revp)_[a-z0-9_]+|up|ALERTS)\b[^{a-z0-9_]`)
	matcherRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
	rangeRE    = regexp.MustCompile(`\[([^\]]*)\]`)
)

// TestExpressions checks every panel query: known metrics, the variables
// in every selector, and rate windows.
func TestExpressions(t *testing.T) {
	docs := documentedMetrics(t)
	metricName := regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*`)
	for path, b := range loadAll(t) {
		hasContainer := b.variable("container") != nil
		for _, q := range b.Queries {
			for _, e := range checkExpr(q.Expr, docs, hasContainer) {
				t.Errorf("%s: %s/%s: %s", path, q.Panel, q.RefID, e)
			}
		}
		// Variable queries are checked for their chain in TestVariables.
		for _, v := range b.Variables {
			if sel, _, ok := ParseLabelValues(v.Query); ok && sel != "" {
				if _, ok := docs[metricName.FindString(sel)]; !ok {
					t.Errorf("%s: variable %s: metric of %q is not in docs/metrics.md", path, v.Name, sel)
				}
			}
		}
	}
}

// checkExpr returns what is wrong with one panel expression.
func checkExpr(expr string, docs map[string]metricsdoc.Metric, hasContainer bool) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	for _, m := range bareRE.FindAllStringSubmatch(expr+" ", -1) {
		bad("%s without a selector in %s", m[1], expr)
	}
	for _, m := range selectorRE.FindAllStringSubmatch(expr, -1) {
		doc, ok := docs[m[1]]
		if !ok {
			bad("metric %s is not in docs/metrics.md", m[1])
			continue
		}
		matchers := map[string]string{}
		for _, mm := range matcherRE.FindAllStringSubmatch(m[2], -1) {
			matchers[mm[1]] = mm[2] + mm[3]
		}
		need := map[string]string{"job": `=~$job`}
		if doc.Labels["host"] {
			need["host"] = `=~$host`
		}
		if hasContainer && doc.Labels["name"] {
			need["name"] = `=~$container`
		}
		if hasContainer && doc.Labels["container"] {
			need["container"] = `=~$container`
		}
		for label, want := range need {
			if matchers[label] != want {
				bad("%s{%s}: want %s%s", m[1], m[2], label, want)
			}
		}
		// No literal job or host: only the variables may choose them.
		for _, label := range []string{"job", "host"} {
			if v, ok := matchers[label]; ok && v != "=~$"+label {
				bad("literal %s matcher %s in %s", label, v, expr)
			}
		}
	}
	// rate, changes and *_over_time all use $__rate_interval, which
	// Grafana keeps at least four scrape intervals long; the only other
	// window is the host table's [$__range:$__interval] subquery, which
	// looks back over the dashboard's time range for the last up/down flip.
	// Its step must be given: without one the subquery steps at
	// Prometheus' evaluation interval, whatever the dashboard shows.
	for _, m := range rangeRE.FindAllStringSubmatch(expr, -1) {
		if m[1] != "$__rate_interval" && m[1] != "$__range:$__interval" {
			bad("window [%s] in %s, want [$__rate_interval]", m[1], expr)
		}
	}
	return errs
}

// rawPanelJSON is the part of a panel the structural checks read.
type rawPanelJSON struct {
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	Datasource  *dsRef          `json:"datasource"`
	FieldConfig json.RawMessage `json:"fieldConfig"`
	Targets     []struct {
		Datasource   *dsRef `json:"datasource"`
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
		Format       string `json:"format"`
	} `json:"targets"`
	Panels []rawPanelJSON `json:"panels"`
}

type dsRef struct{ Type, UID string }

func (d *dsRef) UnmarshalJSON(b []byte) error {
	var v struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	err := json.Unmarshal(b, &v)
	d.Type, d.UID = v.Type, v.UID
	return err
}

// readJSON decodes the dashboard file at path into v.
func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func usesVariable(d *dsRef) bool { return d != nil && d.UID == "${datasource}" }

// TestPanels checks every panel, row and target for the datasource
// variable, every panel for a unit, and legends for host and container.
func TestPanels(t *testing.T) {
	files, err := Files(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		var raw struct {
			Panels     []rawPanelJSON `json:"panels"`
			Templating struct {
				List []struct {
					Name, Type string
					Datasource *dsRef `json:"datasource"`
				} `json:"list"`
			} `json:"templating"`
		}
		readJSON(t, path, &raw)
		for _, v := range raw.Templating.List {
			if v.Type != "datasource" && !usesVariable(v.Datasource) {
				t.Errorf("%s: variable %s does not use ${datasource}", path, v.Name)
			}
		}
		checkPanels(t, path, raw.Panels)
	}
}

// TestPanelsDocumented: docs/dashboards.md describes every panel and row,
// naming it in bold as the dashboard shows it.
func TestPanelsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/dashboards.md")
	if err != nil {
		t.Fatal(err)
	}
	files, err := Files(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		var raw struct {
			Panels []rawPanelJSON `json:"panels"`
		}
		readJSON(t, path, &raw)
		titles := map[string]bool{}
		for _, p := range raw.Panels {
			// Tests and links name panels by title: keep them unique.
			if p.Type != "row" && titles[p.Title] {
				t.Errorf("%s: two panels titled %q", path, p.Title)
			}
			titles[p.Title] = p.Type != "row"
			if !strings.Contains(string(doc), "**"+p.Title+"**") {
				t.Errorf("%s: %s %q is not described in docs/dashboards.md", path, p.Type, p.Title)
			}
		}
	}
}

var byClause = regexp.MustCompile(`^\w+ by \(([^)]*)\)`)

func checkPanels(t *testing.T, path string, panels []rawPanelJSON) {
	t.Helper()
	for _, p := range panels {
		where := path + ": " + p.Type + " " + p.Title
		if !usesVariable(p.Datasource) {
			t.Errorf("%s: datasource %+v, want ${datasource}", where, p.Datasource)
		}
		if p.Type != "row" {
			var fc struct {
				Defaults struct {
					Unit string `json:"unit"`
				} `json:"defaults"`
			}
			if err := json.Unmarshal(p.FieldConfig, &fc); err != nil || fc.Defaults.Unit == "" {
				t.Errorf("%s: no fieldConfig.defaults.unit", where)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no targets", where)
			}
		}
		for _, q := range p.Targets {
			if !usesVariable(q.Datasource) {
				t.Errorf("%s: target %q does not use ${datasource}", where, q.Expr)
			}
			// A graph of per-container series must say whose each line is.
			if m := byClause.FindStringSubmatch(q.Expr); m != nil && q.Format != "table" {
				for _, l := range []string{"host", "name", "container", "instance"} {
					if slices.Contains(strings.Split(m[1], ", "), l) && !strings.Contains(q.LegendFormat, "{{"+l+"}}") {
						t.Errorf("%s: legend %q of %s lacks {{%s}}", where, q.LegendFormat, q.Expr, l)
					}
				}
			}
		}
		checkPanels(t, path, p.Panels)
	}
}

// TestInterpolateAll: with everything on All, no variable is left in any
// query (the "$1" of label_replace is not a variable).
func TestInterpolateAll(t *testing.T) {
	for path, b := range loadAll(t) {
		for _, q := range b.Queries {
			got := strings.ReplaceAll(b.Interpolate(q.Expr, nil), `"$1"`, "")
			if strings.Contains(got, "$") {
				t.Errorf("%s: %s/%s: %s", path, q.Panel, q.RefID, got)
			}
		}
	}
}

// TestHostLink: each host row of the fleet table opens the containers
// dashboard for that host, with the same job and datasource.
func TestHostLink(t *testing.T) {
	data, err := os.ReadFile("docker-fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`/d/docker-monitor-containers?var-host=${__data.fields.host}`,
		`${job:queryparam}`, `${datasource:queryparam}`,
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("docker-fleet.json has no data link with %s", want)
		}
	}
}
