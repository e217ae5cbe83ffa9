package api

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/hostpool"
)

func parseFilterOf(t *testing.T, query string) streamFilter {
	t.Helper()
	f, err := parseStreamFilter(httptest.NewRequest("GET", "/api/v1/events"+query, nil))
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return f
}

func TestStreamFilterMatch(t *testing.T) {
	writer := &hostpool.Container{ID: "3cb546a104f6aaaa", Name: "writer", State: "running"}
	events := map[string]*hostpool.Event{
		"start":   {Kind: hostpool.KindDockerEvent, Host: "a", Type: "container", Action: "start", ActorID: writer.ID, Name: "writer"},
		"health":  {Kind: hostpool.KindDockerEvent, Host: "a", Type: "container", Action: "health_status: healthy", ActorID: writer.ID, Name: "writer"},
		"connect": {Kind: hostpool.KindDockerEvent, Host: "b", Type: "network", Action: "connect", ActorID: "n1", Name: "net", Attributes: map[string]string{"container": writer.ID}},
		"pull":    {Kind: hostpool.KindDockerEvent, Host: "b", Type: "image", Action: "pull", ActorID: "sha256:1", Name: "nginx"},
		"update":  {Kind: hostpool.KindContainerUpdate, Host: "a", Container: writer},
		"removed": {Kind: hostpool.KindContainerUpdate, Host: "a", Previous: writer},
		"down":    {Kind: hostpool.KindHostStatus, Host: "b"},
		"gone":    {Kind: hostpool.KindHostRemoved, Host: "a"},
		"lagged":  {Kind: hostpool.KindLagged, Host: "a"},
	}
	cases := map[string]string{
		"":                               "connect down gone health lagged pull removed start update",
		"?host=a":                        "gone health lagged removed start update",
		"?host=b&host=c":                 "connect down lagged pull",
		"?type=container":                "down gone health lagged removed start update",
		"?type=image&type=network":       "connect down gone lagged pull",
		"?action=health_status":          "down gone health lagged",
		"?action=health_status:+healthy": "down gone health lagged",
		"?action=start&action=pull":      "down gone lagged pull start",
		"?container=writer":              "down gone health lagged removed start update",
		"?container=/writer":             "down gone health lagged removed start update",
		"?container=3cb5":                "connect down gone health lagged removed start update",
		"?container=writ":                "down gone lagged",
		"?container=nginx":               "down gone lagged",
		"?host=a&type=container&action=start&container=writer": "gone lagged start",
	}
	for query, want := range cases {
		f := parseFilterOf(t, query)
		var got []string
		for name, e := range events {
			if f.match(e) {
				got = append(got, name)
			}
		}
		slices.Sort(got)
		if g := strings.Join(got, " "); g != want {
			t.Errorf("%q: %s, want %s", query, g, want)
		}
	}
}

func TestStreamSinceParse(t *testing.T) {
	want := time.Date(2026, 3, 4, 5, 6, 7, 500_000_000, time.UTC)
	for _, s := range []string{"2026-03-04T05:06:07.5Z", "2026-03-04T06:06:07.5+01:00", "1772600767.5"} {
		got, err := parseStreamSince(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %v %v", s, got, err)
		}
	}
	for _, s := range []string{"", "now", "-1", "1e300", "Inf", "NaN", "2026-03-04", "0x10"} {
		if _, err := parseStreamSince(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}

// The replay takes the events after both since and Last-Event-ID, through
// the filters.
func TestStreamFilterKeep(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := httptest.NewRequest("GET", "/api/v1/events?type=container&since=2026-01-01T00:00:05Z", nil)
	r.Header.Set("Last-Event-ID", "7")
	f, err := parseStreamFilter(r)
	if err != nil || !f.replay {
		t.Fatal(err)
	}
	var kept []uint64
	for i := uint64(1); i <= 10; i++ {
		typ := "container"
		if i == 9 {
			typ = "image"
		}
		e := &hostpool.Event{Seq: i, Kind: hostpool.KindDockerEvent, Type: typ, Time: t0.Add(time.Duration(i) * time.Second)}
		if f.keep(e) {
			kept = append(kept, e.Seq)
		}
	}
	if len(kept) != 2 || kept[0] != 8 || kept[1] != 10 {
		t.Errorf("kept %v, want [8 10]", kept)
	}
	if f := parseFilterOf(t, "?type=container"); f.replay {
		t.Error("no since nor Last-Event-ID, and a replay")
	}
}

func TestStreamFilterErrorsNameTheParameter(t *testing.T) {
	cases := map[string]string{
		"?Host=a":               `unknown parameter "Host"`,
		"?type=container&x=1":   `unknown parameter "x"`,
		"?type=Container":       "parameter type",
		"?action=":              "parameter action",
		"?host=a%0Ab":           "parameter host",
		"?container=a%20b":      "parameter container",
		"?container=":           "parameter container",
		"?since=":               "parameter since",
		"?since=2026-13-01T00Z": "parameter since",
	}
	for q, want := range cases {
		_, err := parseStreamFilter(httptest.NewRequest("GET", "/api/v1/events"+q, nil))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %s", q, err, want)
		}
	}
	// A hostile value is not echoed whole.
	_, err := parseStreamFilter(httptest.NewRequest("GET", "/api/v1/events?"+strings.Repeat("x", 5000)+"=1", nil))
	if err == nil || len(err.Error()) > 200 {
		t.Errorf("long parameter name: %v", err)
	}
}
