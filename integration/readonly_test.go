package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/crypto/bcrypt"

	"github.com/snadboy/docker-monitor/api"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// Both tests here run the exporter binary as it ships, with its flags.

// TestReadOnlyEngineAPI proves docker-monitor read-only: a recording proxy
// sits between the binary and a real daemon while every API endpoint is
// called (and a write method on each), /metrics is scraped with
// --revp.probe, both kinds of event stream follow a container's life, the
// hosts file is reloaded and the exporter shuts down; only GET and HEAD
// may reach the Engine API.
func TestReadOnlyEngineAPI(t *testing.T) {
	d := testlab.Shared(t)
	rec := testlab.StartRecorder(t, d)
	webID := d.Run(t, "ro-web", []string{"-p", "127.0.0.1::80",
		"--label", "snadboy.revp.80.domain=ro-web.test", "--label", "snadboy.revp.80.health=/"}, "serve", "80")
	d.Run(t, "ro-healthy", []string{"--health-cmd", "/fixture healthcheck", "--health-interval", "1s"})
	d.Run(t, "ro-exited", nil, "exit", "1")
	d.Docker(t, "wait", "ro-exited")
	hosts := roHosts{path: filepath.Join(t.TempDir(), "hosts.yml"), socket: rec.Socket}
	hosts.write(t, "ro")
	exp := testlab.StartExporter(t, testlab.ExporterBinary(t), nil, "--config.file="+hosts.path,
		"--web.enable-lifecycle", "--revp.probe", "--docker.retry-initial-delay=1s", "--docker.retry-max-delay=2s",
		// Every call the exporter can make, the stats call included: the
		// cgroup files would answer for it.
		"--stats.source=api")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("exporter log:\n%s", tail(exp.Logs(), 80))
		}
	})
	waitUntil(t, 60*time.Second, "the exporter to be ready", func() bool {
		resp, err := http.Get(exp.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})

	events := exp.URL + api.Prefix + "/events"
	ws := dialWS(t, "websocket", events)
	sse := dialSSE(t, "sse", events)
	markStreams(t, d, ws, sse)
	callEveryEndpoint(t, exp.URL, webID)
	m := scrapeURL(t, exp.URL+"/metrics")
	expect(t, m, "revp_route_probe_success", lbl("host", "ro", "container", "ro-web", "port", "80"), 1)

	id := d.Create(t, "ro-life", nil)
	d.Docker(t, "start", id)
	d.Docker(t, "stop", "-t", "5", id)
	d.Docker(t, "rm", id)
	for _, c := range []*streamClient{ws, sse} {
		c.waitFor(t, 30*time.Second, "ro-life's destroy", func(ms []streamMsg) bool {
			return hasActions(ms, id, "create", "start", "die", "destroy")
		})
	}

	hosts.reload(t, exp)
	callEveryEndpoint(t, exp.URL, webID)
	scrapeURL(t, exp.URL+"/metrics")
	if err := exp.Stop(); err != nil {
		t.Errorf("exporter exit: %v", err)
	}
	checkOnlyReads(t, rec)
}

// roHosts is the hosts file of TestReadOnlyEngineAPI: each host reaches
// the daemon through the recorder.
type roHosts struct{ path, socket string }

// write names the hosts, each labelled with how many there are.
func (h roHosts) write(t *testing.T, aliases ...string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("hosts:\n")
	for _, a := range aliases {
		fmt.Fprintf(&b, "  %s:\n    connection: local\n    socket: %s\n    labels: {round: %q}\n", a, h.socket, fmt.Sprint(len(aliases)))
	}
	if err := os.WriteFile(h.path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// reload changes host ro (a new label value: it reconnects), adds ro2,
// and reloads with POST /-/reload.
func (h roHosts) reload(t *testing.T, exp *testlab.Exporter) {
	t.Helper()
	h.write(t, "ro", "ro2")
	resp, err := http.Post(exp.URL+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /-/reload: %d", resp.StatusCode)
	}
	waitUntil(t, 60*time.Second, "ro and ro2 up after the reload", func() bool {
		var list api.HostList
		getJSON(t, exp.URL+api.Prefix+"/hosts", &list)
		up := 0
		for _, h := range list.Hosts {
			if h.Status == "up" && h.Labels["round"] == "2" {
				up++
			}
		}
		return up == 2
	})
}

// checkOnlyReads fails for any request but GET or HEAD that the recorder
// saw, and logs them all.
func checkOnlyReads(t *testing.T, rec *testlab.Recorder) {
	t.Helper()
	patterns := rec.Patterns()
	withQuery := map[string]int{}
	for _, r := range rec.Requests() {
		withQuery[r.Pattern()+queryKeys(r.Query)]++
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			t.Errorf("%s %s%s reached the Engine API", r.Method, r.Path, queryKeys(r.Query))
		}
		if r.Upgrade != "" {
			t.Errorf("%s %s asked to upgrade its connection (%q)", r.Method, r.Path, r.Upgrade)
		}
	}
	t.Logf("Engine API requests through the recorder (count, method, path, query parameters):\n%s", testlab.FormatPatterns(withQuery))
	// The recorder was in the path of everything the exporter does.
	for _, want := range []string{"GET /v{api}/info", "GET /v{api}/events", "GET /v{api}/containers/json",
		"GET /v{api}/containers/{id}/json", "GET /v{api}/containers/{id}/stats"} {
		if patterns[want] == 0 {
			t.Errorf("no %s recorded: the recorder missed some of the exporter's calls", want)
		}
	}
	if patterns["GET /_ping"]+patterns["HEAD /_ping"] == 0 {
		t.Errorf("no ping recorded")
	}
}

// callEveryEndpoint calls each endpoint of the API with GET and HEAD and
// checks the status, and each write method, which must be refused.
func callEveryEndpoint(t *testing.T, base, webID string) {
	t.Helper()
	u := func(p string) string { return base + api.Prefix + p }
	for path, status := range map[string]int{
		"/hosts":                                  200,
		"/hosts/ro":                               200,
		"/hosts/nope":                             404,
		"/containers":                             200,
		"/containers?revp=true&state=running":     200,
		"/containers?health=healthy":              200,
		"/containers/ro/ro-web":                   200,
		"/containers/ro/" + webID[:12]:            200,
		"/containers/ro/nope":                     404,
		"/containers/ro/ro-web/stats":             200,
		"/containers/ro/" + webID[:12] + "/stats": 200,
		"/containers/ro/ro-exited/stats":          409,
		"/routes":                                 200,
		"/routes/conflicts":                       200,
		"/openapi.json":                           200,
		"/nope":                                   404,
	} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			if got, body := fetch(t, method, u(path), "", ""); got != status {
				t.Errorf("%s %s: %d %s, want %d", method, path, got, body, status)
			}
		}
	}
	if got, _ := fetch(t, http.MethodHead, u("/events"), "", ""); got != 200 {
		t.Errorf("HEAD /events: %d", got)
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		for _, path := range []string{"/containers/ro/ro-web", "/containers/ro/ro-web/stats", "/hosts/ro", "/events"} {
			if got, body := fetch(t, method, u(path), "", ""); got != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d %s, want 405", method, path, got, body)
			}
		}
	}
}

// TestAPIBasicAuth: with basic_auth_users in the web config, the API and
// its event stream, like /metrics, answer 401 without the credentials.
func TestAPIBasicAuth(t *testing.T) {
	d := testlab.Shared(t)
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	const user = "apiuser"
	pass := hex.EncodeToString(secret)
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("basic_auth_users:\n  %s: %s\n", user, hash)), 0o600); err != nil {
		t.Fatal(err)
	}
	exp := testlab.StartExporter(t, testlab.ExporterBinary(t), nil, "--docker.host="+d.Host, "--web.config.file="+cfg)

	for _, path := range []string{api.Prefix + "/hosts", api.Prefix + "/events", api.Prefix + "/containers", api.Prefix + "/openapi.json", "/metrics"} {
		if got, _ := fetch(t, http.MethodGet, exp.URL+path, "", ""); got != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d, want 401", path, got)
		}
		if got, _ := fetch(t, http.MethodGet, exp.URL+path, user, "wrong-"+pass); got != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong password: %d, want 401", path, got)
		}
	}
	var list api.HostList
	waitUntil(t, 60*time.Second, "the host to be up, seen with credentials", func() bool {
		got, body := fetch(t, http.MethodGet, exp.URL+api.Prefix+"/hosts", user, pass)
		if got != http.StatusOK {
			t.Fatalf("GET /hosts with credentials: %d %s", got, body)
		}
		if err := json.Unmarshal(body, &list); err != nil {
			t.Fatal(err)
		}
		return len(list.Hosts) == 1 && list.Hosts[0].Status == "up"
	})

	auth := http.Header{}
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, pass)
	auth.Set("Authorization", r.Header.Get("Authorization"))
	sse := rawSSE(t, exp.URL+api.Prefix+"/events", auth, 0) // fails the test unless 200 text/event-stream
	sse.Body.Close()
	rawWS(t, exp.URL+api.Prefix+"/events", auth, 0).CloseNow()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(exp.URL, "http")+api.Prefix+"/events", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Errorf("WebSocket without credentials: status %d, err %v; want 401", status, err)
	}
	if strings.Contains(exp.Logs(), pass) {
		t.Errorf("the exporter logged the password")
	}
}

// queryKeys is " ?a&b" for a query with parameters a and b, without their
// values (IDs, filters).
func queryKeys(raw string) string {
	q, err := url.ParseQuery(raw)
	if err != nil || len(q) == 0 {
		return ""
	}
	keys := slices.Sorted(maps.Keys(q))
	return " ?" + strings.Join(keys, "&")
}
