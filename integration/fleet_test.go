package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/internal/testlab"
)

// fleet is a lab of Docker hosts reached every way the exporter supports.
type fleet struct {
	unix     *testlab.Daemon // reached by its unix socket
	tls      *testlab.Daemon // reached by TCP with TLS
	tlsFiles *testlab.TLSFiles
	sshHost  *testlab.Daemon // reached through the two sshds
	sshd     *testlab.SSHD   // allows socket forwarding
	stdio    *testlab.SSHD   // forbids it: dial-stdio fallback
	hang     string          // accepts and never answers
	dir      string
}

func startFleet(t *testing.T) *fleet {
	f := &fleet{unix: testlab.Shared(t), dir: t.TempDir()}
	f.tls, f.tlsFiles = testlab.StartTLS(t, "fleet-tls")
	f.sshHost = testlab.Start(t, "fleet-ssh")
	f.sshd = testlab.StartSSHD(t, testlab.SSHDOptions{})
	f.stdio = testlab.StartSSHD(t, testlab.SSHDOptions{NoStreamLocal: true})
	f.hang = testlab.StartHang(t)
	return f
}

func sock(d *testlab.Daemon) string { return strings.TrimPrefix(d.Host, "unix://") }

// hostsFile writes a hosts file with the named entries and returns its path.
func (f *fleet) hostsFile(t *testing.T, name string, entries ...string) string {
	t.Helper()
	_, tlsPort, _ := net.SplitHostPort(f.tlsFiles.Addr)
	_, hangPort, _ := net.SplitHostPort(f.hang)
	pw := filepath.Join(f.dir, "password")
	if err := os.WriteFile(pw, []byte("hunter2-not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Certificate files that exist and do not parse.
	badPEM := filepath.Join(f.dir, "bad-pem")
	if err := os.MkdirAll(badPEM, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(badPEM, name), []byte("not PEM at all\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	all := map[string]string{
		"unix": fmt.Sprintf("  unix:\n    connection: local\n    socket: %s\n    labels: {site: lab}\n", sock(f.unix)),
		"tls": fmt.Sprintf("  tls:\n    connection: tcp\n    hostname: 127.0.0.1\n    tcp: {port: %s, tls_verify: true, cert_path: %s}\n",
			tlsPort, f.tlsFiles.ClientDir),
		// The ssh entry's key is encrypted: the passphrase file decrypts it.
		"ssh": fmt.Sprintf("  ssh:\n    hostname: 127.0.0.1\n    port: %d\n    user: root\n    key_file: %s\n"+
			"    ssh: {passphrase_file: %s, known_hosts: %s, remote_socket: %s, keepalive: 2s}\n",
			f.sshd.Port, f.sshd.EncryptedClientKeyFile, f.sshd.PassphraseFile, f.sshd.KnownHostsFile, sock(f.sshHost)),
		"stdio": fmt.Sprintf("  stdio:\n    hostname: 127.0.0.1\n    port: %d\n    user: root\n    key_file: %s\n    ssh: {known_hosts: %s, remote_socket: %s}\n",
			f.stdio.Port, f.stdio.ClientKeyFile, f.stdio.KnownHostsFile, sock(f.sshHost)),
		// "tls" again, changed: it gains a label, so a reload reconnects it.
		"tls-changed": fmt.Sprintf("  tls:\n    connection: tcp\n    hostname: 127.0.0.1\n    labels: {role: changed}\n    tcp: {port: %s, tls_verify: true, cert_path: %s}\n",
			tlsPort, f.tlsFiles.ClientDir),
		"added": fmt.Sprintf("  added:\n    connection: local\n    socket: %s\n", sock(f.sshHost)),
		"hang":  fmt.Sprintf("  hang:\n    connection: tcp\n    hostname: 127.0.0.1\n    tcp: {port: %s, tls_verify: false}\n", hangPort),
		"badkey": fmt.Sprintf("  badkey:\n    hostname: 127.0.0.1\n    port: %d\n    user: root\n    key_file: %s\n    ssh: {known_hosts: %s, remote_socket: %s}\n",
			f.sshd.Port, f.sshd.ClientKeyFile, f.sshd.WrongKnownHostsFile, sock(f.sshHost)),
		// known_hosts missing altogether: unknown host under strict.
		"nokh": fmt.Sprintf("  nokh:\n    hostname: 127.0.0.1\n    port: %d\n    user: root\n    key_file: %s\n    ssh: {known_hosts: %s, remote_socket: %s}\n",
			f.sshd.Port, f.sshd.ClientKeyFile, filepath.Join(f.dir, "no-such-known_hosts"), sock(f.sshHost)),
		"badcert": fmt.Sprintf("  badcert:\n    connection: tcp\n    hostname: 127.0.0.1\n    tcp: {port: %s, tls_verify: true, cert_path: %s}\n",
			tlsPort, f.tlsFiles.WrongClientDir),
		"badpem": fmt.Sprintf("  badpem:\n    connection: tcp\n    hostname: 127.0.0.1\n    tcp: {port: %s, tls_verify: true, cert_path: %s}\n",
			tlsPort, badPEM),
		// The forwarding sshd, to a socket that is not there: dial-stdio
		// fails too, so it is a missing socket, not forbidden forwarding.
		"nosock": fmt.Sprintf("  nosock:\n    hostname: 127.0.0.1\n    port: %d\n    user: root\n    key_file: %s\n    ssh: {known_hosts: %s, remote_socket: /nonexistent/docker.sock}\n",
			f.sshd.Port, f.sshd.ClientKeyFile, f.sshd.KnownHostsFile),
		"badpass": fmt.Sprintf("  badpass:\n    hostname: 127.0.0.1\n    port: %d\n    user: root\n    ssh: {password_file: %s, known_hosts: %s, remote_socket: %s}\n",
			f.sshd.Port, pw, f.sshd.KnownHostsFile, sock(f.sshHost)),
	}
	var b strings.Builder
	b.WriteString("hosts:\n")
	for _, e := range entries {
		b.WriteString(all[e])
	}
	path := filepath.Join(f.dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFleet watches hosts over a unix socket, TCP with TLS, SSH with socket
// forwarding and SSH with dial-stdio, next to hosts that hang or refuse us,
// and takes hosts and servers away and back.
func TestFleet(t *testing.T) {
	f := startFleet(t)
	for _, d := range []*testlab.Daemon{f.unix, f.tls} {
		d.Run(t, "twin", nil)
	}
	f.sshHost.Run(t, "via-ssh", nil)

	config := f.hostsFile(t, "hosts.yml", "unix", "tls", "ssh", "stdio", "hang", "badkey", "nokh", "badcert", "badpass", "badpem", "nosock")
	// --docker.timeout bounds the hung host's connect: scrapes do not count
	// their own deadline against a host, its event goroutine does.
	e := testlab.StartExporter(t, testlab.ExporterBinary(t), nil, "--config.file="+config, "--log.level=debug",
		"--docker.retry-initial-delay=1s", "--docker.retry-max-delay=2s", "--docker.timeout=15s", "--web.enable-lifecycle")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("exporter log:\n%s", e.Logs())
		}
	})
	url := e.URL + "/metrics"
	// Every scrape gives the hung host a third of its deadline: 3s keeps the
	// test short, and the client, like Prometheus, fails a scrape that
	// overruns its timeout.
	scrape := func() metrics { return scrapeWithTimeout(t, url, "3") }
	up := func(m metrics, host string) float64 { v, _ := m.get("docker_host_up", lbl("host", host)); return v }

	var m metrics
	stream := func(m metrics, host string) float64 {
		v, _ := m.get("docker_host_events_stream_up", lbl("host", host))
		return v
	}
	waitUntil(t, 60*time.Second, "every reachable host up and synced", func() bool {
		m = scrape()
		for _, h := range []string{"unix", "tls", "ssh", "stdio"} {
			if up(m, h) != 1 || stream(m, h) != 1 {
				return false
			}
		}
		return true
	})
	// Each host that cannot be reached is down with its reason; a host
	// whose certificate files do not parse is one of them, not the end of
	// the exporter.
	reasons := map[string]string{"hang": "timeout", "badkey": "host_key", "nokh": "host_key", "badcert": "tls", "badpass": "auth",
		"badpem": "tls", "nosock": "refused"}
	waitUntil(t, 60*time.Second, "every unreachable host down with its reason", func() bool {
		m = scrape()
		for host, reason := range reasons {
			if v, _ := m.get("docker_monitor_connection_errors_total", lbl("host", host, "reason", reason)); v < 1 || up(m, host) != 0 {
				return false
			}
		}
		return true
	})
	for host := range reasons {
		if m.count("docker_monitor_connection_errors_total", lbl("host", host)) != 1 {
			t.Errorf("host %s: connection errors of more than its one reason %s", host, reasons[host])
		}
	}
	// A missing remote socket is reported as one, with the socket's path,
	// and no claim that the server forbids forwarding.
	logs := strings.Split(e.Logs(), "\n")
	if !slices.ContainsFunc(logs, func(l string) bool {
		return strings.Contains(l, "host=nosock") && strings.Contains(l, "remote socket /nonexistent/docker.sock")
	}) {
		t.Errorf("no log line of host nosock names its missing remote socket")
	}
	if slices.ContainsFunc(logs, func(l string) bool {
		return strings.Contains(l, "host=nosock") && strings.Contains(l, "refuses socket forwarding")
	}) {
		t.Errorf("host nosock is said to refuse socket forwarding; its socket is missing")
	}
	if slices.ContainsFunc(logs, func(l string) bool {
		return strings.Contains(l, "/var/run/docker.sock") || strings.Contains(l, "%2F") || strings.Contains(l, f.sshd.ClientKeyFile)
	}) {
		t.Errorf("a log line names a socket the hosts file does not, a made-up URL, or a key file's path")
	}
	// The hung host costs the others nothing: their stats are complete.
	for _, h := range []string{"unix", "tls"} {
		if n := m.count("docker_container_cpu_usage_seconds_total", lbl("host", h, "name", "twin")); n != 1 {
			t.Errorf("host %s: %d CPU series for twin next to a hung host, want 1", h, n)
		}
	}
	expect(t, m, "docker_monitor_scrape_collector_success", lbl("collector", "stats"), 1)
	// A same-named container on two hosts stays two containers.
	expect(t, m, "docker_container_state", lbl("host", "unix", "name", "twin", "state", "running"), 1)
	expect(t, m, "docker_container_state", lbl("host", "tls", "name", "twin", "state", "running"), 1)
	expect(t, m, "docker_container_state", lbl("host", "ssh", "name", "via-ssh", "state", "running"), 1)
	expect(t, m, "docker_container_state", lbl("host", "stdio", "name", "via-ssh", "state", "running"), 1)
	expect(t, m, "docker_host_connection_info", lbl("host", "ssh", "connection", "ssh"), 1)
	expect(t, m, "docker_host_info", lbl("host", "unix", "site", "lab"), 1)
	// The server offers its RSA key first to a client that knows none of
	// its keys, so the fingerprint logged is that one's, not HostKeyFingerprint.
	if !slices.ContainsFunc(strings.Split(e.Logs(), "\n"), func(l string) bool {
		return strings.Contains(l, "SSH host key unknown: add it to known_hosts") && strings.Contains(l, "presented=SHA256:")
	}) {
		t.Errorf("no log line tells how to add the unknown host key, with its fingerprint")
	}
	if !strings.Contains(e.Logs(), "dial-stdio") {
		t.Errorf("no log line says the stdio host fell back to dial-stdio")
	}
	for _, secret := range []string{"hunter2-not-the-password", readFile(t, f.sshd.PassphraseFile)} {
		if strings.Contains(e.Logs(), secret) || strings.Contains(fmt.Sprint(m), secret) {
			t.Errorf("a secret appears in the logs or metrics")
		}
	}

	// Kill one daemon: its host is down at the next scrape, the others are
	// not, and the scrape ends inside its deadline despite the hung host.
	f.tls.Stop(t)
	m = scrape()
	expect(t, m, "docker_host_up", lbl("host", "tls"), 0)
	expect(t, m, "docker_host_up", lbl("host", "unix"), 1)
	expect(t, m, "docker_host_up", lbl("host", "ssh"), 1)
	f.tls.Restart(t)
	f.tls.Create(t, "born-while-away", nil)
	waitUntil(t, 60*time.Second, "the TLS host back with the new container", func() bool {
		m = scrape()
		return up(m, "tls") == 1 && m.count("docker_container_info", lbl("host", "tls", "name", "born-while-away")) == 1
	})

	// Kill and restart the sshd: the SSH host recovers by itself.
	f.sshd.Stop(t)
	waitUntil(t, 30*time.Second, "the SSH host to go down", func() bool { return up(scrape(), "ssh") == 0 })
	f.sshd.Restart(t)
	waitUntil(t, 60*time.Second, "the SSH host to come back", func() bool {
		m = scrape()
		return up(m, "ssh") == 1 && stream(m, "ssh") == 1
	})

	// Reload: remove hang, badcert, badpass, badpem and nosock, add a host, change tls;
	// unix stays as it is, so its connection, cache and counters survive.
	f.unix.Run(t, "fleet-events", nil)
	var before float64
	waitUntil(t, 30*time.Second, "the unix host to count a start event", func() bool {
		before, _ = scrape().get("docker_events_total", lbl("host", "unix", "type", "container", "action", "start"))
		return before >= 1
	})
	if err := os.WriteFile(config, []byte(readFile(t, f.hostsFile(t, "next.yml", "unix", "tls-changed", "ssh", "stdio", "badkey", "added"))), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(e.PID, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "removed hosts to vanish, the added one to sync, the changed one to reconnect", func() bool {
		m = scrape()
		return m.count("docker_host_up", lbl("host", "badcert")) == 0 && m.count("docker_host_up", lbl("host", "hang")) == 0 &&
			m.count("docker_container_info", lbl("host", "added", "name", "via-ssh")) == 1 &&
			m.count("docker_host_info", lbl("host", "tls", "role", "changed")) == 1
	})
	expect(t, m, "docker_monitor_config_last_reload_successful", nil, 1)
	if n := m.count("docker_monitor_connection_errors_total", lbl("host", "badpass")); n != 0 {
		t.Errorf("removed host badpass still has %d connection error series", n)
	}
	if after, _ := m.get("docker_events_total", lbl("host", "unix", "type", "container", "action", "start")); after < before || before == 0 {
		t.Errorf("unchanged host's event counter went from %v to %v", before, after)
	}
	expect(t, m, "docker_host_up", lbl("host", "unix"), 1)

	// An invalid file changes nothing.
	if err := os.WriteFile(config, []byte("hosts:\n  unix:\n    colour: blue\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(e.URL+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), `unknown field "colour"`) {
		t.Errorf("POST /-/reload of an invalid file: %d %q, want 500 naming the unknown field", resp.StatusCode, body)
	}
	for _, secret := range []string{"hunter2-not-the-password", readFile(t, f.sshd.PassphraseFile)} {
		if strings.Contains(string(body), secret) || strings.Contains(e.Logs(), secret) {
			t.Errorf("a secret appears in the reload answer or the logs")
		}
	}
	m = scrape()
	expect(t, m, "docker_monitor_config_last_reload_successful", nil, 0)
	for _, h := range []string{"unix", "tls", "ssh", "stdio", "added"} {
		expect(t, m, "docker_host_up", lbl("host", h), 1)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
