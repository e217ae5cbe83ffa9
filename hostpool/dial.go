package hostpool

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"time"
)

// Connection types.
const (
	Local = "local"
	SSH   = "ssh"
	TCP   = "tcp"
)

// Spec names one host to watch and says how to reach it.
type Spec struct {
	Name       string // the host label
	Connection string // Local, SSH or TCP
	Endpoint   string // DOCKER_HOST-style, for logs and docker_host_connection_info
	Address    string // Local: the socket path; TCP and SSH: host:port
	// BackendHost is the address at which the host's published ports are
	// reached; empty: DefaultBackendHost(Endpoint).
	BackendHost string
	Labels      map[string]string // exported on docker_host_info
	TLS         *TLSSpec          // TCP only; nil for plain HTTP
	SSH         SSHSpec           // SSH only
	// MaxConnections caps the requests in flight to this host (0: the
	// pool's MaxConcurrent).
	MaxConnections int
}

// SpecFromEndpoint is the spec for a DOCKER_HOST-style URI without TLS
// (unix:// or tcp://).
func SpecFromEndpoint(name, endpoint string) (Spec, error) {
	network, addr, err := ParseEndpoint(endpoint)
	if err != nil {
		return Spec{}, err
	}
	s := Spec{Name: name, Endpoint: endpoint, Address: addr, Connection: Local}
	if network == "tcp" {
		s.Connection = TCP
	}
	return s, nil
}

// TLSSpec says how to verify a TCP daemon and what to present to it.
type TLSSpec struct {
	CertPath   string // ca.pem, cert.pem, key.pem as DOCKER_CERT_PATH
	ServerName string
	Verify     bool
}

// equal reports whether a reload leaves the host as it is.
func (s Spec) equal(o Spec) bool { return reflect.DeepEqual(s, o) }

// clientHost is the host the moby client builds request URLs from; the
// transport's dialer decides where connections really go.
func (s Spec) clientHost() string {
	if s.Connection == TCP {
		return "tcp://" + s.Address
	}
	return "unix:///var/run/docker.sock"
}

func (s Spec) dialer(timeout time.Duration, log *slog.Logger) (func(context.Context) (net.Conn, error), func(), error) {
	nd := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	switch s.Connection {
	case Local:
		return func(ctx context.Context) (net.Conn, error) { return nd.DialContext(ctx, "unix", s.Address) }, func() {}, nil
	case TCP:
		return func(ctx context.Context) (net.Conn, error) { return nd.DialContext(ctx, "tcp", s.Address) }, func() {}, nil
	case SSH:
		ssh := s.SSH
		if ssh.Timeout <= 0 {
			ssh.Timeout = timeout
		}
		d := newSSHDialer(ssh, log)
		return d.dial, d.close, nil
	}
	return nil, nil, fmt.Errorf("host %s: unknown connection %q", s.Name, s.Connection)
}

// TLSFromDir builds a client TLS config from a directory in Docker's
// layout (ca.pem, cert.pem, key.pem; each optional), as DOCKER_CERT_PATH.
func TLSFromDir(dir, serverName string, verify bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName, InsecureSkipVerify: !verify} //nolint:gosec // tls_verify: false is the user's explicit choice
	if dir == "" {
		return cfg, nil
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	switch {
	case err == nil:
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("%s: no certificate found", filepath.Join(dir, "ca.pem"))
		}
		cfg.RootCAs = pool
	case !os.IsNotExist(err):
		return nil, err
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if _, err := os.Stat(certFile); err == nil {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s: %w", certFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// DefaultBackendHost is where a host's published ports are reached when
// nothing says otherwise: the loopback address for the local daemon, else
// the daemon's host name.
func DefaultBackendHost(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme == "unix" || u.Hostname() == "" {
		return "127.0.0.1"
	}
	return u.Hostname()
}
