package gen

//lint:file-ignore SA1019 dashboardv2 is Grafana 12's schema; the v1 dashboard model is what Grafana 10 and 11 import.

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// File is one generated dashboard: its file name and its JSON.
type File struct {
	Name string
	JSON []byte
}

// Render builds every dashboard and returns its JSON: 2-space indent, a
// trailing newline, and the same bytes on every run, so the committed
// files can be compared with the code.
func Render() ([]File, error) {
	boards := []struct {
		name  string
		build *dashboard.DashboardBuilder
	}{
		{"docker-fleet.json", Fleet()},
		{"docker-containers.json", Containers()},
		{"revp-routes.json", RevP()},
	}
	files := make([]File, 0, len(boards))
	for _, b := range boards {
		d, err := b.build.Build()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.name, err)
		}
		numberPanels(&d)
		data, err := encode(d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.name, err)
		}
		files = append(files, File{Name: b.name, JSON: data})
	}
	return files, nil
}

// numberPanels gives every panel and row an id by its position. Grafana
// would otherwise assign ids on load, and links to a panel (viewPanel=N)
// would change whenever it saves the dashboard.
func numberPanels(d *dashboard.Dashboard) {
	id := uint32(0)
	next := func() uint32 { id++; return id }
	for _, p := range d.Panels {
		switch {
		case p.Panel != nil:
			n := next()
			p.Panel.Id = &n
		case p.RowPanel != nil:
			p.RowPanel.Id = next()
			for i := range p.RowPanel.Panels {
				n := next()
				p.RowPanel.Panels[i].Id = &n
			}
		}
	}
}

// encode writes JSON without HTML escaping: the data link's "&" stays
// readable instead of becoming \u0026.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
