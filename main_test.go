package main

import (
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/snadboy/docker-monitor/internal/testlab"
)

func TestMain(m *testing.M) { os.Exit(testlab.Main(m)) }

func TestFlags(t *testing.T) {
	bin := testlab.ExporterBinary(t)
	for _, tc := range []struct {
		args     []string
		wantCode int
		wantOut  string
	}{
		{[]string{"--version"}, 0, "docker-monitor, version " + testlab.ExporterVersion},
		{[]string{"--help"}, 0, "--docker.host="},
		{[]string{"--no-such-flag"}, 2, "unknown long flag '--no-such-flag'"},
		{[]string{"--events.buffer=0"}, 2, "--events.buffer must be at least 1"},
		{[]string{"--docker.retry-initial-delay=20s"}, 2, "--docker.retry-initial-delay must be positive and at most --docker.retry-max-delay"},
		{[]string{"--container.label=a.b", "--container.label=a_b", "--docker.host=unix:///nonexistent.sock"}, 2,
			`"a.b" and "a_b" both become label label_a_b`},
		{[]string{"--docker.host=ftp://example"}, 2, `--docker.host: docker host "ftp://example": unsupported scheme "ftp"`},
		{[]string{"--config.check", "--config.file=config/testdata/full.yml"}, 0, "configuration valid: 6 hosts"},
		{[]string{"--config.check", "--config.file=config/testdata/invalid-mode.yml"}, 1,
			`config/testdata/invalid-mode.yml:5: host "web": ssh.mode "socket" is not one of auto, streamlocal, dial-stdio`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, err := exec.Command(bin, tc.args...).CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
			if code != tc.wantCode || !strings.Contains(string(out), tc.wantOut) {
				t.Errorf("exit %d, output:\n%s\nwant exit %d and %q", code, out, tc.wantCode, tc.wantOut)
			}
		})
	}
}

// TestBinary runs the built exporter against a real daemon: endpoints,
// basic auth from --web.config.file, promtool-clean output, clean shutdown.
func TestBinary(t *testing.T) {
	d := testlab.Shared(t)
	bin := testlab.ExporterBinary(t)
	d.Run(t, "bin-running", nil)

	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webConfig, []byte("basic_auth_users:\n  prom: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := testlab.StartExporter(t, bin, []string{"DOCKER_HOST=" + d.Host}, "--web.config.file="+webConfig)
	base := e.URL

	get := func(path string, auth bool) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if auth {
			req.SetBasicAuth("prom", "s3cret")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if code, _ := get("/metrics", false); code != http.StatusUnauthorized {
		t.Errorf("/metrics without credentials: %d, want 401", code)
	}
	if code, body := get("/", true); code != http.StatusOK || !strings.Contains(body, "docker-monitor") || !strings.Contains(body, `href="/metrics"`) {
		t.Errorf("landing page: %d\n%s", code, body)
	}
	if code, _ := get("/-/healthy", true); code != http.StatusOK {
		t.Errorf("/-/healthy: %d", code)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _ := get("/-/ready", true)
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/-/ready still %d; log:\n%s", code, e.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, body := get("/metrics", true)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	for _, want := range []string{
		`docker_host_up{host="local"} 1`,
		`docker_container_state{host="local",name="bin-running",state="running"} 1`,
		`version="` + testlab.ExporterVersion + `"`,
		"# HELP docker_container_cpu_usage_seconds_total ",
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	promtoolCheck(t, body)

	if err := e.Stop(); err != nil {
		t.Errorf("exit after SIGTERM: %v; log:\n%s", err, e.Logs())
	}
}

// promtoolCheck runs `promtool check metrics`, the linter Prometheus ships.
func promtoolCheck(t *testing.T, exposition string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("promtool not installed (Debian package prometheus): run scripts/test-deps.sh")
		}
		t.Log("promtool not installed: skipping `promtool check metrics`")
		return
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// DOCKER_TLS_VERIFY turns TLS on whatever its value, as for the docker CLI;
// the flag, when given, wins.
func TestTLSVerifyEnv(t *testing.T) {
	for _, tc := range []struct {
		env  string
		args []string
		want bool
	}{
		{"", nil, false},
		{"1", nil, true},
		{"yes", nil, true},
		{"0", nil, true}, // the docker CLI only asks whether it is set
		{"yes", []string{"--no-docker.tls-verify"}, false},
		{"", []string{"--docker.tls-verify"}, true},
	} {
		t.Setenv("DOCKER_TLS_VERIFY", tc.env)
		c, err := parseFlags(append([]string{"--docker.host=tcp://127.0.0.1:2376"}, tc.args...))
		if err != nil {
			t.Fatalf("DOCKER_TLS_VERIFY=%q %v: %v", tc.env, tc.args, err)
		}
		if c.tls.TLSVerify != tc.want {
			t.Errorf("DOCKER_TLS_VERIFY=%q %v: verify %v, want %v", tc.env, tc.args, c.tls.TLSVerify, tc.want)
		}
	}
}
