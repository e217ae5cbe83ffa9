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
	"net/url"
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
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/crypto/ssh"

	"github.com/snadboy/docker-monitor/config"
)

// newClient builds a Docker API client whose transport we own, so that every
// request is timed per endpoint and every connection to the daemon is counted;
// the moby client's own transport exposes neither. It never fails: a host
// whose TLS files do not load gets a client whose every dial fails with
// that error, so that it is down with reason tls and no other host is held
// up (see dialer).
func newClient(h config.Host, opts Options, m *Metrics, log *slog.Logger, closed *atomic.Bool) (*client.Client, *http.Transport, func()) {
	var (
		tlsCfg   *tls.Config
		setupErr error
	)
	if usesTLS(h) {
		tlsCfg, setupErr = tlsConfig(h)
	}
	host := clientHost(h)
	if _, err := client.ParseHostURL(host); err != nil {
		// Not reached for a validated host; kept so that no host name can
		// stop the process: the host is down with this error instead, and
		// the client gets a constant URL that always parses.
		setupErr = errors.Join(setupErr, fmt.Errorf("endpoint %s: %w", h.Endpoint, err))
		host = placeholderHost
	}
	dial, closeDialer := dialer(h, setupErr, opts.Timeout, log)
	maxConns := opts.MaxConcurrent
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := dial(ctx)
			if err != nil {
				return nil, err
			}
			// Looked up per dial: a reload that replaces the host deletes
			// the old host's series, and with them any child held from before.
			if closed.Load() {
				c.Close()
				return nil, errors.New("host left the pool")
			}
			active := m.ActiveConnections.WithLabelValues(h.Alias)
			active.Inc()
			return &countedConn{Conn: c, dec: active.Dec}, nil
		},
		TLSClientConfig: tlsCfg,
		// Stats are fetched in parallel on every scrape: keep that many
		// connections idle so a scrape does not redial each one.
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		// One more than the cap for the event stream, which holds one.
		MaxConnsPerHost:     maxConns + 1,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: opts.Timeout,
		DisableCompression:  true,
		// A request is a GET line and a few headers; every connection kept
		// for the stats calls holds this buffer (10,000 of them for ten
		// hosts of 1,000 containers), and the default is 4 KiB.
		WriteBufferSize: 1024,
	}
	hc := &http.Client{
		Transport: &timedTransport{base: tr, hist: m.APIRequestDuration, host: h.Alias,
			slots: make(chan struct{}, maxConns), pool: opts.pool, closed: closed},
		CheckRedirect: client.CheckRedirect,
	}
	copts := []client.Opt{client.WithHost(host), client.WithHTTPClient(hc), client.WithUserAgent("docker-monitor"),
		// The client's own otelhttp instrumentation makes a span per Engine
		// API call; with tracing off the provider is the no-op one, so none
		// is recorded. The host attribute tells the hosts' calls apart, as
		// their URLs all name the same placeholder host.
		client.WithTraceProvider(opts.TracerProvider),
		client.WithTraceOptions(otelhttp.WithSpanOptions(trace.WithAttributes(attrHost.String(h.Alias))),
			// The client names spans by path, which holds container IDs:
			// one name per container and call. The endpoint is bounded.
			otelhttp.WithSpanNameFormatter(func(_ string, req *http.Request) string {
				return "docker " + Endpoint(req.URL.Path)
			}))}
	if !opts.tracing {
		// A no-op provider still runs otelhttp's request clone, attributes
		// and propagation on every call: about 20 allocations a call, +7%
		// of a 50-container scrape's bytes (BenchmarkScrapeFake50).
		copts = append(copts, client.WithTraceOptions(otelhttp.WithFilter(func(*http.Request) bool { return false })))
	}
	if usesTLS(h) {
		copts = append(copts, client.WithScheme("https"))
	}
	// The options above fail only on a host URL, and host parses.
	cli, _ := client.New(copts...)
	return cli, tr, closeDialer
}

// placeholderHost is the client URL of a host whose own does not parse;
// its dialer fails before anything is sent to it.
const placeholderHost = "tcp://docker.invalid:2375"

// rawErr holds the transport's own error for one API call. The Docker
// client replaces some transport errors with a message of its own naming
// the host it builds URLs for ("Cannot connect to the Docker daemon at
// unix:///var/run/docker.sock"), which behind our dialer is not where the
// connection went; the transport's error says what really happened.
type rawErr struct {
	mu  sync.Mutex
	err error
}

type rawErrKey struct{}

func (r *rawErr) set(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

func (r *rawErr) get() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// CallError is a failed call to a host's daemon. Its message names the host
// by alias and real endpoint. Err is the transport's error where there is
// one, else the Docker client's: it is what errors.Is and Reason look at.
type CallError struct {
	Host, Endpoint, Op string
	Err                error
}

func (e *CallError) Error() string {
	return fmt.Sprintf("host %s (%s): %s: %s", e.Host, e.Endpoint, e.Op, describe(e.Err))
}

func (e *CallError) Unwrap() error { return e.Err }

// describe drops the request URL that net/http puts before a transport
// error: for a unix socket or an SSH host it is a made-up one
// (http://%2Fvar%2Frun%2Fdocker.sock/v1.41/_ping).
func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// call runs one API call of h and describes its failure (see CallError).
func call[T any](ctx context.Context, h *Host, op string, fn func(context.Context) (T, error)) (T, error) {
	raw := &rawErr{}
	v, err := fn(context.WithValue(ctx, rawErrKey{}, raw))
	if err != nil {
		return v, h.callError(op, err, raw.get())
	}
	return v, nil
}

// callError prefers the transport's error (raw) to the client's, unless
// the client's says more: an answer from the daemon has no transport error,
// and a deadline is reported as such by both.
func (h *Host) callError(op string, err, raw error) error {
	if raw == nil {
		raw = err
	}
	return &CallError{Host: h.Alias, Endpoint: h.Endpoint, Op: op, Err: raw}
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
	// The span is the client's otelhttp span of this call (not recording
	// with tracing off, when this costs nothing).
	if span := trace.SpanFromContext(req.Context()); span.IsRecording() {
		span.SetAttributes(attrEndpoint.String(endpoint))
	}
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	if raw, ok := req.Context().Value(rawErrKey{}).(*rawErr); ok && err != nil {
		raw.set(err)
	}
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
// permission, reset, auth, host_key, tls, stalled, api or other. The set is closed so
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
	case errors.Is(err, ErrTLSFiles):
		return "tls"
	case errors.Is(err, ErrStreamStalled):
		return "stalled"
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
