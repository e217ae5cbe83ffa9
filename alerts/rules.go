// Package alerts holds docker-monitor's Prometheus alerting rules
// (docker-monitor.rules.yml, documented in docs/alerts.md and
// docs/runbooks.md) and what tests that load them into a real Prometheus
// need. The package's tests check the rules with promtool and against the
// documentation.
package alerts

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// RulesFile is the rules file's name, in this directory.
const RulesFile = "docker-monitor.rules.yml"

// Rules is the content of docker-monitor.rules.yml, embedded so that a test
// in another package loads exactly these rules without working out a path.
//
//go:embed docker-monitor.rules.yml
var Rules []byte

// ShortenFor returns rulesYAML, a Prometheus rules file, with the `for:` of
// every rule that has one set to d, so that an end-to-end test sees alerts
// fire within seconds rather than minutes. Rules without `for:` are left
// alone, as is everything else, comments included. d must be a whole number
// of milliseconds, the resolution of Prometheus durations, and not negative.
func ShortenFor(rulesYAML []byte, d time.Duration) ([]byte, error) {
	if d < 0 || d%time.Millisecond != 0 {
		return nil, fmt.Errorf("for: %v is not a Prometheus duration (whole milliseconds, not negative)", d)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(rulesYAML, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("rules: not a YAML document")
	}
	groups := mapValue(doc.Content[0], "groups")
	if groups == nil || groups.Kind != yaml.SequenceNode {
		return nil, errors.New("rules: no groups list")
	}
	value := model.Duration(d).String()
	for _, g := range groups.Content {
		rules := mapValue(g, "rules")
		if rules == nil {
			continue // a group without rules is valid, if useless
		}
		if rules.Kind != yaml.SequenceNode {
			return nil, errors.New("rules: a group's rules is not a list")
		}
		for _, r := range rules.Content {
			if f := mapValue(r, "for"); f != nil {
				// A plain scalar: "30s" needs no quotes, and a quoted
				// style left over from the input would be just as valid.
				f.Kind, f.Tag, f.Value, f.Style = yaml.ScalarNode, "!!str", value, 0
			}
		}
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// mapValue returns the value of key in the mapping node m, or nil if m is
// not a mapping or has no such key.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
