package alerts

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"

	"github.com/snadboy/docker-monitor/internal/metricsdoc"
)

// The alerts the issue asks for; more may be added, none may go.
var requiredAlerts = []string{
	"DockerMonitorDown", "DockerHostDown", "DockerHostEventsStreamDown",
	"DockerMonitorCollectorFailing", "DockerMonitorConfigReloadFailed",
	"ContainerUnhealthy", "ContainerRestartLoop", "ContainerOOMKilled",
	"ContainerExitedWithError", "ContainerHighMemory", "ContainerCPUThrottled",
	"RevPRouteDown", "RevPDomainConflict", "RevPLabelErrors", "RevPProbeFailing",
}

// The labels each alert's summary and description must name, so that a
// notification says where to look without opening Prometheus.
// RevPDomainConflict has no host or container label: it names them from
// a query in its annotations.
var mustName = map[string][]string{
	"DockerMonitorDown":               {"instance"},
	"DockerHostDown":                  {"host"},
	"DockerHostEventsStreamDown":      {"host"},
	"DockerMonitorCollectorFailing":   {"instance", "collector"},
	"DockerMonitorConfigReloadFailed": {"instance"},
	"RevPRouteDown":                   {"host", "container", "domain"},
	"RevPDomainConflict":              {"domain", "host", "container"},
	"RevPLabelErrors":                 {"host", "container", "reason"},
	"RevPProbeFailing":                {"host", "container", "port"},
	// Container* alerts: host and name, below.
}

// docs are the documents every rule is checked against.
type docs struct {
	runbooks, alerts string
	metrics          map[string]metricsdoc.Metric
}

// The rules' structure: groups, labels, annotations, runbooks, for:, and
// only documented metrics and labels.
func TestRulesStructure(t *testing.T) {
	groups, rules := loadRules(t, Rules)
	if want := []string{"docker-monitor-exporter", "docker-monitor-containers", "docker-monitor-revp"}; !slices.Equal(groups, want) {
		t.Errorf("groups %v, want %v", groups, want)
	}
	metrics, err := metricsdoc.Load(metricsDocPath)
	if err != nil {
		t.Fatal(err)
	}
	d := docs{readFile(t, runbooksPath), readFile(t, alertsDocPath), metrics}
	seen := map[string]bool{}
	for _, r := range rules {
		if r.Alert == "" {
			t.Errorf("recording rule %q: this file holds alerts only", r.Record)
			continue
		}
		if seen[r.Alert] {
			t.Errorf("%s: defined twice", r.Alert)
		}
		seen[r.Alert] = true
		checkAnnotations(t, r)
		checkDocumented(t, r, d)
		checkExpr(t, r, d.metrics)
	}
	for _, name := range requiredAlerts {
		if !seen[name] {
			t.Errorf("required alert %s is missing", name)
		}
	}
}

// checkAnnotations: severity, summary, description naming the alert's
// labels, and runbook_url.
func checkAnnotations(t *testing.T, r rule) {
	t.Helper()
	name := r.Alert
	if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
		t.Errorf("%s: severity %q, want critical, warning or info", name, s)
	}
	for _, a := range []string{"summary", "description", "runbook_url"} {
		if strings.TrimSpace(r.Annotations[a]) == "" {
			t.Errorf("%s: no %s annotation", name, a)
		}
	}
	if got, want := r.Annotations["runbook_url"], runbookURL+strings.ToLower(name); got != want {
		t.Errorf("%s: runbook_url %q, want %q", name, got, want)
	}
	labels := mustName[name]
	if strings.HasPrefix(name, "Container") {
		labels = []string{"host", "name"}
	}
	if labels == nil {
		t.Errorf("%s: the test does not know which labels its annotations must name", name)
	}
	for _, l := range labels {
		// The alert's own label, or that of a series a query returns.
		ref := regexp.MustCompile(`\{\{ \$(labels\.|\w+\.Labels\.)` + l + ` \}\}`)
		for _, a := range []string{"summary", "description"} {
			if !ref.MatchString(r.Annotations[a]) {
				t.Errorf("%s: %s does not name {{ $labels.%s }}", name, a, l)
			}
		}
	}
}

// checkDocumented: a runbook section and a row in the table of alerts.md.
func checkDocumented(t *testing.T, r rule, d docs) {
	t.Helper()
	// GitHub's anchor of "## Name" is the lower-cased name.
	if !regexp.MustCompile(`(?m)^## ` + r.Alert + `$`).MatchString(d.runbooks) {
		t.Errorf("%s: no \"## %s\" heading in docs/runbooks.md", r.Alert, r.Alert)
	}
	if !strings.Contains(d.alerts, "| `"+r.Alert+"` |") {
		t.Errorf("%s: not in the table of docs/alerts.md", r.Alert)
	}
}

// checkExpr: a for: above 0, no job matcher, and only documented metrics
// and labels, in the expression and in the queries of the annotations.
func checkExpr(t *testing.T, r rule, metrics map[string]metricsdoc.Metric) {
	t.Helper()
	name := r.Alert
	// Every alert waits: an expression that is true for one evaluation
	// (a missed scrape, a restart) must not page anyone.
	if d, err := model.ParseDuration(r.For); err != nil || d <= 0 {
		t.Errorf("%s: for: %q, want a duration above 0", name, r.For)
	}
	if regexp.MustCompile(`\bjob\s*(=|!=|=~|!~)`).MatchString(r.Expr) {
		t.Errorf("%s: matches on job; the rules must work for any job name", name)
	}
	if len(exprMetricNames(r.Expr)) == 0 {
		t.Errorf("%s: no metric found in %q", name, r.Expr)
	}
	for _, e := range append([]string{r.Expr}, annotationQueries(r)...) {
		for _, p := range exprProblems(e, metrics) {
			t.Errorf("%s: %s", name, p)
		}
	}
}

// `up` is not in docs/metrics.md; Prometheus makes it for every target.
var upMetric = metricsdoc.Metric{Name: "up", Type: "gauge", Labels: map[string]bool{"job": true, "instance": true}}

// exprProblems returns the metrics of expr that docs/metrics.md does not
// list, and the label names it uses that none of its metrics has.
func exprProblems(expr string, metrics map[string]metricsdoc.Metric) []string {
	var problems []string
	all := map[string]bool{}
	for _, m := range exprMetricNames(expr) {
		doc, ok := metrics[m]
		if m == "up" {
			doc, ok = upMetric, true
		}
		if !ok {
			problems = append(problems, "metric "+m+" is not in the tables of docs/metrics.md")
			continue
		}
		for l := range doc.Labels {
			all[l] = true
		}
	}
	matchers, lists, made := exprLabels(expr)
	for m, labels := range matchers {
		doc, ok := metrics[m]
		if m == "up" {
			doc, ok = upMetric, true
		}
		for _, l := range labels {
			if ok && !doc.Labels[l] {
				problems = append(problems, "label "+l+" of "+m+" is not in docs/metrics.md")
			}
		}
	}
	for _, l := range made {
		all[l] = true
	}
	for _, l := range lists {
		if !all[l] {
			problems = append(problems, "label "+l+" (on/by) is not a label of any metric of the expression")
		}
	}
	return problems
}

var (
	backquotedRE = regexp.MustCompile("`([^`]*)`")
	printfArgRE  = regexp.MustCompile(`%(\[\d+\])?q`)
)

// annotationQueries returns the PromQL queries of the annotations' query
// templates (the back-quoted printf formats), with their %q arguments
// replaced by "".
func annotationQueries(r rule) []string {
	var out []string
	for _, a := range []string{"summary", "description"} {
		for _, m := range backquotedRE.FindAllStringSubmatch(r.Annotations[a], -1) {
			out = append(out, printfArgRE.ReplaceAllString(m[1], `""`))
		}
	}
	return out
}

func TestExprProblems(t *testing.T) {
	metrics, err := metricsdoc.Load(metricsDocPath)
	if err != nil {
		t.Fatal(err)
	}
	for expr, want := range map[string]int{
		`revp_route_up{container="a"} and on (job, instance, host, container) label_replace(docker_container_state == 1, "container", "$1", "name", "(.*)")`: 0,
		`up{job="x"} == 0`:                                    0,
		`revp_route_up{name="a"} == 0`:                        1, // no such label
		`docker_host_up and on (job, instance, hots) up == 0`: 1, // no metric has it
		`docker_host_upp == 0`:                                1,
	} {
		if p := exprProblems(expr, metrics); len(p) != want {
			t.Errorf("exprProblems(%q) = %q, want %d problems", expr, p, want)
		}
	}
}
