package hostpool

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/snadboy/docker-monitor/config"
)

// ErrTLSFiles marks a TCP host whose certificate files do not load: the
// host is down for reason tls until the hosts file points at good ones.
var ErrTLSFiles = errors.New("TLS files do not load")

// maxCredentialFile bounds what is read of one key, certificate, password
// or known_hosts file: real ones are a few KiB, and a path that names a
// huge file by mistake must not exhaust memory.
const maxCredentialFile = 1 << 20

// dialer returns how to open one connection to h's daemon, and what to close
// when h leaves the pool. A host that cannot be set up (setupErr) still gets
// a dialer, one that fails with that error: the host is down with a reason
// while every other host runs, as it would be for a daemon that is away.
func dialer(h config.Host, setupErr error, timeout time.Duration, log *slog.Logger) (func(context.Context) (net.Conn, error), func()) {
	if setupErr != nil {
		return func(context.Context) (net.Conn, error) { return nil, setupErr }, func() {}
	}
	nd := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	switch h.Connection {
	case config.ConnSSH:
		d := newSSHDialer(h, timeout, log)
		return d.dial, d.close
	case config.ConnTCP:
		return func(ctx context.Context) (net.Conn, error) { return nd.DialContext(ctx, "tcp", h.DialAddr()) }, func() {}
	}
	return func(ctx context.Context) (net.Conn, error) { return nd.DialContext(ctx, "unix", h.Address) }, func() {}
}

// clientHost is the host the moby client builds request URLs from; the
// transport's dialer decides where connections really go.
func clientHost(h config.Host) string {
	switch h.Connection {
	case config.ConnTCP:
		return "tcp://" + h.DialAddr()
	case config.ConnSSH:
		return "unix://" + h.SSH.RemoteSocket
	}
	return "unix://" + h.Address
}

// usesTLS says whether h talks TLS to its daemon.
func usesTLS(h config.Host) bool {
	return h.Connection == config.ConnTCP && (h.TCP.TLSVerify || h.TCP.CertPath != "")
}

// tlsConfig builds the client TLS configuration of a TCP host from its
// cert_path in Docker's layout (ca.pem, cert.pem, key.pem; each optional, as
// with DOCKER_CERT_PATH). The server name is set here, not left to the
// request URL, so that it is what the hosts file says whatever URL the
// client builds.
func tlsConfig(h config.Host) (*tls.Config, error) {
	name := h.TCP.ServerName
	if name == "" {
		name = h.Address
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: name, InsecureSkipVerify: !h.TCP.TLSVerify} //nolint:gosec // tls_verify: false is the user's explicit choice
	dir := h.TCP.CertPath
	if dir == "" {
		return cfg, nil
	}
	fail := func(file string, err error) error {
		return fmt.Errorf("%w: tcp.cert_path %s: %s: %v", ErrTLSFiles, dir, file, err)
	}
	ca, err := readOptional(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, fail("ca.pem", err)
	}
	if ca != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fail("ca.pem", errors.New("no PEM certificate in it"))
		}
		cfg.RootCAs = pool
	}
	cert, err := readOptional(filepath.Join(dir, "cert.pem"))
	switch {
	case err != nil:
		return nil, fail("cert.pem", err)
	case cert == nil:
		return cfg, nil
	}
	key, err := config.ReadFile(filepath.Join(dir, "key.pem"), maxCredentialFile)
	if err != nil {
		return nil, fail("key.pem", err)
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		// X509KeyPair's errors say which of the two is wrong and never
		// quote the key.
		return nil, fail("cert.pem and key.pem", err)
	}
	cfg.Certificates = []tls.Certificate{pair}
	return cfg, nil
}

// readOptional reads a file that may be missing (nil, nil).
func readOptional(path string) ([]byte, error) {
	b, err := config.ReadFile(path, maxCredentialFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}
