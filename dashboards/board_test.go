package dashboards

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseLabelValues(t *testing.T) {
	for _, tc := range []struct {
		in, selector, label string
		ok                  bool
	}{
		{`label_values(docker_host_up, job)`, "docker_host_up", "job", true},
		{`label_values(docker_host_up{job=~"$job"}, host)`, `docker_host_up{job=~"$job"}`, "host", true},
		{` label_values(docker_container_info{job=~"$job",host=~"$host"},name) `, `docker_container_info{job=~"$job",host=~"$host"}`, "name", true},
		{`label_values(x{a="1,2"}, b)`, `x{a="1,2"}`, "b", true},
		{`label_values(job)`, "", "job", true},
		{`label_values()`, "", "", false},
		{`label_values(x, )`, "", "", false},
		{`label_values(, job)`, "", "", false},
		{`query_result(up)`, "", "", false},
		{`label_names()`, "", "", false},
		{`up{job="a"}`, "", "", false},
	} {
		sel, label, ok := ParseLabelValues(tc.in)
		if sel != tc.selector || label != tc.label || ok != tc.ok {
			t.Errorf("ParseLabelValues(%q) = %q, %q, %v; want %q, %q, %v", tc.in, sel, label, ok, tc.selector, tc.label, tc.ok)
		}
	}
}

func testBoard() *Board {
	return &Board{Variables: []Variable{
		{Name: "datasource", Type: "datasource", Query: "prometheus"},
		{Name: "job", Type: "query", Multi: true, IncludeAll: true, AllValue: ".*"},
		{Name: "host", Type: "query", Multi: true, IncludeAll: true, AllValue: ".*"},
		{Name: "hostname", Type: "query", Multi: true, IncludeAll: true},
		{Name: "single", Type: "query"},
	}}
}

func TestInterpolate(t *testing.T) {
	b := testBoard()
	for _, tc := range []struct {
		expr     string
		selected map[string][]string
		want     string
	}{
		{`up{job=~"$job"}`, nil, `up{job=~".*"}`},
		{`up{job=~"$job"}`, map[string][]string{"job": {"$__all"}}, `up{job=~".*"}`},
		{`up{job=~"$job"}`, map[string][]string{"job": {"docker-monitor"}}, `up{job=~"docker-monitor"}`},
		{`x{host=~"${host}"}`, map[string][]string{"host": {"build.lan"}}, `x{host=~"build\\.lan"}`},
		{`x{host=~"${host:regex}"}`, map[string][]string{"host": {"a", "b.c"}}, `x{host=~"(a|b\\.c)"}`},
		{`x{host=~"[[host]]"}`, map[string][]string{"host": {"a", "b"}}, `x{host=~"(a|b)"}`},
		{`x{host=~"$hostname"}`, map[string][]string{"hostname": {"n"}, "host": {"h"}}, `x{host=~"n"}`},
		{`x{host=~"$hostname"}`, nil, `x{host=~".*"}`}, // no allValue: .* still matches every option
		{`x{a="$single"}`, map[string][]string{"single": {"a.b"}}, `x{a="a.b"}`},
		{`rate(x[$__rate_interval]) / $__range_s`, nil, `rate(x[1m]) / 3600`},
		{`x[$__range:$__interval]`, nil, `x[1h:15s]`},
		{`label_replace(x, "c", "$1", "name", "(.*)")`, nil, `label_replace(x, "c", "$1", "name", "(.*)")`},
		{`uid ${datasource}`, nil, `uid ${datasource}`},
		{`uid ${datasource}`, map[string][]string{"datasource": {"prom"}}, `uid prom`},
		{`${job:queryparam}`, map[string][]string{"job": {"a b"}}, `var-job=a+b`},
		{`x{a=~"$job"}`, map[string][]string{"job": {`a\b`}}, `x{a=~"a\\\\b"}`},
	} {
		if got := b.Interpolate(tc.expr, tc.selected); got != tc.want {
			t.Errorf("Interpolate(%q, %v) = %q, want %q", tc.expr, tc.selected, got, tc.want)
		}
	}
}

// A collapsed row keeps its panels inside the row; Grafana 10+ stores
// Prometheus variable queries as objects.
const sampleBoard = `{
  "uid": "u1", "title": "T",
  "templating": {"list": [
    {"name": "datasource", "type": "datasource", "query": "prometheus"},
    {"name": "job", "type": "query", "query": {"query": "label_values(up, job)", "refId": "X"}, "multi": true, "includeAll": true, "allValue": ".*"},
    {"name": "iv", "type": "interval", "query": "1m,5m"}
  ]},
  "panels": [
    {"type": "stat", "title": "P1", "targets": [{"refId": "A", "expr": "up"}, {"refId": "B"}]},
    {"type": "row", "title": "R", "collapsed": true, "panels": [
      {"type": "timeseries", "title": "P2", "targets": [{"refId": "A", "expr": "sum(up)"}]}
    ]}
  ]
}`

func TestLoadBoard(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "b.json")
	if err := os.WriteFile(path, []byte(sampleBoard), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := LoadBoard(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.UID != "u1" || b.Title != "T" {
		t.Errorf("uid %q title %q", b.UID, b.Title)
	}
	wantVars := []Variable{
		{Name: "datasource", Type: "datasource", Query: "prometheus"},
		{Name: "job", Type: "query", Query: "label_values(up, job)", Multi: true, IncludeAll: true, AllValue: ".*"},
		{Name: "iv", Type: "interval", Query: "1m,5m"},
	}
	if !slices.Equal(b.Variables, wantVars) {
		t.Errorf("variables %+v, want %+v", b.Variables, wantVars)
	}
	wantQ := []Query{{"P1", "A", "up"}, {"P2", "A", "sum(up)"}}
	if !slices.Equal(b.Queries, wantQ) {
		t.Errorf("queries %+v, want %+v", b.Queries, wantQ)
	}
	if _, err := LoadBoard(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("LoadBoard of a missing file: no error")
	}
	if err := os.WriteFile(path, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadBoard(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadBoard of bad JSON: %v", err)
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.json", "a.json", "c.yml", "d.json.bak"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")}
	if !slices.Equal(got, want) {
		t.Errorf("Files = %v, want %v", got, want)
	}
}

// TestCheckExprCatches makes sure the expression lint fails on what it
// is there to catch.
func TestCheckExprCatches(t *testing.T) {
	docs := documentedMetrics(t)
	for _, tc := range []struct{ expr, want string }{
		{`docker_host_up{job=~"$job",host=~"$host"}`, ""},
		{`docker_host_up{job=~"$job",host="nas"}`, "literal host"},
		{`docker_host_up{job="docker",host=~"$host"}`, "literal job"},
		{`docker_host_up{host=~"$host"}`, "want job"},
		{`sum(docker_host_up)`, "without a selector"},
		{`docker_made_up{job=~"$job"}`, "not in docs"},
		{`rate(docker_events_total{job=~"$job",host=~"$host"}[5m])`, "window [5m]"},
		{`max_over_time(docker_host_up{job=~"$job",host=~"$host"}[$__range:])`, "window [$__range:]"},
		{`max_over_time(docker_host_up{job=~"$job",host=~"$host"}[$__range:$__interval])`, ""},
		{`docker_container_pids{job=~"$job",host=~"$host"}`, "want name"},
		{`revp_route_up{job=~"$job",host=~"$host",container=~"$container"}`, ""},
		{`docker_monitor_api_request_duration_seconds_bucket{job=~"$job",host=~"$host"}`, ""},
		{`docker_container_cpu_periods_total{job=~"$job",host=~"$host",name=~"$container"}`, ""},
	} {
		errs := strings.Join(checkExpr(tc.expr, docs, true), "; ")
		if (tc.want == "") != (errs == "") || !strings.Contains(errs, tc.want) {
			t.Errorf("checkExpr(%s) = %q, want %q", tc.expr, errs, tc.want)
		}
	}
}
