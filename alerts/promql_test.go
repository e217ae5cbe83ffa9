package alerts

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// A lexer of PromQL, not a parser (the Prometheus parser is not a
// dependency of this module): enough to find the metrics and label names
// an expression uses.

var (
	matchersRE  = regexp.MustCompile(`\{[^}]*\}`)
	rangesRE    = regexp.MustCompile(`\[[^\]]*\]`)
	labelListRE = regexp.MustCompile(`\b(on|ignoring|by|without|group_left|group_right)\s*\(([^)]*)\)`)
	tokenRE     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*|[0-9][0-9a-zA-Z_.]*`)
	selectorRE  = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}`)
	matcherRE   = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)`)
	// The target label of label_replace(v, "dst", "$1", "src", "regex").
	labelReplaceRE = regexp.MustCompile(`"([a-zA-Z_][a-zA-Z0-9_]*)",\s*"\$1"`)
	keywords       = map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"on": true, "ignoring": true, "by": true, "without": true,
		"group_left": true, "group_right": true, "atan2": true, "inf": true, "nan": true,
	}
)

// stripStrings returns expr with its string literals emptied and its
// comments removed.
func stripStrings(expr string) string {
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
	return b.String()
}

// exprMetricNames returns the metric names a PromQL expression selects: it
// drops strings, comments, label matchers, ranges and the label lists of
// on/by/..., then takes every identifier that is neither a keyword nor
// followed by "(" (a function or aggregation).
func exprMetricNames(expr string) []string {
	s := matchersRE.ReplaceAllString(stripStrings(expr), " ")
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

// exprLabels returns the label names an expression matches on, by metric
// (from name{label=...}), and those of its on/ignoring/by/without/group_*
// lists; and the labels label_replace makes.
func exprLabels(expr string) (matchers map[string][]string, lists, made []string) {
	s := stripStrings(expr)
	matchers = map[string][]string{}
	for _, m := range selectorRE.FindAllStringSubmatch(s, -1) {
		for _, l := range matcherRE.FindAllStringSubmatch(m[2], -1) {
			matchers[m[1]] = append(matchers[m[1]], l[1])
		}
	}
	for _, m := range labelListRE.FindAllStringSubmatch(s, -1) {
		for _, l := range strings.Split(m[2], ",") {
			if l = strings.TrimSpace(l); l != "" {
				lists = append(lists, l)
			}
		}
	}
	for _, m := range labelReplaceRE.FindAllStringSubmatch(expr, -1) {
		made = append(made, m[1])
	}
	return matchers, lists, made
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

func TestExprLabels(t *testing.T) {
	matchers, lists, made := exprLabels(`sum by (job, instance) (rate(foo_total{a="b", c=~"x}|y"}[5m]))` +
		` and on (job) group_left (team) label_replace(bar{name!="q"}, "container", "$1", "name", "(.*)")`)
	if !slices.Equal(matchers["foo_total"], []string{"a", "c"}) || !slices.Equal(matchers["bar"], []string{"name"}) || len(matchers) != 2 {
		t.Errorf("matchers %v", matchers)
	}
	if !slices.Equal(lists, []string{"job", "instance", "job", "team"}) {
		t.Errorf("lists %v", lists)
	}
	if !slices.Equal(made, []string{"container"}) {
		t.Errorf("made %v", made)
	}
}
