package testlab_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/internal/testlab"
)

func TestRequestPattern(t *testing.T) {
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/_ping", "GET /_ping"},
		{"HEAD", "/_ping", "HEAD /_ping"},
		{"GET", "/v1.41/containers/json", "GET /v{api}/containers/json"},
		{"GET", "/v1.41/containers/3f2a9c/json", "GET /v{api}/containers/{id}/json"},
		{"GET", "/v1.41/containers/web-1/stats", "GET /v{api}/containers/{id}/stats"},
		{"POST", "/v1.41/containers/create", "POST /v{api}/containers/create"},
		{"POST", "/v1.41/exec/abc/start", "POST /v{api}/exec/{id}/start"},
		{"DELETE", "/v1.41/images/sha256:abc", "DELETE /v{api}/images/{id}"},
		{"GET", "/v1.41/images/json", "GET /v{api}/images/json"},
		{"GET", "/v1.41/events", "GET /v{api}/events"},
		{"GET", "/v1/info", "GET /v{api}/info"},
	} {
		if got := testlab.RequestPattern(c.method, c.path); got != c.want {
			t.Errorf("RequestPattern(%s, %s) = %q, want %q", c.method, c.path, got, c.want)
		}
	}
}

// TestRecorder: what passes through the recorder works as against the
// daemon itself (a plain call, a streamed /events answer delivered as each
// event happens, the hijacked connection of docker exec), and every
// request is recorded.
func TestRecorder(t *testing.T) {
	d := testlab.Shared(t)
	rec := testlab.StartRecorder(t, d)
	id := d.Run(t, "tl-rec", nil, "sleep")

	if out := rec.Docker(t, "ps", "-q", "--no-trunc", "--filter", "name=tl-rec"); out != id {
		t.Errorf("docker ps via the recorder: %q, want %s", out, id)
	}

	checkStreamThrough(t, d, rec)

	// docker exec upgrades its connection (Upgrade: tcp) and hijacks it.
	if out := rec.Docker(t, "exec", id, "/fixture", "exit", "0"); !strings.Contains(out, "exiting with 0") {
		t.Errorf("docker exec via the recorder printed %q", out)
	}

	n := rec.Patterns()
	t.Logf("recorded:\n%s", testlab.FormatPatterns(n))
	for _, want := range []string{"GET /v{api}/containers/json", "GET /events", "POST /v{api}/exec/{id}/start", "POST /v{api}/containers/{id}/exec"} {
		if n[want] == 0 {
			t.Errorf("no %s recorded", want)
		}
	}
	upgraded := false
	for _, r := range rec.Requests() {
		if r.Pattern() == "POST /v{api}/exec/{id}/start" && r.Upgrade != "" {
			upgraded = true
		}
	}
	if !upgraded {
		t.Errorf("exec start was not recorded with its Upgrade header")
	}
}

// checkStreamThrough: the stream's first event arrives while the stream is
// open: the recorder flushes each object instead of waiting for the
// answer's end.
func checkStreamThrough(t *testing.T, d *testlab.Daemon, rec *testlab.Recorder) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", rec.Socket)
		},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, `http://docker/events?filters={"type":["volume"]}`, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan string, 1)
	go func() {
		var ev struct {
			Action string
			Actor  struct{ ID string }
		}
		sc := bufio.NewScanner(resp.Body)
		if sc.Scan() && json.Unmarshal(sc.Bytes(), &ev) == nil {
			got <- ev.Actor.ID
		}
		close(got)
	}()
	d.Docker(t, "volume", "create", "tl-rec-vol")
	t.Cleanup(func() { _, _ = d.TryDocker("volume", "rm", "-f", "tl-rec-vol") })
	select {
	case name := <-got:
		if name != "tl-rec-vol" {
			t.Errorf("first streamed event names %q, want tl-rec-vol", name)
		}
	case <-ctx.Done():
		t.Fatal("no event through the recorder's /events stream within a minute")
	}

}
