package alerts

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The hold branch (see the header of the rules file) is repeated in every
// rule on container state and RevP series, and in the query of
// RevPDomainConflict's annotations. These tests keep the copies identical:
// the same 15m window and the same condition on the host.

const (
	holdWindow = "[15m]"
	holdUnless = "unless on (job, instance, host) docker_host_up * docker_host_synced == 1"
)

// holdRule is how a rule's hold branch differs from the rest: the function
// that reads the last known state, and the condition on the hosts.
type holdRule struct{ fn, unless string }

var (
	defaultHold = holdRule{"last_over_time", holdUnless}
	// revp_domain_claims has no host label: the conflict is held while any
	// host of the exporter is not up-and-synced, with the highest count.
	holdExceptions = map[string]holdRule{
		"RevPDomainConflict": {"max_over_time", "unless on (job, instance) min by (job, instance) (docker_host_up * docker_host_synced) == 1"},
	}
	durationRE = regexp.MustCompile(`\[([0-9]+[smhdwy])+\]`)
	heldDocRE  = regexp.MustCompile("(?m)^\\| `(\\w+)` \\|.*\\(held ¹\\)")
)

func TestHoldBranches(t *testing.T) {
	_, rules := loadRules(t, Rules)
	var held []string
	for _, r := range rules {
		for _, q := range annotationQueries(r) {
			if strings.Contains(q, "docker_host_synced") {
				for _, p := range holdQueryProblems(q) {
					t.Errorf("%s: annotation query: %s", r.Alert, p)
				}
			}
		}
		if !strings.Contains(r.Expr, "docker_host_synced") {
			continue
		}
		held = append(held, r.Alert)
		h, ok := holdExceptions[r.Alert]
		if !ok {
			h = defaultHold
		}
		for _, p := range holdProblems(r.Expr, h) {
			t.Errorf("%s: %s", r.Alert, p)
		}
	}
	// The alerts the table of docs/alerts.md marks as held.
	var doc []string
	for _, m := range heldDocRE.FindAllStringSubmatch(readFile(t, alertsDocPath), -1) {
		doc = append(doc, m[1])
	}
	if slices.Sort(held); !slices.Equal(held, slices.Sorted(slices.Values(doc))) {
		t.Errorf("alerts with a hold branch %v, docs/alerts.md marks %v as held", held, doc)
	}
}

// holdProblems checks that expr is `A or (H)` where H is A with each
// selector s replaced by h.fn(s[15m]), followed by h.unless.
func holdProblems(expr string, h holdRule) []string {
	parts := strings.Split(expr, "\nor\n")
	if len(parts) != 2 {
		return []string{"not of the form <condition> or (<hold>) (one unindented `or` line)"}
	}
	cond, hold := parts[0], parts[1]
	var problems []string
	if strings.Contains(cond, "docker_host_synced") {
		problems = append(problems, "docker_host_synced in the first branch")
	}
	if n := strings.Count(hold, "docker_host_synced"); n != 1 {
		problems = append(problems, fmt.Sprintf("docker_host_synced appears %d times in the hold branch, want once", n))
	}
	lines := strings.Split(strings.TrimSpace(hold), "\n")
	if len(lines) < 3 || strings.TrimSpace(lines[0]) != "(" || strings.TrimSpace(lines[len(lines)-1]) != ")" ||
		strings.TrimSpace(lines[len(lines)-2]) != h.unless {
		problems = append(problems, "the hold branch does not end with the line "+h.unless)
	}
	for _, d := range durationRE.FindAllString(hold, -1) {
		if d != holdWindow {
			problems = append(problems, "range "+d+" in the hold branch, want "+holdWindow)
		}
	}
	want := cond
	for _, m := range exprMetricNames(cond) {
		re := regexp.MustCompile(`(^|[^a-zA-Z0-9_:])(` + regexp.QuoteMeta(m) + `(\{[^}]*\})?)`)
		want = re.ReplaceAllString(want, "${1}"+h.fn+"(${2}"+holdWindow+")")
	}
	if !strings.Contains(squash(hold), squash(want)) {
		problems = append(problems, "the hold branch is not the first branch with each selector s as "+h.fn+"(s"+holdWindow+"): want\n"+want)
	}
	return problems
}

// holdQueryProblems checks the hold branch of a query in an annotation:
// the same window and condition as the rules'.
func holdQueryProblems(q string) []string {
	var problems []string
	if !strings.Contains(squashSpace(q), holdUnless) {
		problems = append(problems, "no "+holdUnless)
	}
	for _, d := range durationRE.FindAllString(q, -1) {
		if d != holdWindow {
			problems = append(problems, "range "+d+", want "+holdWindow)
		}
	}
	return problems
}

func squash(s string) string {
	return strings.Join(strings.Fields(s), "")
}

func squashSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// The check catches drift.
func TestHoldProblems(t *testing.T) {
	_, rules := loadRules(t, Rules)
	var expr string
	for _, r := range rules {
		if r.Alert == "ContainerExitedWithError" {
			expr = r.Expr
		}
	}
	if p := holdProblems(expr, defaultHold); len(p) != 0 {
		t.Fatalf("ContainerExitedWithError: %v", p)
	}
	for _, drifted := range []string{
		strings.Replace(expr, "[15m]", "[10m]", 1),
		strings.Replace(expr, "docker_host_up * docker_host_synced == 1", "docker_host_up == 1", 1),
		strings.Replace(expr, "on (job, instance, host) docker_host_up", "on (instance, host) docker_host_up", 1),
		strings.Replace(expr, "!= 0", "> 0", 1), // the first branch changed, not the hold
		strings.Replace(expr, "last_over_time(docker_container_exit_code[15m]) == 143", "last_over_time(docker_container_exit_code[15m]) == 130", 1),
		strings.Replace(expr, "\nor\n", "\n or\n", 1),
	} {
		if p := holdProblems(drifted, defaultHold); len(p) == 0 {
			t.Errorf("no problem found in\n%s", drifted)
		}
	}
}
