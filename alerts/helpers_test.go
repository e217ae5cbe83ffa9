package alerts

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Paths of the files the tests check, from this directory.
const (
	runbooksPath   = "../docs/runbooks.md"
	alertsDocPath  = "../docs/alerts.md"
	metricsDocPath = "../docs/metrics.md"
	promConfigPath = "../examples/prometheus.yml"
	amConfigPath   = "../examples/alertmanager.yml"
	runbookURL     = "https://github.com/snadboy/docker-monitor/blob/main/docs/runbooks.md#"
)

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

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// testFile is a promtool unit test file, as far as the tests read it.
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

func testFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("tests/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no promtool tests in tests/: %v", err)
	}
	return files
}

func readTests(t *testing.T, files []string) []testFile {
	t.Helper()
	var all []testFile
	for _, f := range files {
		var tf testFile
		if err := yaml.Unmarshal([]byte(readFile(t, f)), &tf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !slices.Equal(tf.RuleFiles, []string{"../" + RulesFile}) {
			t.Errorf("%s: rule_files %v, want [../%s]", f, tf.RuleFiles, RulesFile)
		}
		all = append(all, tf)
	}
	return all
}
