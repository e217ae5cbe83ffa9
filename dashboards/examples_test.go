package dashboards

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// composeFile is the part of a Compose file the test reads. Volumes come
// in the short form "src:dst[:mode]" or the long form {type, source}.
type composeFile struct {
	Services map[string]struct {
		Image   string      `yaml:"image"`
		Volumes []yaml.Node `yaml:"volumes"`
	} `yaml:"services"`
}

// TestComposeMounts: every relative path examples/compose.yml bind-mounts
// exists in the repository, so `docker compose up` does not create empty
// directories in their place.
func TestComposeMounts(t *testing.T) {
	const dir = "../examples"
	c := readCompose(t, filepath.Join(dir, "compose.yml"))
	for _, want := range []string{"docker-monitor", "prometheus", "alertmanager", "grafana"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("compose.yml has no service %s", want)
		}
	}
	checked := 0
	for name, svc := range c.Services {
		for _, v := range svc.Volumes {
			src := bindSource(v)
			if !strings.HasPrefix(src, "./") && !strings.HasPrefix(src, "../") {
				continue // a named volume or an absolute host path
			}
			checked++
			if _, err := os.Stat(filepath.Join(dir, src)); err != nil {
				t.Errorf("service %s mounts %s: %v", name, src, err)
			}
		}
	}
	if checked < 6 {
		t.Errorf("checked %d relative mounts, want at least 6: did the volume syntax change?", checked)
	}
}

// TestComposeImagesPinned: every image but the locally built exporter has a
// fixed tag, so the example does not change under its users.
func TestComposeImagesPinned(t *testing.T) {
	c := readCompose(t, "../examples/compose.yml")
	for name, svc := range c.Services {
		if name == "docker-monitor" {
			continue // built locally: docker build -t docker-monitor .
		}
		_, tag, ok := strings.Cut(svc.Image, ":")
		if !ok || tag == "" || tag == "latest" {
			t.Errorf("service %s: image %q is not pinned to a version", name, svc.Image)
		}
	}
}

func readCompose(t *testing.T, path string) composeFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

// bindSource is the host side of a volume entry.
func bindSource(v yaml.Node) string {
	if v.Kind == yaml.ScalarNode {
		src, _, _ := strings.Cut(v.Value, ":")
		return src
	}
	var long struct {
		Type   string `yaml:"type"`
		Source string `yaml:"source"`
	}
	if v.Decode(&long) != nil || long.Type != "bind" {
		return ""
	}
	return long.Source
}
