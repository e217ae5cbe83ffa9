package api

import (
	"net/url"
	"strings"
	"testing"

	"github.com/snadboy/docker-monitor/hostpool"
)

// The recording's containers (host "fake", and the same on "deco"):
// created (created), exit3 (exited 3), flapper (restarting), healthy
// (running, healthy), oom (exited, OOM-killed), paused (paused), unhealthy
// (running, unhealthy), web (running; compose project shop, team=payments),
// writer (running). On "deco", web, healthy and exit3 have RevP routes and
// web has secret-looking labels (see restDecorations).

func TestContainerFilters(t *testing.T) {
	a, _, _ := restFake(t, hostpool.DefaultOptions, DefaultOptions)
	long := strings.Repeat("x", maxValueLen)
	for _, tc := range []struct {
		query string
		want  string // host/name, in order
		total int    // -1: as many as want
	}{
		{"host=fake", "fake/created fake/exit3 fake/flapper fake/healthy fake/oom fake/paused fake/unhealthy fake/web fake/writer", -1},
		{"host=fake&host=deco&name=web", "deco/web fake/web", -1},
		{"host=nope", "", -1},
		{"host=" + long, "", -1},
		{"host=fake&state=running", "fake/healthy fake/unhealthy fake/web fake/writer", -1},
		{"host=fake&state=running&state=paused", "fake/healthy fake/paused fake/unhealthy fake/web fake/writer", -1},
		{"host=fake&state=dead", "", -1},
		{"host=fake&health=healthy", "fake/healthy", -1},
		{"host=fake&health=healthy&health=unhealthy", "fake/healthy fake/unhealthy", -1},
		{"host=fake&health=none&state=running", "fake/web fake/writer", -1},
		{"host=fake&health=starting", "", -1},
		{"host=fake&name=WE", "fake/web", -1},
		{"host=fake&name=e", "fake/created fake/exit3 fake/flapper fake/healthy fake/paused fake/unhealthy fake/web fake/writer", -1},
		{"host=fake&name=", "fake/created fake/exit3 fake/flapper fake/healthy fake/oom fake/paused fake/unhealthy fake/web fake/writer", -1},
		{"host=fake&name=" + url.QueryEscape("~^(web|writer)$"), "fake/web fake/writer", -1},
		{"host=fake&name=" + url.QueryEscape("~^W"), "", -1},
		{"host=fake&name=" + url.QueryEscape("~(?i)^W"), "fake/web fake/writer", -1},
		{"host=fake&image=FX&state=created", "fake/created", -1},
		{"host=fake&image=nginx", "", -1},
		{"host=fake&label=team", "fake/web", -1},
		{"host=fake&label=team=payments", "fake/web", -1},
		{"host=fake&label=team=other", "", -1},
		{"host=fake&label=team&label=com.docker.compose.service=web", "fake/web", -1},
		{"host=fake&label=team&label=nope", "", -1},
		{"host=fake&label=team=", "", -1},
		{"compose_project=shop", "deco/web fake/web", -1},
		{"compose_project=shop&compose_project=other", "deco/web fake/web", -1},
		{"host=fake&compose_project=", "fake/created fake/exit3 fake/flapper fake/healthy fake/oom fake/paused fake/unhealthy fake/writer", -1},
		{"revp=true", "deco/exit3 deco/healthy deco/web", -1},
		{"revp=1&state=running", "deco/healthy deco/web", -1},
		{"host=deco&revp=false", "deco/created deco/flapper deco/oom deco/paused deco/unhealthy deco/writer", -1},
		// A redacted label matches by key, or by what the API shows:
		// never by guessing its value.
		{"label=db.password", "deco/web", -1},
		{"label=db.password=hunter2", "", -1},
		{"label=db.password=" + url.QueryEscape(redacted), "deco/web", -1},
		{"label=backup.url=" + url.QueryEscape("s3://user:pw@bucket.example.com/x"), "", -1},
		{"host=fake&state=exited&name=" + url.QueryEscape("~^o"), "fake/oom", -1},
		{"state=running&health=healthy&revp=true&label=snadboy.revp.domain&compose_project=", "deco/healthy", -1},
		{"limit=2", "deco/created deco/exit3", 18},
		{"limit=3&offset=16", "fake/web fake/writer", 18},
		{"offset=17", "fake/writer", 18},
		{"offset=100", "", 18},
		{"limit=0&offset=0&host=deco&state=paused", "deco/paused", 1},
	} {
		var got ContainerList
		restGetJSON(t, a, "/containers?"+tc.query, 200, &got)
		if names := containerNames(got.Containers); names != tc.want {
			t.Errorf("?%s: %q, want %q", tc.query, names, tc.want)
		}
		total := tc.total
		if total < 0 {
			total = len(got.Containers)
		}
		if got.Total != total {
			t.Errorf("?%s: total %d, want %d", tc.query, got.Total, total)
		}
	}
}

func TestContainerFiltersEmptyIsArray(t *testing.T) {
	a, _, _ := restFake(t, hostpool.DefaultOptions, DefaultOptions)
	rec := restGet(t, a, "/containers?host=nope")
	if !strings.Contains(rec.Body.String(), `"containers":[]`) {
		t.Errorf("no containers: %s, want []", rec.Body)
	}
}

func TestContainerFilterErrors(t *testing.T) {
	a, _, _ := restFake(t, hostpool.DefaultOptions, DefaultOptions)
	tooMany := strings.Repeat("host=a&", maxValues+1)
	for _, tc := range []struct {
		query string
		parts []string
	}{
		{"foo=1", []string{`unknown filter "foo"; known: compose_project, health, host, image, label, limit, name, offset, revp, state`}},
		{"Host=fake", []string{`unknown filter "Host"`}},
		{"host=fake&" + strings.Repeat("y", 100) + "=1", []string{`unknown filter "yyyy`, `..."`}},
		{"state=sleeping", []string{`bad state "sleeping": one of created, running, paused, restarting, removing, exited, dead`}},
		{"state=running&state=", []string{`bad state ""`}},
		{"health=ok", []string{`bad health "ok": one of starting, healthy, unhealthy, none`}},
		{"name=" + url.QueryEscape("~("), []string{`bad name "~("`, "missing closing )"}},
		{"name=~" + strings.Repeat("a", maxRegexpLen+1), []string{"bad name", "at most 512"}},
		{"name=a&name=b", []string{"bad name", "at most once"}},
		{"image=a&image=b", []string{"bad image", "at most once"}},
		{"label=", []string{`bad label ""`, "key or key=value"}},
		{"label==x", []string{`bad label "=x"`}},
		{"revp=maybe", []string{`bad revp "maybe"`, "true or false"}},
		{"revp=true&revp=false", []string{"bad revp", "at most once"}},
		{"limit=-1", []string{`bad limit "-1"`}},
		{"limit=x", []string{`bad limit "x"`}},
		{"limit=10001", []string{`bad limit "10001"`, "0 to 10000"}},
		{"offset=-1", []string{`bad offset "-1"`}},
		{"offset=99999999999999999999", []string{"bad offset"}},
		{"limit=1&limit=2", []string{"bad limit", "at most once"}},
		{"host=" + strings.Repeat("x", maxValueLen+1), []string{"bad host", "longer than 1024 bytes"}},
		{tooMany, []string{"bad host", "given 65 times"}},
	} {
		restWantError(t, a, "/containers?"+tc.query, 400, tc.parts...)
	}
}
