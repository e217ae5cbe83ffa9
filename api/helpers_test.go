package api

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/dockerfake"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// update rewrites the golden files of the package's tests.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// restNow is the clock of the REST tests: a little after the recorded
// daemon data was taken, so that status texts read as they did then.
var restNow = time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)

// restDecoration is what a test adds to a recorded container's inspect answer:
// the recording has no RevP labels, secrets or published ports.
type restDecoration struct {
	Labels   map[string]string
	Env      []string
	Exposed  []string            // "80/tcp"
	Ports    map[string][]string // live bindings (NetworkSettings.Ports), running containers
	Bindings map[string][]string // configured bindings (HostConfig.PortBindings)
}

// restDecorations are the golden tests' additions to the recording: two
// running containers claiming one domain, a stopped one with a route, label
// problems, secret-looking labels and environment variables.
var restDecorations = map[string]restDecoration{
	"web": {
		Labels: map[string]string{
			"snadboy.revp.80.domain":                  "shop.example.com,www.shop.example.com:noredirect",
			"snadboy.revp.80.health":                  "/healthz",
			"snadboy.revp.9000.domain":                "admin.example.com",
			"snadboy.revp.80.https":                   "maybe",
			"db.password":                             "hunter2",
			"api_key":                                 "abc",
			"backup.url":                              "s3://user:pw@bucket.example.com/x",
			"com.docker.compose.project.config_files": "/srv/shop/compose.yaml",
		},
		Env:     []string{"DB_PASSWORD=hunter2", "TZ=UTC", "PASSTHROUGH"},
		Exposed: []string{"80/tcp", "443/tcp", "53/udp"},
		Ports:   map[string][]string{"80/tcp": {"8000", "8000"}, "53/udp": {"5353"}},
	},
	"healthy": {
		Labels: map[string]string{"snadboy.revp.domain": "shop.example.com", "snadboy.revp.container-port": "8080",
			"snadboy.revp.backend-host": "nas.example.com"},
		Ports: map[string][]string{"8080/tcp": {"18080"}},
	},
	"exit3": {
		Labels:   map[string]string{"snadboy.revp.80.domain": "shop.example.com"},
		Bindings: map[string][]string{"80/tcp": {"", "0"}},
	},
}

// restAPI is an API over a pool of the given hosts; with wait, once each
// has synced and follows its event stream.
func restAPI(t testing.TB, hopts hostpool.Options, opts Options, wait bool, hosts ...config.Host) (*API, *hostpool.Pool) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool, err := hostpool.New(hosts, hopts, hostpool.NewMetrics(nil), log)
	if err != nil {
		t.Fatal(err)
	}
	pool.Start(context.Background())
	t.Cleanup(pool.Stop)
	if wait {
		restWaitFor(t, "the hosts to sync", func() bool { return pool.Ready() && restStreamsUp(pool) })
	}
	a := New(pool, opts, log)
	a.now = func() time.Time { return restNow }
	t.Cleanup(a.Close)
	return a, pool
}

// restFakeServer serves the recorded Docker 20.10 daemon.
func restFakeServer(t testing.TB) *dockerfake.Server {
	t.Helper()
	fake := dockerfake.StartT(t)
	return fake
}

// restFake serves the recording, and the same decorated, as two hosts:
// "fake" and "deco".
func restFake(t testing.TB, hopts hostpool.Options, opts Options) (*API, *dockerfake.Server, *restFaults) {
	t.Helper()
	fake := restFakeServer(t)
	deco, faults := restDecorate(t, fake, restDecorations)
	a, _ := restAPI(t, hopts, opts, true, testlab.Host(t, "fake", fake.Host), testlab.Host(t, "deco", deco))
	return a, fake, faults
}

func restStreamsUp(pool *hostpool.Pool) bool {
	for _, h := range pool.Hosts() {
		if !h.Snapshot().StreamUp {
			return false
		}
	}
	return true
}

// restWaitFor polls cond; what it waits for is the pool's own goroutines.
func restWaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var inspectPath = regexp.MustCompile(`^(/v[0-9.]+)?/containers/[^/]+/json$`)

// restFaults are failures the decorating proxy can inject.
type restFaults struct {
	statsFail atomic.Bool // stats calls answer 500
}

var statsPath = regexp.MustCompile(`^(/v[0-9.]+)?/containers/[^/]+/stats$`)

// restDecorate serves fake's answers on a socket of its own, with by's
// additions merged into the inspect answers of the containers it names.
func restDecorate(t testing.TB, fake *dockerfake.Server, by map[string]restDecoration) (string, *restFaults) {
	t.Helper()
	sock := strings.TrimPrefix(fake.Host, "unix://")
	faults := &restFaults{}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "docker"
		},
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}},
		FlushInterval: -1, // the event stream
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode != http.StatusOK || !inspectPath.MatchString(resp.Request.URL.Path) {
				return nil
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			if b, err = applyDecoration(b, by); err != nil {
				return err
			}
			resp.Body = io.NopCloser(strings.NewReader(string(b)))
			resp.ContentLength = int64(len(b))
			resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
			return nil
		},
	}
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "deco.sock"))
	if err != nil {
		t.Fatal(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if faults.statsFail.Load() && statsPath.MatchString(r.URL.Path) {
			http.Error(w, `{"message":"injected failure"}`, http.StatusInternalServerError)
			return
		}
		proxy.ServeHTTP(w, r)
	})
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: handler}}
	srv.Start()
	t.Cleanup(srv.Close)
	return "unix://" + ln.Addr().String(), faults
}

func applyDecoration(b []byte, by map[string]restDecoration) ([]byte, error) {
	var in map[string]any
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, err
	}
	name, _ := in["Name"].(string)
	d, ok := by[strings.TrimPrefix(name, "/")]
	if !ok {
		return b, nil
	}
	cfg := jsonObject(in, "Config")
	labels := jsonObject(cfg, "Labels")
	for k, v := range d.Labels {
		labels[k] = v
	}
	env, _ := cfg["Env"].([]any)
	for _, e := range d.Env {
		env = append(env, e)
	}
	cfg["Env"] = env
	exposed := jsonObject(cfg, "ExposedPorts")
	for _, p := range d.Exposed {
		exposed[p] = map[string]any{}
	}
	jsonBind(jsonObject(jsonObject(in, "NetworkSettings"), "Ports"), d.Ports)
	jsonBind(jsonObject(jsonObject(in, "HostConfig"), "PortBindings"), d.Bindings)
	return json.Marshal(in)
}

// jsonObject is m[key] as an object, made if absent or null.
func jsonObject(m map[string]any, key string) map[string]any {
	o, ok := m[key].(map[string]any)
	if !ok {
		o = map[string]any{}
		m[key] = o
	}
	return o
}

func jsonBind(ports map[string]any, bindings map[string][]string) {
	for p, hps := range bindings {
		var list []any
		for _, hp := range hps {
			list = append(list, map[string]any{"HostIp": "0.0.0.0", "HostPort": hp})
		}
		ports[p] = list
	}
}

// restGet answers a GET of path (under Prefix) from a.
func restGet(t testing.TB, a *API, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Prefix+path, nil))
	return rec
}

// restGetJSON answers a GET of path, decoded into v; the status must be want.
func restGetJSON(t testing.TB, a *API, path string, want int, v any) {
	t.Helper()
	rec := restGet(t, a, path)
	if rec.Code != want {
		t.Fatalf("GET %s: %d %s, want %d", path, rec.Code, rec.Body, want)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, rec.Body)
	}
}

// restWantError checks that GET path answers status with a JSON error whose
// message contains every one of parts.
func restWantError(t testing.TB, a *API, path string, status int, parts ...string) {
	t.Helper()
	var e Error
	restGetJSON(t, a, path, status, &e)
	if e.Status != status {
		t.Errorf("GET %s: body status %d, want %d", path, e.Status, status)
	}
	for _, p := range parts {
		if !strings.Contains(e.Error, p) {
			t.Errorf("GET %s: error %q does not say %q", path, e.Error, p)
		}
	}
}

func containerNames(cs []Container) string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%s/%s", c.Host, c.Name))
	}
	return strings.Join(out, " ")
}
