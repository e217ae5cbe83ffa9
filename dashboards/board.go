package dashboards

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Board is what tests and tools need from one dashboard JSON file.
type Board struct {
	UID, Title string
	Variables  []Variable
	Queries    []Query // every Prometheus target expr of every panel (rows and nested panels included)
}

// Variable is one templating variable of a dashboard.
type Variable struct {
	Name, Type        string // Type: "datasource", "query", ...
	Query             string // for "query": the label_values(...) or PromQL text
	Multi, IncludeAll bool
	AllValue          string
}

// Query is one target of one panel.
type Query struct{ Panel, RefID, Expr string }

// rawBoard is the part of Grafana's JSON model that Board reads.
type rawBoard struct {
	UID        string     `json:"uid"`
	Title      string     `json:"title"`
	Panels     []rawPanel `json:"panels"`
	Templating struct {
		List []rawVariable `json:"list"`
	} `json:"templating"`
}

type rawPanel struct {
	Title   string `json:"title"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []rawPanel `json:"panels"` // a collapsed row keeps its panels here
}

type rawVariable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
}

// LoadBoard reads a dashboard JSON file.
func LoadBoard(path string) (*Board, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw rawBoard
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b := &Board{UID: raw.UID, Title: raw.Title}
	for _, v := range raw.Templating.List {
		q, err := variableQuery(v.Query)
		if err != nil {
			return nil, fmt.Errorf("%s: variable %s: %w", path, v.Name, err)
		}
		b.Variables = append(b.Variables, Variable{
			Name: v.Name, Type: v.Type, Query: q,
			Multi: v.Multi, IncludeAll: v.IncludeAll, AllValue: v.AllValue,
		})
	}
	b.Queries = collectQueries(raw.Panels, nil)
	return b, nil
}

// variableQuery reads a variable's query, which Grafana stores either as
// a string or, for Prometheus since Grafana 10, as {"query": "...", ...}.
func variableQuery(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var obj struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", err
	}
	return obj.Query, nil
}

func collectQueries(panels []rawPanel, out []Query) []Query {
	for _, p := range panels {
		for _, t := range p.Targets {
			if t.Expr != "" {
				out = append(out, Query{Panel: p.Title, RefID: t.RefID, Expr: t.Expr})
			}
		}
		out = collectQueries(p.Panels, out)
	}
	return out
}

// Files returns the dashboard JSON files in dir, sorted.
func Files(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	return files, nil
}

// ParseLabelValues splits `label_values(selector, label)` or `label_values(label)`; ok false otherwise.
func ParseLabelValues(q string) (selector, label string, ok bool) {
	q = strings.TrimSpace(q)
	inner, found := strings.CutPrefix(q, "label_values(")
	if !found || !strings.HasSuffix(inner, ")") {
		return "", "", false
	}
	inner = inner[:len(inner)-1]
	// The label follows the last comma outside braces and quotes: the
	// selector may hold commas of its own ({job="a",host="b"}).
	cut := lastTopLevelComma(inner)
	if cut < 0 {
		label = strings.TrimSpace(inner)
	} else {
		selector, label = strings.TrimSpace(inner[:cut]), strings.TrimSpace(inner[cut+1:])
		if selector == "" {
			return "", "", false
		}
	}
	if !labelName.MatchString(label) {
		return "", "", false
	}
	return selector, label, true
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func lastTopLevelComma(s string) int {
	depth, quote, last := 0, rune(0), -1
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote && (i == 0 || s[i-1] != '\\') {
				quote = 0
			}
		case r == '"' || r == '\'' || r == '`':
			quote = r
		case r == '{' || r == '(' || r == '[':
			depth++
		case r == '}' || r == ')' || r == ']':
			depth--
		case r == ',' && depth == 0:
			last = i
		}
	}
	return last
}

// varRef matches Grafana's variable syntaxes: $name, ${name}, ${name:format}
// and the deprecated [[name]], [[name:format]].
var varRef = regexp.MustCompile(`\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)(?::(\w+))?\]\]|\$(\w+)`)

// builtins are fixed stand-ins for Grafana's interval variables, as a
// 1h range at a 15s scrape interval would give.
var builtins = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "15s",
	"__interval_ms":   "15000",
	"__range":         "1h",
	"__range_s":       "3600",
	"__range_ms":      "3600000",
}

// Interpolate replaces $var, ${var}, ${var:regex}, ${var:queryparam}-free forms and [[var]] with the
// selected values as Grafana does for a Prometheus datasource: one value regex-escaped, several as
// (a|b), All (selected[name] == nil or containing "$__all") as the variable's AllValue.
// Built-ins: $__rate_interval -> "1m", $__interval -> "15s", $__range -> "1h", $__range_s -> "3600".
// Names that are neither built-ins nor variables of the board (such as
// label_replace's "$1") are left as they are.
func (b *Board) Interpolate(expr string, selected map[string][]string) string {
	return varRef.ReplaceAllStringFunc(expr, func(m string) string {
		sub := varRef.FindStringSubmatch(m)
		name, format := sub[1]+sub[3]+sub[5], sub[2]+sub[4]
		if v, ok := builtins[name]; ok {
			return v
		}
		v := b.variable(name)
		if v == nil {
			return m
		}
		if format == "queryparam" {
			return queryParam(name, selected[name])
		}
		return v.value(selected[name], format, m)
	})
}

func (b *Board) variable(name string) *Variable {
	for i := range b.Variables {
		if b.Variables[i].Name == name {
			return &b.Variables[i]
		}
	}
	return nil
}

// value is the text Grafana puts in a Prometheus query for the selection.
func (v *Variable) value(values []string, format, original string) string {
	if isAll(values) {
		if v.Type == "datasource" && values == nil {
			return original // nothing chosen: the datasource stays as written
		}
		if v.AllValue == "" {
			return ".*" // Grafana would list every option; .* matches them all
		}
		return v.AllValue
	}
	escape := promRegexEscape
	if format == "raw" || (!v.Multi && !v.IncludeAll) {
		escape = func(s string) string { return s }
	}
	if len(values) == 1 {
		return escape(values[0])
	}
	out := make([]string, len(values))
	for i, s := range values {
		out[i] = escape(s)
	}
	return "(" + strings.Join(out, "|") + ")"
}

func isAll(values []string) bool {
	if values == nil {
		return true
	}
	for _, s := range values {
		if s == "$__all" {
			return true
		}
	}
	return false
}

// promRegexEscape is Grafana's prometheusSpecialRegexEscape: a regex
// metacharacter gets two backslashes, because the value lands inside a
// PromQL double-quoted string, where "\\." reads as the regex `\.`.
func promRegexEscape(s string) string {
	var sb strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			sb.WriteString(`\\\\`)
		case strings.ContainsRune(`$^*{}[]'+?.()|`, r):
			sb.WriteString(`\\`)
			sb.WriteRune(r)
		default:
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// queryParam is ${var:queryparam}: var-name=value for each value.
func queryParam(name string, values []string) string {
	if isAll(values) {
		values = []string{"$__all"}
	}
	parts := make([]string, len(values))
	for i, s := range values {
		parts[i] = "var-" + name + "=" + url.QueryEscape(s)
	}
	return strings.Join(parts, "&")
}
