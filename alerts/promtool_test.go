package alerts

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The embedded copy is the file.
func TestEmbeddedRules(t *testing.T) {
	if !bytes.Equal([]byte(readFile(t, RulesFile)), Rules) {
		t.Fatal("Rules differs from " + RulesFile)
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := requireTool(t, "promtool", "prometheus")
	wantAllRulesFound(t, "promtool check rules", run(t, promtool, "check", "rules", RulesFile))
}

// The promtool unit tests: every alert fires where it should, with its
// labels and annotations, and not on healthy series, below its threshold,
// before its for: has passed, or (where it applies) for an old event.
func TestPromtoolTestRules(t *testing.T) {
	promtool := requireTool(t, "promtool", "prometheus")
	files := testFiles(t)
	run(t, promtool, append([]string{"test", "rules"}, files...)...)
	var groups, cases int
	for _, tf := range readTests(t, files) {
		groups += len(tf.Tests)
		for _, g := range tf.Tests {
			cases += len(g.AlertRuleTest)
		}
	}
	t.Logf("promtool test rules: %d files, %d tests, %d alert_rule_test cases: all passed", len(files), groups, cases)
}

// Every alert has a promtool test case in which it fires, every expected
// alert has its labels and annotations checked, and every alert has a case
// in which it is silent.
func TestEveryAlertTested(t *testing.T) {
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tf := range readTests(t, testFiles(t)) {
		for _, g := range tf.Tests {
			for _, c := range g.AlertRuleTest {
				if len(c.ExpAlerts) == 0 {
					silent[c.Alertname] = true
					continue
				}
				fires[c.Alertname] = true
				for _, a := range c.ExpAlerts {
					for _, k := range []string{"exp_labels", "exp_annotations"} {
						if _, ok := a[k]; !ok {
							t.Errorf("%s, %s at %s: an expected alert without %s", g.Name, c.Alertname, c.EvalTime, k)
						}
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
	wantAllRulesFound(t, "promtool check config with the repository's rules", run(t, promtool, "check", "config", path))
}

// The shortened rules still load (a rule file promtool accepts).
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

// wantAllRulesFound fails unless promtool's output counts every rule of the
// shipped file: a file that loads with fewer would still say SUCCESS.
func wantAllRulesFound(t *testing.T, what, out string) {
	t.Helper()
	_, rules := loadRules(t, Rules)
	if want := fmt.Sprintf("SUCCESS: %d rules found", len(rules)); !strings.Contains(out, want) {
		t.Errorf("%s: want %q in\n%s", what, want, out)
	}
}
