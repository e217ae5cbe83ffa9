package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/snadboy/docker-monitor/hostpool"
)

// varyingField matches the fields whose values depend on when the test
// runs (the pool's own pings and syncs) when they are not null: goldens
// hold whether they are null. endpointField matches a socket in a
// temporary directory.
var (
	varyingField  = regexp.MustCompile(`"(ping_seconds|ping_at|last_event|last_sync|at)": ("[^"]*"|[-+.0-9eE]+)`)
	endpointField = regexp.MustCompile(`"endpoint": "unix://[^"]*/([^/"]+)"`)
)

// restNormalize is a JSON answer indented, fields in the order served, with
// what varies from run to run replaced.
func restNormalize(t *testing.T, body []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	b := varyingField.ReplaceAll(buf.Bytes(), []byte(`"$1": "<varies>"`))
	return endpointField.ReplaceAll(b, []byte(`"endpoint": "unix://<tmp>/$1"`))
}

// TestGoldenREST holds every REST endpoint's answer, from the recorded
// Docker 20.10 daemon (host "fake") and the same decorated with routes,
// ports and secrets (host "deco"), to testdata/golden; -update rewrites
// them.
func TestGoldenREST(t *testing.T) {
	a, _, _ := restFake(t, hostpool.DefaultOptions, DefaultOptions)
	for _, tc := range []struct{ golden, path string }{
		{"hosts.json", "/hosts"},
		{"host.json", "/hosts/deco"},
		{"containers.json", "/containers"},
		{"containers-filtered.json", "/containers?host=deco&revp=true&label=snadboy.revp.80.domain&limit=1&offset=1"},
		{"container.json", "/containers/deco/web"},
		{"stats.json", "/containers/deco/web/stats"},
		{"routes.json", "/routes"},
		{"routes-host.json", "/routes?host=fake"},
		{"conflicts.json", "/routes/conflicts"},
		{"error-unknown-filter.json", "/containers?hots=fake"},
		{"error-ambiguous.json", "/containers/fake/2"},
		{"error-not-running.json", "/containers/fake/exit3/stats"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			rec := restGet(t, a, tc.path)
			got := restNormalize(t, rec.Body.Bytes())
			path := filepath.Join("testdata", "golden", tc.golden)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("GET %s (%d) differs from %s (-update rewrites it):\n%s", tc.path, rec.Code, path, got)
			}
		})
	}
}

// TestRESTErrors checks the error answers: JSON with the status in it.
func TestRESTErrors(t *testing.T) {
	a, _, _ := restFake(t, hostpool.DefaultOptions, DefaultOptions)
	for _, tc := range []struct {
		path   string
		status int
		parts  []string
	}{
		{"/hosts/nope", 404, []string{`no host "nope"`}},
		{"/hosts?x=1", 400, []string{`unknown filter "x"`, "takes none"}},
		{"/hosts/deco?x=1", 400, []string{`unknown filter "x"`}},
		{"/containers/nope/web", 404, []string{`no host "nope"`}},
		{"/containers/fake/nope", 404, []string{`no container "nope" on host "fake"`}},
		{"/containers/fake/nope/stats", 404, []string{`no container "nope"`}},
		{"/containers/fake/2", 409, []string{`ID prefix "2"`, "20db3203d118", "2c4f33d3c92c", "2e47b90255e5"}},
		{"/containers/fake/2/stats", 409, []string{"ambiguous"}},
		{"/containers/fake/web?x=1", 400, []string{`unknown filter "x"`}},
		{"/containers/fake/exit3/stats", 409, []string{`"exit3" is exited`}},
		{"/containers/fake/paused/stats", 409, []string{`"paused" is paused`}},
		{"/routes?hosts=x", 400, []string{`unknown filter "hosts"; known: host`}},
		{"/routes/conflicts?host=x", 400, []string{`unknown filter "host"`}},
		{"/nope", 404, []string{"no such endpoint"}},
		{"/containers/fake/web/nope", 404, []string{"no such endpoint"}},
		{"/containers?name=%zz", 400, []string{"bad query"}},
	} {
		restWantError(t, a, tc.path, tc.status, tc.parts...)
	}
}

// TestRESTMethods: the API is read-only; HEAD is served as GET without a
// body.
func TestRESTMethods(t *testing.T) {
	a, _, _ := restFake(t, hostpool.DefaultOptions, DefaultOptions)
	for _, path := range []string{"/hosts", "/hosts/fake", "/containers", "/containers/fake/web", "/containers/fake/web/stats",
		"/routes", "/routes/conflicts"} {
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			rec := httptest.NewRecorder()
			a.ServeHTTP(rec, httptest.NewRequest(m, Prefix+path, strings.NewReader("{}")))
			if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d, Allow %q", m, path, rec.Code, rec.Header().Get("Allow"))
			}
		}
		srv := httptest.NewServer(a)
		resp, err := http.Head(srv.URL + Prefix + path)
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("HEAD %s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}
