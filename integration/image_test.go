package integration

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/internal/testlab"
)

// TestDockerImage builds the image from the repository's Dockerfile around
// a static binary (offline: FROM scratch), runs it as its non-root user with
// the daemon's socket mounted read-only, and scrapes it.
func TestDockerImage(t *testing.T) {
	d := testlab.Shared(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	buildCtx := t.TempDir()
	bin, err := os.ReadFile(testlab.ExporterBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(buildCtx, "docker-monitor"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"Dockerfile", ".dockerignore"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(buildCtx, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d.Docker(t, "build", "-q", "-t", "docker-monitor:test", buildCtx)

	sock := strings.TrimPrefix(d.Host, "unix://")
	var st syscall.Stat_t
	if err := syscall.Stat(sock, &st); err != nil {
		t.Fatal(err)
	}
	d.Docker(t, "run", "-d", "--name", "img-exporter", "--network", d.Network(t),
		"-v", sock+":/var/run/docker.sock:ro", "--group-add", fmt.Sprint(st.Gid),
		"-p", "127.0.0.1::9742", "docker-monitor:test")
	t.Cleanup(func() { d.Docker(t, "rm", "-f", "img-exporter") })

	if user := d.Docker(t, "inspect", "--format", "{{.Config.User}}", "img-exporter"); user != "65534:65534" {
		t.Errorf("image runs as %q, want the non-root 65534:65534", user)
	}
	addr := d.Docker(t, "port", "img-exporter", "9742/tcp")
	addr = strings.Fields(addr)[0]
	url := "http://" + addr + "/metrics"

	var body string
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(url); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
		}
		if strings.Contains(body, `docker_host_up{host="local"} 1`) &&
			strings.Contains(body, `docker_container_state{host="local",name="img-exporter",state="running"} 1`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the containerised exporter never reported its host and itself; last scrape:\n%s\nlogs:\n%s",
				body, d.Docker(t, "logs", "img-exporter"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
