package alerts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

const (
	runbooksPath   = "../docs/runbooks.md"
	alertsDocPath  = "../docs/alerts.md"
	metricsDocPath = "../docs/metrics.md"
	promConfigPath = "../examples/prometheus.yml"
	amConfigPath   = "../examples/alertmanager.yml"
	runbookURL     = "https://github.com/snadboy/docker-monitor/blob/main/docs/runbooks.md#"
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
var mustName = map[string][]string{
	"DockerMonitorDown":               {"instance"},
	"DockerHostDown":                  {"host"},
	"DockerHostEventsStreamDown":      {"host"},
	"DockerMonitorCollectorFailing":   {"instance", "collector"},
	"DockerMonitorConfigReloadFailed": {"instance"},
	"RevPRouteDown":                   {"host", "container", "domain"},
	"RevPDomainConflict":              {"domain"},
	"RevPLabelErrors":                 {"host", "container", "reason"},
	"RevPProbeFailing":                {"host", "container", "port"},
	// Container* alerts: host and name, below.
}

// hostHealth are the alerts examples/alertmanager.yml routes to docker-hosts.
var hostHealth = []string{
	"DockerMonitorDown", "DockerHostDown", "DockerHostEventsStreamDown",
	"DockerMonitorCollectorFailing", "DockerMonitorConfigReloadFailed",
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert         string            `yaml:"alert"`
	Record        string            `yaml:"record"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for"`
	KeepFiringFor string            `yaml:"keep_firing_for"`
	Labels        map[string]string `yaml:"labels"`
	Annotations   map[string]string `yaml:"annotations"`
}

func loadRules(t *testing.T, data []byte) (groups []string, rules []rule) {
	t.Helper()
	var f ruleFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	for _, g := range f.Groups {
		groups = append(groups, g.Name)
		rules = append(rules, g.Rules...)
	}
	return groups, rules
}

// requireTool returns the path of a program the test needs. Without it the
// test is skipped with a message, except in CI (CI=true), where a missing
// tool is a broken setup and must not pass as a skip.
func requireTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not installed (Debian package %s): apt-get install %s", name, debianPackage, debianPackage)
	}
	t.Skipf("%s not installed (Debian package %s): skipping", name, debianPackage)
	return ""
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// The embedded copy is the file.
func TestEmbeddedRules(t *testing.T) {
	data, err := os.ReadFile(RulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, Rules) {
		t.Fatal("Rules differs from " + RulesFile)
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := requireTool(t, "promtool", "prometheus")
	_, rules := loadRules(t, Rules)
	out := run(t, promtool, "check", "rules", RulesFile)
	if want := fmt.Sprintf("SUCCESS: %d rules found", len(rules)); !strings.Contains(out, want) {
		t.Errorf("promtool check rules: want %q in\n%s", want, out)
	}
}

// The promtool unit tests: every alert fires where it should, with its
// labels and annotations, and not on healthy series, below its threshold,
// before its for: has passed, or (where it applies) for an old event.
func TestPromtoolTestRules(t *testing.T) {
	promtool := requireTool(t, "promtool", "prometheus")
	files, err := filepath.Glob("tests/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no promtool tests in tests/: %v", err)
	}
	run(t, promtool, append([]string{"test", "rules"}, files...)...)
	groups, cases := countTests(t, files)
	t.Logf("promtool test rules: %d files, %d tests, %d alert_rule_test cases: all passed", len(files), groups, cases)
}

type testFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			EvalTime  string           `yaml:"eval_time"`
			Alertname string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func readTests(t *testing.T, files []string) []testFile {
	t.Helper()
	var all []testFile
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tf testFile
		if err := yaml.Unmarshal(data, &tf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !slices.Equal(tf.RuleFiles, []string{"../" + RulesFile}) {
			t.Errorf("%s: rule_files %v, want [../%s]", f, tf.RuleFiles, RulesFile)
		}
		all = append(all, tf)
	}
	return all
}

func countTests(t *testing.T, files []string) (groups, cases int) {
	for _, tf := range readTests(t, files) {
		groups += len(tf.Tests)
		for _, g := range tf.Tests {
			cases += len(g.AlertRuleTest)
		}
	}
	return groups, cases
}

// Every alert has a promtool test case in which it fires, every expected
// alert has its annotations checked, and every alert has a case in which it
// is silent.
func TestEveryAlertTested(t *testing.T) {
	files, err := filepath.Glob("tests/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tf := range readTests(t, files) {
		for _, g := range tf.Tests {
			for _, c := range g.AlertRuleTest {
				if len(c.ExpAlerts) == 0 {
					silent[c.Alertname] = true
					continue
				}
				fires[c.Alertname] = true
				for _, a := range c.ExpAlerts {
					if _, ok := a["exp_annotations"]; !ok {
						t.Errorf("%s, %s at %s: an expected alert without exp_annotations", g.Name, c.Alertname, c.EvalTime)
					}
					if _, ok := a["exp_labels"]; !ok {
						t.Errorf("%s, %s at %s: an expected alert without exp_labels", g.Name, c.Alertname, c.EvalTime)
					}
				}
			}
		}
	}
	_, rules := loadRules(t, Rules)
	for _, r := range rules {
		if r.Alert == "" {
			continue
		}
		if !fires[r.Alert] {
			t.Errorf("%s: no promtool test case in which it fires", r.Alert)
		}
		if !silent[r.Alert] {
			t.Errorf("%s: no promtool test case in which it is silent", r.Alert)
		}
	}
}

// The rules' structure: groups, labels, annotations, runbooks, for:, and
// only documented metrics.
func TestRulesStructure(t *testing.T) {
	groups, rules := loadRules(t, Rules)
	if want := []string{"docker-monitor-exporter", "docker-monitor-containers", "docker-monitor-revp"}; !slices.Equal(groups, want) {
		t.Errorf("groups %v, want %v", groups, want)
	}
	runbooks := readFile(t, runbooksPath)
	alertsDoc := readFile(t, alertsDocPath)
	metrics := documentedMetrics(t)
	seen := map[string]bool{}
	for _, r := range rules {
		name := r.Alert
		if name == "" {
			t.Errorf("recording rule %q: this file holds alerts only", r.Record)
			continue
		}
		if seen[name] {
			t.Errorf("%s: defined twice", name)
		}
		seen[name] = true
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
		// GitHub's anchor of "## Name" is the lower-cased name.
		if !regexp.MustCompile(`(?m)^## ` + name + `$`).MatchString(runbooks) {
			t.Errorf("%s: no \"## %s\" heading in docs/runbooks.md", name, name)
		}
		if !strings.Contains(alertsDoc, "| `"+name+"` |") {
			t.Errorf("%s: not in the table of docs/alerts.md", name)
		}
		// Every alert waits: an expression that is true for one evaluation
		// (a missed scrape, a restart) must not page anyone.
		if d, err := model.ParseDuration(r.For); err != nil || d <= 0 {
			t.Errorf("%s: for: %q, want a duration above 0", name, r.For)
		}
		labels := mustName[name]
		if strings.HasPrefix(name, "Container") {
			labels = []string{"host", "name"}
		}
		if labels == nil {
			t.Errorf("%s: the test does not know which labels its annotations must name", name)
		}
		for _, l := range labels {
			ref := "{{ $labels." + l + " }}"
			for _, a := range []string{"summary", "description"} {
				if !strings.Contains(r.Annotations[a], ref) {
					t.Errorf("%s: %s does not name %s", name, a, ref)
				}
			}
		}
		if regexp.MustCompile(`\bjob\s*(=|!=|=~|!~)`).MatchString(r.Expr) {
			t.Errorf("%s: matches on job; the rules must work for any job name", name)
		}
		names := exprMetricNames(r.Expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric found in %q", name, r.Expr)
		}
		for _, m := range names {
			if m != "up" && !metrics[m] {
				t.Errorf("%s: metric %s is not in the tables of docs/metrics.md", name, m)
			}
		}
	}
	for _, name := range requiredAlerts {
		if !seen[name] {
			t.Errorf("required alert %s is missing", name)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// documentedMetrics returns the metric names in the first column of the
// tables of docs/metrics.md.
func documentedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	m := map[string]bool{}
	for _, sub := range regexp.MustCompile("(?m)^\\| `([a-zA-Z_:][a-zA-Z0-9_:]*)` \\|").FindAllStringSubmatch(readFile(t, metricsDocPath), -1) {
		m[sub[1]] = true
	}
	if len(m) < 40 {
		t.Fatalf("only %d metrics found in docs/metrics.md; the pattern no longer matches its tables", len(m))
	}
	return m
}

var (
	matchersRE  = regexp.MustCompile(`\{[^}]*\}`)
	rangesRE    = regexp.MustCompile(`\[[^\]]*\]`)
	labelListRE = regexp.MustCompile(`\b(on|ignoring|by|without|group_left|group_right)\s*\([^)]*\)`)
	tokenRE     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*|[0-9][0-9a-zA-Z_.]*`)
	keywords    = map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"on": true, "ignoring": true, "by": true, "without": true,
		"group_left": true, "group_right": true, "atan2": true, "inf": true, "nan": true,
	}
)

// exprMetricNames returns the metric names a PromQL expression selects. It
// is a lexer, not a parser (the Prometheus parser is not a dependency of
// this module): it drops strings, comments, label matchers, ranges and the
// label lists of on/by/..., then takes every identifier that is neither a
// keyword nor followed by "(" (a function or aggregation).
func exprMetricNames(expr string) []string {
	var b strings.Builder
	for i := 0; i < len(expr); i++ {
		switch c := expr[i]; c {
		case '"', '\'', '`':
			for i++; i < len(expr) && expr[i] != c; i++ {
				if expr[i] == '\\' && c != '`' {
					i++
				}
			}
			b.WriteString(`""`)
		case '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
			b.WriteByte('\n')
		default:
			b.WriteByte(c)
		}
	}
	s := matchersRE.ReplaceAllString(b.String(), " ")
	s = rangesRE.ReplaceAllString(s, " ")
	s = labelListRE.ReplaceAllString(s, " ")
	var names []string
	for _, loc := range tokenRE.FindAllStringIndex(s, -1) {
		tok := s[loc[0]:loc[1]]
		if tok[0] >= '0' && tok[0] <= '9' || keywords[tok] {
			continue
		}
		if rest := strings.TrimLeft(s[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue
		}
		if !slices.Contains(names, tok) {
			names = append(names, tok)
		}
	}
	return names
}

func TestExprMetricNames(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`up == 0`, []string{"up"}},
		{"sum by (job, instance) (rate(foo_total{a=\"b\", c=~\"x|y\"}[5m] offset 1h)) > 1e3 # bar's baz\n" +
			`and on (job) group_left (team) label_replace(bar{name="q(r)"}, "container", "$1", "name", "(.*)")`,
			[]string{"foo_total", "bar"}},
		{`time() - last_over_time(a:b_c[15m]) < 3600 unless ignoring(x) min (d) by (y) == bool 1`, []string{"a:b_c", "d"}},
	} {
		if got := exprMetricNames(c.expr); !slices.Equal(got, c.want) {
			t.Errorf("exprMetricNames(%q) = %v, want %v", c.expr, got, c.want)
		}
	}
}

// examples/prometheus.yml as it is (its rule_files glob matches nothing
// here, which promtool accepts), and with rule_files pointed at this
// directory, so that the check loads the rules through it.
func TestPromtoolCheckConfig(t *testing.T) {
	promtool := requireTool(t, "promtool", "prometheus")
	run(t, promtool, "check", "config", promConfigPath)

	const glob = "/etc/prometheus/rules/*.yml"
	cfg := readFile(t, promConfigPath)
	if !strings.Contains(cfg, "  - "+glob+"\n") {
		t.Fatalf("%s: no rule_files entry %s", promConfigPath, glob)
	}
	here, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	// The glob the compose mount makes of /etc/prometheus/rules: it must
	// match the rules file and nothing else (not the unit tests).
	local := filepath.Join(here, "*.yml")
	if m, _ := filepath.Glob(local); !slices.Equal(m, []string{filepath.Join(here, RulesFile)}) {
		t.Errorf("%s matches %v, want only %s", local, m, RulesFile)
	}
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(path, []byte(strings.Replace(cfg, glob, local, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, rules := loadRules(t, Rules)
	out := run(t, promtool, "check", "config", path)
	if want := fmt.Sprintf("SUCCESS: %d rules found", len(rules)); !strings.Contains(out, want) {
		t.Errorf("promtool check config with the repository's rules: want %q in\n%s", want, out)
	}
}

func TestAmtoolCheckConfig(t *testing.T) {
	amtool := requireTool(t, "amtool", "prometheus-alertmanager")
	run(t, amtool, "check-config", amConfigPath)
}

// Where examples/alertmanager.yml sends each alert, with the labels the
// rules give it.
func TestAlertmanagerRoutes(t *testing.T) {
	amtool := requireTool(t, "amtool", "prometheus-alertmanager")
	_, rules := loadRules(t, Rules)
	for _, r := range rules {
		want := "docker-containers"
		switch {
		case slices.Contains(hostHealth, r.Alert):
			want = "docker-hosts"
		case r.Labels["severity"] == "info":
			want = "docker-info"
		}
		run(t, amtool, "config", "routes", "test", "--config.file="+amConfigPath, "--verify.receivers="+want,
			"alertname="+r.Alert, "severity="+r.Labels["severity"], "job=docker-monitor", "instance=dm:9742", "host=h1")
	}
}

// The inhibit rules of examples/alertmanager.yml, in a real Alertmanager:
// an alert is muted only by the right alert of the same exporter and host.
func TestAlertmanagerInhibitions(t *testing.T) {
	bin := requireTool(t, "prometheus-alertmanager", "prometheus-alertmanager")
	if testing.Short() {
		t.Skip("-short: not starting an Alertmanager")
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "--config.file="+amConfigPath, "--storage.path="+dir,
		"--web.listen-address="+addr, "--cluster.listen-address=")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager log:\n%s", log.String())
		}
	})
	base := "http://" + addr + "/api/v2/alerts"

	type alert struct {
		Labels map[string]string `json:"labels"`
	}
	mk := func(name string, kv ...string) alert {
		a := alert{Labels: map[string]string{"alertname": name, "job": "docker-monitor", "instance": "dm:9742", "severity": "warning"}}
		for i := 0; i+1 < len(kv); i += 2 {
			a.Labels[kv[i]] = kv[i+1]
		}
		return a
	}
	alerts := []alert{
		mk("DockerHostDown", "host", "h1"),
		mk("ContainerUnhealthy", "host", "h1", "name", "web"),                                 // inhibited: its host is down
		mk("ContainerUnhealthy", "host", "h2", "name", "web"),                                 // not: another host
		mk("ContainerUnhealthy", "host", "h1", "name", "web", "instance", "other:9742"),       // not: another exporter's "h1"
		mk("RevPRouteDown", "host", "h1", "container", "app", "port", "80", "domain", "a.io"), // inhibited: host down
		mk("RevPProbeFailing", "host", "h2", "container", "api", "port", "8080"),
		mk("RevPRouteDown", "host", "h2", "container", "api", "port", "8080", "domain", "b.io"), // inhibited: its probe fails
		mk("RevPRouteDown", "host", "h2", "container", "api", "port", "9090", "domain", "c.io"), // not: another port
		mk("DockerMonitorDown", "instance", "down:9742"),
		mk("DockerHostDown", "host", "h3", "instance", "down:9742"),                                   // inhibited: exporter down
		mk("ContainerOOMKilled", "host", "h3", "name", "big", "instance", "down:9742"),                // inhibited: both
		mk("RevPDomainConflict", "domain", "d.io"),                                                    // not: no host, other exporter up
		mk("DockerHostEventsStreamDown", "host", "h2"),                                                // not: exporter up
		mk("DockerMonitorCollectorFailing", "collector", "stats", "instance", "up:9742"),              // not
		mk("ContainerHighMemory", "host", "h1", "name", "web", "job", "other", "instance", "dm:9742"), // not: another job
	}
	wantInhibited := []bool{false, true, false, false, true, false, true, false, false, true, true, false, false, false, false}

	body, err := json.Marshal(alerts)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Post(base, "application/json", bytes.NewReader(body))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			err = fmt.Errorf("POST %s: %s", base, resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager did not accept the alerts: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	key := func(l map[string]string) string {
		return fmt.Sprint(model.LabelSet(toLabelSet(l)))
	}
	var last string
	for {
		resp, err := http.Get(base)
		if err != nil {
			t.Fatal(err)
		}
		var got []struct {
			Labels map[string]string `json:"labels"`
			Status struct {
				InhibitedBy []string `json:"inhibitedBy"`
			} `json:"status"`
		}
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		inhibited := map[string]bool{}
		for _, a := range got {
			inhibited[key(a.Labels)] = len(a.Status.InhibitedBy) > 0
		}
		var wrong []string
		for i, a := range alerts {
			if v, ok := inhibited[key(a.Labels)]; !ok || v != wantInhibited[i] {
				wrong = append(wrong, fmt.Sprintf("%v: present %v, inhibited %v, want inhibited %v", a.Labels, ok, v, wantInhibited[i]))
			}
		}
		if len(wrong) == 0 {
			return
		}
		last = strings.Join(wrong, "\n")
		if time.Now().After(deadline) {
			t.Fatalf("inhibitions:\n%s", last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func toLabelSet(l map[string]string) model.LabelSet {
	s := model.LabelSet{}
	for k, v := range l {
		s[model.LabelName(k)] = model.LabelValue(v)
	}
	return s
}

func TestShortenFor(t *testing.T) {
	out, err := ShortenFor(Rules, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, before := loadRules(t, Rules)
	_, after := loadRules(t, out)
	if len(after) != len(before) {
		t.Fatalf("%d rules after, %d before", len(after), len(before))
	}
	for i, r := range after {
		if r.For != "30s" {
			t.Errorf("%s: for: %q, want 30s", r.Alert, r.For)
		}
		// Everything else is unchanged.
		r.For = before[i].For
		if fmt.Sprint(r) != fmt.Sprint(before[i]) {
			t.Errorf("%s changed beyond for:\n%+v\n%+v", r.Alert, r, before[i])
		}
	}
	if !bytes.Contains(out, []byte("# Absent series.")) {
		t.Error("comments were lost")
	}

	// A rule without for: gets none; a quoted for: is replaced; a whole
	// hour prints as Prometheus writes it.
	in := []byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        for: \"5m\"\n      - alert: B\n        expr: up == 0\n")
	out, err = ShortenFor(in, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, rs := loadRules(t, out)
	if len(rs) != 2 || rs[0].For != "1h" || rs[1].For != "" {
		t.Errorf("got %+v", rs)
	}
	if _, err := ShortenFor(in, 0); err != nil {
		t.Errorf("0: %v", err)
	}

	for _, c := range []struct {
		in []byte
		d  time.Duration
	}{
		{in, -time.Second},
		{in, 1500 * time.Microsecond},
		{[]byte("groups: [\n"), time.Second},
		{[]byte("rules: []\n"), time.Second},
		{[]byte("groups: {}\n"), time.Second},
		{[]byte("groups:\n  - name: g\n    rules: {}\n"), time.Second},
	} {
		if _, err := ShortenFor(c.in, c.d); err == nil {
			t.Errorf("ShortenFor(%q, %v): no error", c.in, c.d)
		}
	}
}

// The shortened rules still load, and their unit tests would see the new
// for: (a rule file promtool accepts).
func TestShortenForPromtool(t *testing.T) {
	promtool := requireTool(t, "promtool", "prometheus")
	out, err := ShortenFor(Rules, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "short.rules.yml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, promtool, "check", "rules", path)
}
