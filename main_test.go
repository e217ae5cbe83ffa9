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
		{[]string{"--events.buffer=0"}, 2, "--events.buffer must be 1..100000"},
		{[]string{"--docker.retry-initial-delay=20s"}, 2, "--docker.retry-initial-delay must be positive and at most --docker.retry-max-delay"},
		{[]string{"--container.label=a.b", "--container.label=a_b", "--docker.host=unix:///nonexistent.sock"}, 2,
			`"a.b" and "a_b" both become label label_a_b`},
		{[]string{"--docker.host=ftp://example"}, 2, `--docker.host: docker host "ftp://example": unsupported scheme "ftp"`},
		{[]string{"--web.telemetry-path="}, 2, `--web.telemetry-path "": must start with /`},
		{[]string{"--web.telemetry-path=metrics"}, 2, `--web.telemetry-path "metrics": must start with /`},
		{[]string{"--web.telemetry-path=/-/healthy"}, 2, `--web.telemetry-path "/-/healthy": /-/ is the exporter's own`},
		{[]string{"--web.telemetry-path=/{x}"}, 2, `--web.telemetry-path "/{x}": must be a plain path`},
		{[]string{"--docker.retry-backoff=NaN"}, 2, `--docker.retry-backoff: "NaN" is not a finite number`},
		{[]string{"--docker.retry-backoff=0.5"}, 2, "--docker.retry-backoff must be at least 1"},
		{[]string{"--scrape.timeout-offset=-1s"}, 2, "--scrape.timeout-offset must not be negative"},
		{[]string{"--scrape.max-timeout=1s"}, 2, "--scrape.max-timeout must be at least --scrape.default-timeout"},
		{[]string{"--stats.max-age=-1s"}, 2, "--stats.max-age must not be negative"},
		{[]string{"--stats.source=files"}, 2, `--stats.source: "files" is not one of auto, api, cgroup`},
		{[]string{"--stats.source=cgroup", "--stats.cgroup-root=/nonexistent", "--docker.host=unix:///nonexistent.sock"}, 1,
			"--stats.source=cgroup: "},
		{[]string{"--events.check-interval=-1s"}, 2, "--events.check-interval must not be negative"},
		{[]string{"--docker.retries=-1"}, 2, "--docker.retries must not be negative"},
		{[]string{"--docker.timeout=abc"}, 2, `--docker.timeout: "abc" is not a duration`},
		{[]string{"--events.buffer=x"}, 2, `--events.buffer: "x" is not an integer`},
		{[]string{"--events.buffer=1000000000"}, 2, "--events.buffer must be 1..100000"},
		{[]string{"--container.label="}, 2, "--container.label: container label allowlist: an empty key"},
		{[]string{"--revp.allowed-backend-host=a b"}, 2, `--revp.allowed-backend-host "a b": not a host name`},
		{[]string{"--web.telemetry-path=/api/v1/metrics"}, 2, `--web.telemetry-path "/api/v1/metrics": /api/ is the exporter's own`},
		{[]string{"--web.telemetry-path=/probe"}, 2, `--web.telemetry-path "/probe": /probe is the exporter's own`},
		{[]string{"--api.event-buffer=0"}, 2, "--api.event-buffer must be 1..100000"},
		{[]string{"--api.event-history=-1"}, 2, "--api.event-history must be 0..100000"},
		{[]string{"--api.event-clients=0"}, 2, "--api.event-clients must be 1..10000"},
		{[]string{"--api.event-history=x"}, 2, `--api.event-history: "x" is not an integer`},
		// --config.check says "invalid" with 1, whatever is invalid.
		{[]string{"--config.check", "--docker.retries=-1"}, 1, "--docker.retries must not be negative"},
		{[]string{"--config.check", "--docker.timeout=abc"}, 1, `--docker.timeout: "abc" is not a duration`},
		{[]string{"--config.check", "--web.config.file=/nonexistent/web.yml"}, 1, "--web.config.file: /nonexistent/web.yml: no such file or directory"},
		{[]string{"--config.check", "--web.config.file=config/testdata/full.yml"}, 1, "--web.config.file config/testdata/full.yml: "},
		// full.yml names placeholder files, which open but do not load.
		{[]string{"--config.check", "--config.file=config/testdata/full.yml"}, 1,
			`config/testdata/full.yml: host "builder": ssh authentication failed: key_file does not decrypt with ssh.passphrase_file`},
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
	// No link to what this mux does not serve (pprof), nor to the
	// lifecycle API while it is off.
	if _, body := get("/", true); strings.Contains(body, "debug/pprof") || strings.Contains(body, "/-/reload") {
		t.Errorf("landing page links to pprof or /-/reload:\n%s", body)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/-/reload", nil)
	req.SetBasicAuth("prom", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /-/reload: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST /-/reload without --web.enable-lifecycle: %s, want 403", resp.Status)
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

	// The API is behind the same basic auth.
	if code, _ := get("/api/v1/hosts", false); code != http.StatusUnauthorized {
		t.Errorf("/api/v1/hosts without credentials: %d, want 401", code)
	}
	if code, body := get("/api/v1/hosts", true); code != http.StatusOK || !strings.Contains(body, `"name":"local"`) {
		t.Errorf("/api/v1/hosts: %d\n%s", code, body)
	}
	// An event stream left open must not hold up the shutdown.
	req, _ = http.NewRequest(http.MethodGet, base+"/api/v1/events", nil)
	req.SetBasicAuth("prom", "s3cret")
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /api/v1/events: %v", err)
	}
	defer stream.Body.Close()
	if ct := stream.Header.Get("Content-Type"); stream.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("/api/v1/events: %s, Content-Type %q", stream.Status, ct)
	}

	if err := e.Stop(); err != nil {
		t.Errorf("exit after SIGTERM: %v; log:\n%s", err, e.Logs())
	}
}

// With --api.disable nothing is served under /api/, and the landing page
// does not link to it.
func TestAPIDisabled(t *testing.T) {
	d := testlab.Shared(t)
	e := testlab.StartExporter(t, testlab.ExporterBinary(t), []string{"DOCKER_HOST=" + d.Host}, "--api.disable")
	for path, want := range map[string]int{"/api/v1/hosts": http.StatusNotFound, "/api/v1/events": http.StatusNotFound, "/metrics": http.StatusOK} {
		resp, err := http.Get(e.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s with --api.disable: %s, want %d", path, resp.Status, want)
		}
		if path == "/api/v1/hosts" && strings.Contains(string(b), "docker-monitor") {
			t.Errorf("%s with --api.disable answers the landing page", path)
		}
	}
	resp, err := http.Get(e.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(b), "/api/v1") {
		t.Errorf("landing page links to the API while it is off:\n%s", b)
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
		if c.hosts.TLS.TLSVerify != tc.want {
			t.Errorf("DOCKER_TLS_VERIFY=%q %v: verify %v, want %v", tc.env, tc.args, c.hosts.TLS.TLSVerify, tc.want)
		}
	}
}

// --config.check loads every file the hosts file names, as connecting
// would, and names the host and field of the first that does not load:
// a file that would leave a host down is found before it runs.
func TestConfigCheckLoadsFiles(t *testing.T) {
	bin := testlab.ExporterBinary(t)
	dir := t.TempDir()
	good := testlab.WriteTLSFiles(t, filepath.Join(dir, "tls")).ClientDir
	testlab.WriteSSHKey(t, filepath.Join(dir, "id_ed25519"), "")
	testlab.WriteSSHKey(t, filepath.Join(dir, "id_encrypted"), "correct horse")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("passphrase", "correct horse\n")
	badPEM := filepath.Join(dir, "bad-pem")
	if err := os.MkdirAll(badPEM, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.pem", "cert.pem"} {
		b, _ := os.ReadFile(filepath.Join(good, f))
		write(filepath.Join("bad-pem", f), string(b))
	}
	write("bad-pem/key.pem", "not a key\n")
	write("not-a-key", "not a key\n")
	write("bad_known_hosts", "nas.example not-a-key-type AAAA\n")
	write("known_hosts", "[nas.example]:22 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")

	hosts := func(extra string) string {
		return write("hosts.yml", "hosts:\n"+
			"  build: {connection: tcp, hostname: build.example, tcp: {cert_path: "+good+"}}\n"+
			"  nas: {hostname: nas.example, user: u, key_file: id_ed25519, ssh: {known_hosts: known_hosts}}\n"+
			"  vault: {hostname: vault.example, user: u, key_file: id_encrypted, ssh: {passphrase_file: passphrase, known_hosts: known_hosts}}\n"+
			extra)
	}
	for _, tc := range []struct {
		extra    string
		wantCode int
		wantOut  string
	}{
		{"", 0, "configuration valid: 3 hosts"},
		{"  bad: {connection: tcp, hostname: bad.example, tcp: {cert_path: " + badPEM + "}}\n", 1,
			`hosts.yml: host "bad": TLS files do not load: tcp.cert_path ` + badPEM + `: cert.pem and key.pem: tls: failed to find any PEM data in key input`},
		{"  sshbad: {hostname: b.example, user: u, key_file: not-a-key, ssh: {known_hosts: known_hosts}}\n", 1,
			`host "sshbad": ssh authentication failed: key_file: ssh: no key found`},
		{"  nopass: {hostname: b.example, user: u, key_file: id_encrypted, ssh: {known_hosts: known_hosts}}\n", 1,
			`host "nopass": ssh authentication failed: key_file is encrypted and no ssh.passphrase_file is set`},
		{"  badkh: {hostname: b.example, user: u, key_file: id_ed25519, ssh: {known_hosts: bad_known_hosts}}\n", 1,
			`host "badkh": host key verification failed: ssh.known_hosts: `},
	} {
		out, err := exec.Command(bin, "--config.check", "--config.file="+hosts(tc.extra)).CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		if code != tc.wantCode || !strings.Contains(string(out), tc.wantOut) {
			t.Errorf("%s: exit %d, output:\n%s\nwant exit %d and %q", tc.extra, code, out, tc.wantCode, tc.wantOut)
		}
		if strings.Contains(string(out), "correct horse") || strings.Contains(string(out), filepath.Join(dir, "not-a-key")) {
			t.Errorf("the output names a secret or a key file's path:\n%s", out)
		}
	}
}
