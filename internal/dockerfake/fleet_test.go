package dockerfake

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/config"
)

// client talks to a fake daemon's socket, as the Docker client does.
func client(t *testing.T, host string) *http.Client {
	t.Helper()
	sock := strings.TrimPrefix(host, "unix://")
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
}

func get(ctx context.Context, c *http.Client, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/v1.41"+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// TestStatsWaitForTick: a stats answer waits for the daemon's next tick,
// and every call waiting is answered by that one tick.
func TestStatsWaitForTick(t *testing.T) {
	s, err := StartWith(t.TempDir(), Options{StatsTick: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := client(t, s.Host)
	const n = 5
	type answer struct {
		code int
		body []byte
		err  error
	}
	answers := make(chan answer, n)
	for range n {
		go func() {
			code, body, err := get(context.Background(), c, "/containers/web/stats?stream=false&one-shot=true")
			answers <- answer{code, body, err}
		}()
	}
	for s.Requests("stats") < n {
		time.Sleep(time.Millisecond)
	}
	select {
	case a := <-answers:
		t.Fatalf("stats answered before the tick: %d %s %v", a.code, a.body, a.err)
	default:
	}
	// Inspect does not wait for the tick.
	if code, _, err := get(context.Background(), c, "/containers/web/json"); err != nil || code != http.StatusOK {
		t.Fatalf("inspect: %d %v", code, err)
	}
	s.tick.fire()
	for range n {
		a := <-answers
		if a.err != nil || a.code != http.StatusOK || !json.Valid(a.body) {
			t.Fatalf("stats after the tick: %d %v %.80s", a.code, a.err, a.body)
		}
	}
}

// TestLatencyHoldsAnswers: a client that gives up before the latency gets
// nothing, and the server does not hold its request.
func TestLatencyHoldsAnswers(t *testing.T) {
	s, err := StartWith(t.TempDir(), Options{Latency: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if code, _, err := get(ctx, client(t, s.Host), "/_ping"); err == nil {
		t.Fatalf("ping answered %d within a latency of an hour", code)
	}
}

// TestFleet: every host has the recorded containers and its own clones,
// IDs unique over the fleet, answers compact and consistent, and the hosts
// file loads as local hosts on the fleet's sockets.
func TestFleet(t *testing.T) {
	dir := t.TempDir()
	f, err := StartFleet(dir, FleetOptions{Hosts: 3, Containers: 6})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids := map[string]string{}
	for i, s := range f.Servers {
		c := client(t, s.Host)
		_, b, err := get(context.Background(), c, "/containers/json?all=1")
		if err != nil {
			t.Fatal(err)
		}
		var list []struct {
			ID    string `json:"Id"`
			Names []string
			State string
		}
		if err := json.Unmarshal(b, &list); err != nil {
			t.Fatal(err)
		}
		if len(list) != 9+6 {
			t.Fatalf("host %d lists %d containers, want 9 recorded + 6", i, len(list))
		}
		for _, e := range list[9:] {
			if prev, ok := ids[e.ID]; ok {
				t.Errorf("ID %s on %s and %s", e.ID, prev, f.Aliases[i])
			}
			ids[e.ID] = f.Aliases[i]
			checkClone(t, c, e.ID, strings.TrimPrefix(e.Names[0], "/"))
		}
		if got := list[9].Names[0]; got != "/web-00000" {
			t.Errorf("first clone is %s, want /web-00000", got)
		}
	}
	path := filepath.Join(dir, "hosts.yml")
	if err := os.WriteFile(path, f.HostsFile(), 0o600); err != nil {
		t.Fatal(err)
	}
	hosts, err := config.Load(path)
	if err != nil {
		t.Fatalf("hosts file: %v\n%s", err, f.HostsFile())
	}
	for i, h := range hosts {
		if h.Alias != f.Aliases[i] || h.Connection != config.ConnLocal || h.Endpoint != f.Servers[i].Host {
			t.Errorf("host %d: %s %s %s, want %s local %s", i, h.Alias, h.Connection, h.Endpoint, f.Aliases[i], f.Servers[i].Host)
		}
	}
}

func checkClone(t *testing.T, c *http.Client, id, name string) {
	t.Helper()
	for _, ref := range []string{id, name} {
		_, b, err := get(context.Background(), c, "/containers/"+ref+"/json")
		var in struct{ ID, Name string }
		if err != nil || json.Unmarshal(b, &in) != nil || in.ID != id || in.Name != "/"+name {
			t.Errorf("inspect %s: %+v %v", ref, in, err)
		}
		if strings.Contains(string(b), "\n") {
			t.Errorf("inspect %s is not compact", ref)
		}
	}
	_, b, err := get(context.Background(), c, "/containers/"+id+"/stats?stream=false&one-shot=true")
	var st struct{ ID, Name string }
	if err != nil || json.Unmarshal(b, &st) != nil || st.ID != id || st.Name != "/"+name {
		t.Errorf("stats %s: %+v %v", name, st, err)
	}
}

// TestHealthchecks: clones of a container with a healthcheck run it, as
// the daemon's events show it; the others are quiet.
func TestHealthchecks(t *testing.T) {
	f := StartFleetT(t, FleetOptions{Hosts: 1, Containers: 4, HealthcheckInterval: 200 * time.Millisecond})
	s := f.Servers[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/v1.41/events", nil)
	resp, err := client(t, s.Host).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	seen := map[string]int{}
	for len(seen) < 6 && sc.Scan() {
		var e struct {
			Action string
			Actor  struct{ Attributes map[string]string }
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		a := e.Actor.Attributes
		key := fmt.Sprintf("%s %s exit=%s", a["name"], e.Action, a["exitCode"])
		seen[key]++
	}
	for _, want := range []string{
		"healthy-00002 exec_create: /bin/sh -c /fixture ok exit=", "healthy-00002 exec_start: /bin/sh -c /fixture ok exit=",
		"healthy-00002 exec_die exit=0", "unhealthy-00003 exec_die exit=1",
	} {
		if seen[want] == 0 {
			t.Errorf("no event %q in %v", want, seen)
		}
	}
}
