package testlab_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/internal/testlab"
)

func TestStartTLS(t *testing.T) {
	t.Parallel()
	requireTool(t, "/usr/bin/curl", "curl")
	start := time.Now()
	d, f := testlab.StartTLS(t, "tls")
	t.Logf("StartTLS took %v", time.Since(start))
	host, port, err := net.SplitHostPort(f.Addr)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("Addr = %q", f.Addr)
	}
	for _, dir := range []string{f.ClientDir, f.WrongClientDir} {
		for _, name := range []string{"ca.pem", "cert.pem", "key.pem"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Errorf("%v", err)
			}
		}
		if !strings.HasPrefix(dir, d.Dir+"/") {
			t.Errorf("%s is not under the daemon's directory %s", dir, d.Dir)
		}
	}
	// The unix socket still serves.
	if v := d.Docker(t, "version", "--format", "{{.Server.Version}}"); v == "" {
		t.Error("no server version over the unix socket")
	}

	curl := func(dir string, extra ...string) (string, string, error) {
		args := []string{"-sS", "--max-time", "10", "--cacert", filepath.Join(dir, "ca.pem")}
		if dir != "" {
			args = append(args, "--cert", filepath.Join(dir, "cert.pem"), "--key", filepath.Join(dir, "key.pem"))
		}
		return run(t, "", "/usr/bin/curl", append(args, extra...)...)
	}
	checkGood := func() {
		t.Helper()
		if out, errOut, err := curl(f.ClientDir, "https://"+f.Addr+"/_ping"); err != nil || out != "OK" {
			t.Errorf("curl with the client certificate: %q, %v\n%s", out, err, errOut)
		}
	}
	checkGood()
	// The server certificate also carries the DNS name.
	if out, errOut, err := curl(f.ClientDir, "--resolve", testlab.TLSServerName+":"+port+":127.0.0.1",
		"https://"+testlab.TLSServerName+":"+port+"/_ping"); err != nil || out != "OK" {
		t.Errorf("curl by name %s: %q, %v\n%s", testlab.TLSServerName, out, err, errOut)
	}
	// A client certificate from another CA is refused in the handshake. With
	// TLS 1.2 the client sees the server's alert as a handshake failure
	// (curl exit 35). With TLS 1.3 the client's side of the handshake is
	// done before the server has checked its certificate, and the alert
	// comes with the first read, or is lost to a connection reset when the
	// server closes with the request unread: curl says exit 56 "alert bad
	// certificate" or exit 55 "Connection reset" / "getpeername() failed",
	// depending on timing.
	out, errOut, err := curl(f.WrongClientDir, "--tls-max", "1.2", "https://"+f.Addr+"/_ping")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 35 || !strings.Contains(errOut, "alert bad certificate") {
		t.Errorf("curl --tls-max 1.2 with the wrong client certificate: %q, %v, want exit 35 (handshake failure) with the server's alert\n%s", out, err, errOut)
	}
	out, errOut, err = curl(f.WrongClientDir, "https://"+f.Addr+"/_ping")
	t.Logf("curl (TLS 1.3) with the wrong client certificate: %v: %s", err, strings.TrimSpace(errOut))
	if err == nil || out == "OK" {
		t.Errorf("curl with the wrong client certificate succeeded: %q", out)
	}
	// So is no client certificate at all: the daemon runs with --tlsverify.
	if out, errOut, err := run(t, "", "/usr/bin/curl", "-sS", "--max-time", "10", "--cacert", filepath.Join(f.ClientDir, "ca.pem"), "https://"+f.Addr+"/_ping"); err == nil {
		t.Errorf("curl without a client certificate succeeded: %q %s", out, errOut)
	}

	// Go's view of the refusal, as the exporter sees it: the server's alert
	// is a *net.OpError with Op "remote error" around crypto/tls's unexported
	// alert type (tls.AlertError is only used by QUIC: errors.As with it does
	// not match). Under TLS 1.3 a connection reset may come instead.
	for _, dir := range []string{f.WrongClientDir, ""} {
		for _, maxVersion := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			cfg := tlsConfig(t, f.ClientDir)
			if dir != "" {
				cfg = tlsConfig(t, dir)
			} else {
				cfg.Certificates = nil
			}
			cfg.MaxVersion = maxVersion
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
			_, err := c.Get("https://" + f.Addr + "/_ping")
			c.CloseIdleConnections()
			var oe *net.OpError
			alert := errors.As(err, &oe) && oe.Op == "remote error" && strings.HasPrefix(oe.Err.Error(), "tls: ")
			if !alert && (maxVersion == tls.VersionTLS12 || !errors.Is(err, syscall.ECONNRESET)) {
				t.Errorf("client dir %q, TLS max %x: want a TLS alert from the server (net.OpError \"remote error\"), got %v", dir, maxVersion, err)
			} else {
				t.Logf("client dir %q, TLS max %x: %v", dir, maxVersion, err)
			}
		}
	}

	// Docker's own CLI takes ClientDir as DOCKER_CERT_PATH.
	docker := func() (string, string, error) {
		cmd := exec.Command("/usr/bin/docker", "-H", "tcp://"+f.Addr, "version", "--format", "{{.Server.Version}}")
		cmd.Env = []string{"DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=" + f.ClientDir, "DOCKER_CONFIG=" + t.TempDir(), "PATH=/usr/bin:/bin"}
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		return strings.TrimSpace(o.String()), e.String(), err
	}
	if v, errOut, err := docker(); err != nil || v == "" {
		t.Errorf("docker --tlsverify with DOCKER_CERT_PATH=ClientDir: %q, %v\n%s", v, err, errOut)
	}

	// Restart keeps the TLS listener on the same port.
	start = time.Now()
	d.Restart(t)
	t.Logf("Restart took %v", time.Since(start))
	checkGood()
}

func tlsConfig(t *testing.T, dir string) *tls.Config {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("no certificate in %s/ca.pem", dir)
	}
	cfg := &tls.Config{RootCAs: roots}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Certificates = []tls.Certificate{cert}
	return cfg
}
