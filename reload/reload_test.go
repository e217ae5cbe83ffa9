package reload

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/dockerfake"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// lab is a running pool and a Reloader whose next load returns what the
// test sets.
type lab struct {
	pool *hostpool.Pool
	r    *Reloader
	reg  *prometheus.Registry

	mu   sync.Mutex
	next []config.Host
	err  error
}

func newLab(t *testing.T, hosts ...config.Host) *lab {
	t.Helper()
	l := &lab{reg: prometheus.NewRegistry(), next: hosts}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool, err := hostpool.New(hosts, hostpool.DefaultOptions, hostpool.NewMetrics(l.reg), log)
	if err != nil {
		t.Fatal(err)
	}
	l.pool = pool
	l.r = New(l.load, pool, l.reg, log)
	return l
}

func (l *lab) load() ([]config.Host, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next, l.err
}

func (l *lab) set(hosts []config.Host, err error) {
	l.mu.Lock()
	l.next, l.err = hosts, err
	l.mu.Unlock()
}

func (l *lab) aliases() []string {
	var out []string
	for _, h := range l.pool.Hosts() {
		out = append(out, h.Alias)
	}
	return out
}

func fakeHost(t *testing.T, alias string) config.Host {
	t.Helper()
	fake := dockerfake.StartT(t)
	return testlab.Host(t, alias, fake.Host)
}

// A reload applies the new hosts; one that fails to load keeps the running
// ones and says so in the gauge; a host whose certificate files do not
// parse is taken in (it is down with reason tls), not a failed reload.
func TestReload(t *testing.T) {
	a, b := fakeHost(t, "a"), fakeHost(t, "b")
	l := newLab(t, a)
	t.Cleanup(l.pool.Stop)
	success := func() float64 { return testutil.ToFloat64(l.r.success) }

	l.set([]config.Host{a, b}, nil)
	if err := l.r.Reload(); err != nil || strings.Join(l.aliases(), ",") != "a,b" {
		t.Fatalf("reload adding b: %v, hosts %v", err, l.aliases())
	}

	l.set(nil, errors.New("hosts.yml:3: unknown field"))
	if err := l.r.Reload(); err == nil || success() != 0 || strings.Join(l.aliases(), ",") != "a,b" {
		t.Fatalf("failed load: err %v, success %v, hosts %v; want an error, 0, a,b", err, success(), l.aliases())
	}

	dir := t.TempDir()
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("not PEM\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bad := config.Host{Alias: "badpem", Connection: config.ConnTCP, Address: "127.0.0.1", Port: 1, Enabled: true,
		Endpoint: "tcp://127.0.0.1:1", TCP: config.TCP{TLSVerify: true, CertPath: dir}}
	l.set([]config.Host{a, bad}, nil)
	if err := l.r.Reload(); err != nil || success() != 1 || strings.Join(l.aliases(), ",") != "a,badpem" {
		t.Fatalf("reload with a bad-PEM host: %v, success %v, hosts %v; want it taken in", err, success(), l.aliases())
	}
}

// POST /-/reload works only where the lifecycle API is enabled, as in
// Prometheus; the answer names what failed.
func TestHandler(t *testing.T) {
	a := fakeHost(t, "a")
	l := newLab(t, a)
	t.Cleanup(l.pool.Stop)
	for _, tc := range []struct {
		enabled bool
		method  string
		loadErr error
		want    int
		body    string
	}{
		{false, http.MethodPost, nil, http.StatusForbidden, "--web.enable-lifecycle"},
		{true, http.MethodGet, nil, http.StatusMethodNotAllowed, "POST"},
		{true, http.MethodPost, nil, http.StatusOK, "Reloaded"},
		{true, http.MethodPut, nil, http.StatusOK, "Reloaded"},
		{true, http.MethodPost, errors.New(`hosts.yml:2: unknown field "colour"`), http.StatusInternalServerError, `unknown field "colour"`},
	} {
		l.set([]config.Host{a}, tc.loadErr)
		srv := httptest.NewServer(l.r.Handler(tc.enabled))
		req, _ := http.NewRequest(tc.method, srv.URL, nil)
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != tc.want || !strings.Contains(string(b), tc.body) {
			t.Errorf("enabled %v %s (load error %v): %d %q, want %d and %q", tc.enabled, tc.method, tc.loadErr, resp.StatusCode, b, tc.want, tc.body)
		}
	}
}
