package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/hostpool"
)

func TestFindContainer(t *testing.T) {
	cs := []*hostpool.Container{
		{ID: "abc123" + strings.Repeat("0", 58), Name: "web"},
		{ID: "abd456" + strings.Repeat("0", 58), Name: "abc"}, // a name that is another's ID prefix
		{ID: "ff" + strings.Repeat("1", 62), Name: "db"},
	}
	for _, tc := range []struct {
		ref    string
		want   string // name
		status int
		msg    string
	}{
		{ref: "web", want: "web"},
		{ref: "abc", want: "abc"}, // the name wins over the ID prefix
		{ref: "abc1", want: "web"},
		{ref: cs[0].ID, want: "web"},
		{ref: "f", want: "db"},
		{ref: "ab", status: http.StatusConflict, msg: `ID prefix "ab" is ambiguous on host "h": abc123000000, abd456000000`},
		{ref: "WEB", status: http.StatusNotFound, msg: `no container "WEB" on host "h"`},
		{ref: "abc2", status: http.StatusNotFound},
		{ref: "", status: http.StatusNotFound},
		{ref: cs[0].ID + "0", status: http.StatusNotFound},
	} {
		c, err := findContainer(cs, "h", tc.ref)
		if tc.status == 0 {
			if err != nil || c.Name != tc.want {
				t.Errorf("%q: %v %v, want %s", tc.ref, c, err, tc.want)
			}
			continue
		}
		he, ok := err.(*httpError)
		if !ok || he.status != tc.status || !strings.Contains(he.msg, tc.msg) {
			t.Errorf("%q: %v, want %d %q", tc.ref, err, tc.status, tc.msg)
		}
	}
}

func TestFindContainerManyCandidates(t *testing.T) {
	var cs []*hostpool.Container
	for _, d := range "0123456789abcdef" {
		cs = append(cs, &hostpool.Container{ID: "a" + string(d) + strings.Repeat("0", 62)})
	}
	_, err := findContainer(cs, "h", "a")
	if err == nil || !strings.Contains(err.Error(), "a90000000000, and 6 more") {
		t.Errorf("%v", err)
	}
}

func TestConvert(t *testing.T) {
	a := &API{opts: DefaultOptions, now: func() time.Time { return restNow }}
	c := &hostpool.Container{
		ID: "id", Name: "n", State: "paused", Paused: true, StartedAt: restNow.Add(-time.Hour),
		Published: map[string][]string{"80/tcp": {"8080", "8080", "8081"}, "53/udp": {"53"}, "bad": {"1"}, "70000/tcp": {"1"}, "9000": {""}},
		Exposed:   []string{"80/tcp", "443/tcp", "8443/tcp"},
	}
	got := a.convert("h", c, nil, nil)
	want := []Port{
		{ContainerPort: 53, Protocol: "udp", HostPort: "53", Published: true},
		{ContainerPort: 80, Protocol: "tcp", HostPort: "8080", Published: true},
		{ContainerPort: 80, Protocol: "tcp", HostPort: "8081", Published: true},
		{ContainerPort: 443, Protocol: "tcp"},
		{ContainerPort: 8443, Protocol: "tcp"},
		{ContainerPort: 9000, Protocol: "tcp", Published: true},
	}
	if len(got.Ports) != len(want) {
		t.Fatalf("ports %+v", got.Ports)
	}
	for i := range want {
		if got.Ports[i] != want[i] {
			t.Errorf("port %d: %+v, want %+v", i, got.Ports[i], want[i])
		}
	}
	if !got.State.Running || !got.State.Paused || got.State.FinishedAt != nil || got.Created != nil ||
		got.Status != "Up About an hour (Paused)" || got.Health != nil {
		t.Errorf("%+v", got)
	}
	for what, isNil := range map[string]bool{"labels": got.Labels == nil, "networks": got.Networks == nil, "mounts": got.Mounts == nil,
		"env": got.Env == nil, "routes": got.Routes == nil, "problems": got.Problems == nil} {
		if isNil {
			t.Errorf("%s: nil, want empty", what)
		}
	}
}
