package integration

import (
	"encoding/json"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/dashboards"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// alertWant is an alert by name with labels including labels. The key
// "name" also matches label "container": container alerts carry "name"
// (docker_container_*), RevP alerts may carry "container" (revp_*).
type alertWant struct {
	name   string
	labels map[string]string
}

func alertMatches(have map[string]string, want alertWant) bool {
	if have["alertname"] != want.name {
		return false
	}
	for k, v := range want.labels {
		if have[k] != v && (k != "name" || have["container"] != v) {
			return false
		}
	}
	return true
}

type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

func promAlerts(t *testing.T, prom *testlab.Prometheus) []promAlert {
	t.Helper()
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	if err := prom.API("alerts", nil, &data); err != nil {
		t.Fatalf("Prometheus alerts: %v", err)
	}
	return data.Alerts
}

// missingFiring returns the wanted alerts Prometheus does not report firing.
func missingFiring(alerts []promAlert, wants []alertWant) []alertWant {
	var missing []alertWant
	for _, w := range wants {
		found := false
		for _, a := range alerts {
			if a.State == "firing" && alertMatches(a.Labels, w) {
				found = true
			}
		}
		if !found {
			missing = append(missing, w)
		}
	}
	return missing
}

// waitFiring polls Prometheus' /api/v1/alerts until every wanted alert fires.
func waitFiring(t *testing.T, prom *testlab.Prometheus, limit time.Duration, wants []alertWant) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		alerts := promAlerts(t, prom)
		missing := missingFiring(alerts, wants)
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, not firing in Prometheus: %s\nalerts:\n%s", limit, formatWants(missing), formatAlerts(alerts))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// notFiring fails the test for each unwanted alert Prometheus reports firing
// or pending.
func notFiring(t *testing.T, prom *testlab.Prometheus, unwanted []alertWant) {
	t.Helper()
	for _, a := range promAlerts(t, prom) {
		for _, w := range unwanted {
			if alertMatches(a.Labels, w) {
				t.Errorf("unexpected alert %s: %s", a.State, formatLabels(a.Labels))
			}
		}
	}
}

func formatWants(ws []alertWant) string {
	var s []string
	for _, w := range ws {
		s = append(s, w.name+formatLabels(w.labels))
	}
	return strings.Join(s, ", ")
}

func formatAlerts(alerts []promAlert) string {
	var s []string
	for _, a := range alerts {
		s = append(s, "  "+a.State+" "+formatLabels(a.Labels))
	}
	sort.Strings(s)
	return strings.Join(s, "\n")
}

func formatLabels(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+l[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// Dashboards: every PromQL expression of every panel must return data
// from the real Prometheus, in two passes.
//
//   - All: every variable at All. Each expression must return data.
//   - One value: the variables an expression uses (and the ones their
//     queries use: $container is narrowed by $host, which is narrowed by
//     $job) are set to one real value each, resolved in chain order through
//     /api/v1/label/<label>/values?match[]=<the variable's selector with the
//     earlier choices substituted>, as Grafana does. Not every value has
//     every panel's data (the OOM panel is empty for a container that never
//     ran out of memory), so the expression must return data for at least
//     one combination: values that appear in the expression's own result at
//     All are tried first, then the rest, at most oneValueBudget in all.
//
// "Returns data" is an instant query at now with a non-empty result (a
// scalar that is not NaN), or else a range query over the last minutes,
// which is what the graph panels run. Its step is 1s, half the scrape
// interval: on a loaded machine some scrapes miss a container's stats, its
// series go stale until the next scrape that has them, and a coarser step
// could fall between all the samples of a sparse series. Expressions empty
// while every host is up (connection errors) get a second chance while one
// is down (retryEmpty); what is still empty is reported at the end, all at
// once.

const (
	oneValueBudget = 40
	rangeWindow    = 5 * time.Minute
)

type boardCheck struct {
	t       *testing.T
	prom    *testlab.Prometheus
	boards  []*dashboards.Board
	queries int

	has    map[string]bool     // expr -> data, this phase
	values map[string][]string // label+selector -> values, this phase
	empty  []emptyExpr
	failed map[string]bool // variables whose query is not label_values, reported once
}

type emptyExpr struct {
	board *dashboards.Board
	q     dashboards.Query
	all   bool   // the All pass, else the one-value pass
	expr  string // the last interpolation tried
}

func loadBoards(t *testing.T, dir string) []*dashboards.Board {
	t.Helper()
	files, err := dashboards.Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no dashboards in %s", dir)
	}
	var boards []*dashboards.Board
	for _, f := range files {
		b, err := dashboards.LoadBoard(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		boards = append(boards, b)
	}
	return boards
}

func newBoardCheck(t *testing.T, prom *testlab.Prometheus, boards []*dashboards.Board) *boardCheck {
	return &boardCheck{t: t, prom: prom, boards: boards, failed: map[string]bool{}}
}

// run checks every expression in both passes and remembers the empty ones.
func (c *boardCheck) run() {
	c.has, c.values = map[string]bool{}, map[string][]string{}
	for _, b := range c.boards {
		for _, q := range b.Queries {
			if strings.TrimSpace(q.Expr) == "" {
				continue
			}
			if expr, ok := c.checkAll(b, q); !ok {
				c.empty = append(c.empty, emptyExpr{b, q, true, expr})
			}
			if expr, ok := c.checkOne(b, q); !ok {
				c.empty = append(c.empty, emptyExpr{b, q, false, expr})
			}
		}
	}
}

// retryEmpty checks the expressions found empty again until they all have
// data or limit passes. It polls: a counter that appeared with the change
// (connection errors, once a host is down) needs two scrapes before rate()
// has data, and the test gets here as soon as the alert fires.
func (c *boardCheck) retryEmpty(when string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for len(c.empty) > 0 && time.Now().Before(deadline) {
		c.has, c.values = map[string]bool{}, map[string][]string{}
		var still []emptyExpr
		for _, e := range c.empty {
			check := c.checkOne
			if e.all {
				check = c.checkAll
			}
			if _, ok := check(e.board, e.q); ok {
				c.t.Logf("dashboard %s, panel %q (%s): data only %s", e.board.UID, e.q.Panel, e.q.RefID, when)
				continue
			}
			still = append(still, e)
		}
		c.empty = still
		if len(c.empty) > 0 {
			time.Sleep(time.Second)
		}
	}
}

// report fails the test once, listing every expression still empty.
func (c *boardCheck) report() {
	if len(c.empty) == 0 {
		return
	}
	var lines []string
	for _, e := range c.empty {
		pass := "one-value pass"
		if e.all {
			pass = "All pass"
		}
		lines = append(lines, "  dashboard "+e.board.UID+" ("+e.board.Title+"), panel "+quote(e.q.Panel)+" ref "+e.q.RefID+
			", "+pass+":\n      "+e.expr)
	}
	c.t.Errorf("%d dashboard expressions return no data:\n%s", len(lines), strings.Join(lines, "\n"))
}

func quote(s string) string { return `"` + s + `"` }

func (c *boardCheck) checkAll(b *dashboards.Board, q dashboards.Query) (string, bool) {
	expr := b.Interpolate(q.Expr, nil)
	return expr, c.hasData(expr)
}

// checkOne tries combinations of one real value per variable the expression
// depends on, depth first in chain order.
func (c *boardCheck) checkOne(b *dashboards.Board, q dashboards.Query) (string, bool) {
	vars := usedVariables(b, q.Expr)
	budget := oneValueBudget
	var last string
	var try func(i int, sel map[string][]string) bool
	try = func(i int, sel map[string][]string) bool {
		if i == len(vars) {
			budget--
			last = b.Interpolate(q.Expr, sel)
			return c.hasData(last)
		}
		for _, v := range c.candidates(b, q.Expr, vars[i], sel) {
			if budget <= 0 {
				return false
			}
			next := map[string][]string{vars[i].Name: {v}}
			for k, vs := range sel {
				next[k] = vs
			}
			if try(i+1, next) {
				return true
			}
		}
		return false
	}
	ok := try(0, map[string][]string{})
	if last == "" {
		last = "(no value for " + varNames(vars) + ")"
	}
	return last, ok
}

func varNames(vars []dashboards.Variable) string {
	var names []string
	for _, v := range vars {
		names = append(names, "$"+v.Name)
	}
	return strings.Join(names, ", ")
}

// usedVariables are the variables expr refers to, with those their own
// queries refer to, in the board's (chain) order. Only query and custom
// variables have values to choose; the others (datasource, interval) are
// left to Interpolate.
func usedVariables(b *dashboards.Board, expr string) []dashboards.Variable {
	need := map[string]bool{}
	var mark func(text string)
	mark = func(text string) {
		for _, v := range b.Variables {
			if !need[v.Name] && (v.Type == "query" || v.Type == "custom") && refersTo(text, v.Name) {
				need[v.Name] = true
				mark(v.Query)
			}
		}
	}
	mark(expr)
	var vars []dashboards.Variable
	for _, v := range b.Variables {
		if need[v.Name] {
			vars = append(vars, v)
		}
	}
	return vars
}

// refersTo reports whether text uses $name, ${name}, ${name:format} or [[name]].
func refersTo(text, name string) bool {
	re := regexp.MustCompile(`\$` + regexp.QuoteMeta(name) + `\b|\$\{` + regexp.QuoteMeta(name) + `[}:]|\[\[` + regexp.QuoteMeta(name) + `\]\]`)
	return re.MatchString(text)
}

// candidates are v's values given the earlier choices in sel, those that
// label expr's own result first.
func (c *boardCheck) candidates(b *dashboards.Board, expr string, v dashboards.Variable, sel map[string][]string) []string {
	values, label := c.variableValues(b, v, sel)
	inResult := map[string]bool{}
	if data, err := c.query("query", b.Interpolate(expr, sel)); err == nil && data.ResultType == "vector" {
		var series []struct {
			Metric map[string]string `json:"metric"`
		}
		if json.Unmarshal(data.Result, &series) == nil {
			for _, s := range series {
				inResult[s.Metric[label]] = true
			}
		}
	}
	sort.SliceStable(values, func(i, j int) bool { return inResult[values[i]] && !inResult[values[j]] })
	return values
}

// variableValues resolves v as Grafana would, with sel's choices
// substituted in its query, and returns the label it takes its values from.
func (c *boardCheck) variableValues(b *dashboards.Board, v dashboards.Variable, sel map[string][]string) ([]string, string) {
	if v.Type == "custom" {
		var values []string
		for _, o := range strings.Split(v.Query, ",") {
			if _, val, ok := strings.Cut(o, " : "); ok {
				o = val
			}
			values = append(values, strings.TrimSpace(o))
		}
		return values, v.Name
	}
	q := b.Interpolate(v.Query, sel)
	selector, label, ok := dashboards.ParseLabelValues(q)
	if !ok {
		if !c.failed[b.UID+"/"+v.Name] {
			c.failed[b.UID+"/"+v.Name] = true
			c.t.Errorf("dashboard %s: variable $%s: %q is not label_values(...)", b.UID, v.Name, v.Query)
		}
		return nil, label
	}
	key := label + "\x00" + selector
	if vals, ok := c.values[key]; ok {
		return append([]string(nil), vals...), label
	}
	now := time.Now()
	params := url.Values{"start": {unix(now.Add(-rangeWindow))}, "end": {unix(now)}}
	if selector != "" {
		params.Set("match[]", selector)
	}
	var vals []string
	if err := c.prom.API("label/"+url.PathEscape(label)+"/values", params, &vals); err != nil {
		c.t.Errorf("dashboard %s: variable $%s (%s): %v", b.UID, v.Name, q, err)
	}
	c.values[key] = vals
	return append([]string(nil), vals...), label
}

type queryData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

// query runs expr as an instant query ("query") at now or a range query
// ("query_range") over the last rangeWindow.
func (c *boardCheck) query(kind, expr string) (queryData, error) {
	c.queries++
	now := time.Now()
	params := url.Values{"query": {expr}, "time": {unix(now)}}
	if kind == "query_range" {
		params = url.Values{"query": {expr}, "start": {unix(now.Add(-rangeWindow))}, "end": {unix(now)}, "step": {"1"}} // see boardCheck
	}
	var data queryData
	err := c.prom.API(kind, params, &data)
	return data, err
}

// hasData: an instant result at now, or else any point in the last minutes.
func (c *boardCheck) hasData(expr string) bool {
	if v, ok := c.has[expr]; ok {
		return v
	}
	ok := false
	for _, kind := range []string{"query", "query_range"} {
		data, err := c.query(kind, expr)
		if err != nil {
			c.t.Errorf("dashboard query %s: %v", expr, err)
			break
		}
		if ok = nonEmpty(data); ok {
			break
		}
	}
	c.has[expr] = ok
	return ok
}

func nonEmpty(d queryData) bool {
	switch d.ResultType {
	case "vector", "matrix":
		var series []json.RawMessage
		return json.Unmarshal(d.Result, &series) == nil && len(series) > 0
	case "scalar":
		var point []any
		return json.Unmarshal(d.Result, &point) == nil && len(point) == 2 && point[1] != "NaN"
	default: // "string"
		return true
	}
}

func unix(t time.Time) string { return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64) }
