// Package metricsdoc reads the metric tables of docs/metrics.md. That page
// is the one list of what the exporter exposes, and the tests of the
// dashboards and the alert rules check every expression against it, so a
// renamed metric or label fails there rather than in a user's Grafana.
package metricsdoc

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// Metric is one row of a table: | `name` | type | labels | meaning |.
type Metric struct {
	Name, Type string
	// Labels are the documented labels plus job and instance, which
	// Prometheus adds to every scraped series.
	Labels map[string]bool
}

// minMetrics guards against a change of the tables' shape that would make
// the parser find nothing and every check pass vacuously.
const minMetrics = 40

var (
	row   = regexp.MustCompile("^\\| `([a-zA-Z_:][a-zA-Z0-9_:]*)` \\| (\\w+) \\|([^|]*)\\|")
	ident = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
)

// Load parses the file at path (docs/metrics.md).
func Load(path string) (map[string]Metric, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// Parse reads the tables. A histogram also yields its _bucket, _sum and
// _count series, which are what expressions select.
func Parse(r io.Reader) (map[string]Metric, error) {
	out := map[string]Metric{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := row.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		labels := map[string]bool{"job": true, "instance": true}
		for _, l := range strings.Split(m[3], ",") {
			if l = strings.TrimSpace(l); ident.MatchString(l) {
				labels[l] = true
			}
		}
		out[m[1]] = Metric{Name: m[1], Type: m[2], Labels: labels}
		if m[2] == "histogram" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				out[m[1]+s] = Metric{Name: m[1] + s, Type: m[2], Labels: labels}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) < minMetrics {
		return nil, fmt.Errorf("only %d metrics in the tables; did their shape change?", len(out))
	}
	return out, nil
}
