package hostpool

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"golang.org/x/crypto/ssh"
)

// newClient builds a Docker API client whose transport we own, so that every
// request is timed per endpoint and every connection to the daemon is counted;
// the moby client's own transport exposes neither.
//
// The moby client replaces refused and timed-out dials with a generic
// "cannot connect" error, so the dialer keeps the last dial error for
// classifying failures by reason.
func newClient(spec Spec, opts Options, m *Metrics, log *slog.Logger, closed *atomic.Bool) (*client.Client, *http.Transport, *dialErrors, func(), error) {
	dial, closeDialer, err := spec.dialer(opts.Timeout, log)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	var tlsConfig *tls.Config
	if spec.TLS != nil {
		if tlsConfig, err = TLSFromDir(spec.TLS.CertPath, spec.TLS.ServerName, spec.TLS.Verify); err != nil {
			closeDialer()
			return nil, nil, nil, nil, fmt.Errorf("host %s: tls: %w", spec.Name, err)
		}
	}
	dialErrs := &dialErrors{}
	maxConns := spec.MaxConnections
	if maxConns <= 0 {
		maxConns = opts.MaxConcurrent
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := dial(ctx)
			dialErrs.set(err)
			if err != nil {
				return nil, err
			}
			// Looked up per dial: a reload that replaces the host deletes
			// the old host's series, and with them any child held from before.
			if closed.Load() {
				c.Close()
				return nil, errors.New("host left the pool")
			}
			active := m.ActiveConnections.WithLabelValues(spec.Name)
			active.Inc()
			return &countedConn{Conn: c, dec: active.Dec}, nil
		},
		TLSClientConfig: tlsConfig,
		// Stats are fetched in parallel on every scrape: keep that many
		// connections idle so a scrape does not redial each one.
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		// One more than the cap for the event stream, which holds one.
		MaxConnsPerHost:     maxConns + 1,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: opts.Timeout,
		DisableCompression:  true,
	}
	hc := &http.Client{
		Transport: &timedTransport{base: tr, hist: m.APIRequestDuration, host: spec.Name,
			slots: make(chan struct{}, maxConns), pool: opts.pool, closed: closed},
		CheckRedirect: client.CheckRedirect,
	}
	copts := []client.Opt{client.WithHost(spec.clientHost()), client.WithHTTPClient(hc), client.WithUserAgent("docker-monitor"),
		// The client wraps every request in OpenTelemetry instrumentation;
		// nothing consumes those spans, and on a scrape of 50 containers
		// they cost about a tenth of the exporter's CPU.
		client.WithTraceOptions(otelhttp.WithFilter(func(*http.Request) bool { return false }))}
	if spec.TLS != nil {
		copts = append(copts, client.WithScheme("https"))
	}
	cli, err := client.New(copts...)
	if err != nil {
		closeDialer()
		return nil, nil, nil, nil, fmt.Errorf("host %s: %w", spec.Name, err)
	}
	return cli, tr, dialErrs, closeDialer, nil
}

// ParseEndpoint checks a DOCKER_HOST-style URI and returns where to dial.
func ParseEndpoint(host string) (network, addr string, err error) {
	u, err := client.ParseHostURL(host)
	if err != nil {
		return "", "", fmt.Errorf("docker host %q: %w", host, err)
	}
	switch u.Scheme {
	case "unix":
		addr = u.Path
		if addr == "" {
			addr = u.Host
		}
		return "unix", addr, nil
	case "tcp", "http":
		return "tcp", u.Host, nil
	}
	return "", "", fmt.Errorf("docker host %q: unsupported scheme %q (supported: unix://, tcp://)", host, u.Scheme)
}

// dialErrors remembers the outcome of the latest dial.
type dialErrors struct {
	mu   sync.Mutex
	last error
}

func (d *dialErrors) set(err error) {
	d.mu.Lock()
	d.last = err
	d.mu.Unlock()
}

// reason classifies err, looking through the client's generic connection
// error to the dial error behind it.
func (d *dialErrors) reason(err error) string {
	if client.IsErrConnectionFailed(err) {
		d.mu.Lock()
		last := d.last
		d.mu.Unlock()
		if last != nil {
			return Reason(last)
		}
	}
	return Reason(err)
}

type countedConn struct {
	net.Conn
	once sync.Once
	dec  func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.dec)
	return c.Conn.Close()
}

// timedTransport observes the time to response headers: for streaming
// endpoints (events) that is the time to open the stream, which is what a
// slow daemon shows up in. While a request waits for its headers it also
// holds a slot of its host (max_connections_per_host) and then one of the
// pool that all hosts share (connection_pool_size); the event stream, which
// never ends, is left out of both. The host's slot comes first, so requests
// queued behind a slow host wait without holding shared slots.
type timedTransport struct {
	base  http.RoundTripper
	hist  *prometheus.HistogramVec
	host  string
	slots chan struct{} // this host's; nil: unbounded
	pool  chan struct{} // all hosts'; nil: unbounded
	// closed stops observations once the host has left the pool.
	closed *atomic.Bool
}

func (t *timedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	endpoint := Endpoint(req.URL.Path)
	if endpoint != "events" {
		for _, sem := range []chan struct{}{t.slots, t.pool} {
			if sem == nil {
				continue
			}
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-req.Context().Done():
				return nil, req.Context().Err()
			}
		}
	}
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	if !t.closed.Load() {
		t.hist.WithLabelValues(t.host, endpoint).Observe(time.Since(start).Seconds())
	}
	return resp, err
}

// Endpoint maps an Engine API path to a short, bounded label value: container
// IDs in paths would otherwise make one series per container and request.
func Endpoint(path string) string {
	p := strings.Trim(path, "/")
	parts := strings.Split(p, "/")
	// Drop the "v1.41" version prefix.
	if len(parts) > 0 && strings.HasPrefix(parts[0], "v") && strings.Contains(parts[0], ".") {
		parts = parts[1:]
	}
	switch {
	case len(parts) == 0:
		return "other"
	case len(parts) == 1:
		switch parts[0] {
		case "_ping", "events", "info", "version":
			return strings.TrimPrefix(parts[0], "_")
		}
	case parts[0] == "containers" && len(parts) == 2 && parts[1] == "json":
		return "containers_list"
	case parts[0] == "containers" && len(parts) == 3:
		switch parts[2] {
		case "json":
			return "container_inspect"
		case "stats":
			return "container_stats"
		}
	case parts[0] == "images" && len(parts) == 2 && parts[1] == "json":
		return "images_list"
	}
	return "other"
}

// Reason classifies a failed Docker API call for
// docker_monitor_connection_errors_total: timeout, refused, unreachable,
// permission, reset, auth, host_key, tls, api or other. The set is closed so
// the label stays bounded.
func Reason(err error) string {
	var ne net.Error
	var (
		certErr   *tls.CertificateVerificationError
		alertErr  tls.AlertError
		recordErr tls.RecordHeaderError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		// channelErr is an SSH server's refusal to open a channel.
		channelErr *ssh.OpenChannelError
	)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrHostKey):
		return "host_key"
	case errors.Is(err, ErrAuth):
		return "auth"
	case errors.As(err, &certErr), errors.As(err, &alertErr), errors.As(err, &recordErr),
		errors.As(err, &authority), errors.As(err, &hostname):
		return "tls"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ENOENT), errors.As(err, &channelErr):
		// A unix socket that is gone (daemon stopped) is a refusal too, and
		// so is an SSH server refusing a channel to the remote socket: OpenSSH
		// answers the same whether the remote daemon is down or forwarding
		// is forbidden.
		return "refused"
	case errors.Is(err, os.ErrPermission):
		return "permission"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "unreachable"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		// A stream the daemon closed on shutdown ends in EOF.
		return "reset"
	case cerrdefs.IsNotFound(err), cerrdefs.IsInvalidArgument(err), cerrdefs.IsInternal(err), cerrdefs.IsUnavailable(err),
		cerrdefs.IsConflict(err), cerrdefs.IsPermissionDenied(err), cerrdefs.IsUnauthorized(err), cerrdefs.IsUnknown(err):
		return "api"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "unreachable"
	}
	// A TLS alert from the server ("remote error: tls: bad certificate")
	// has no exported type to match.
	if msg := err.Error(); strings.Contains(msg, "tls: ") || strings.Contains(msg, "x509: ") {
		return "tls"
	}
	return "other"
}
