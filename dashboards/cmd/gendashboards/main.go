// Command gendashboards writes docker-monitor's Grafana dashboards as JSON
// into a directory (default: the current one). `go generate ./dashboards`
// and `make dashboards` run it from the dashboards directory.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/snadboy/docker-monitor/dashboards/internal/gen"
)

func main() {
	out := flag.String("out", ".", "directory to write the dashboard JSON files into")
	flag.Parse()
	files, err := gen.Render()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendashboards:", err)
		os.Exit(1)
	}
	for _, f := range files {
		path := filepath.Join(*out, f.Name)
		if err := os.WriteFile(path, f.JSON, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gendashboards:", err)
			os.Exit(1)
		}
	}
}
