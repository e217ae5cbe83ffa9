package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/dockerfake"
)

// kinds are the two ways to open the stream.
var kinds = []struct {
	name string
	open func(t *testing.T, env *streamEnv, query string) *client
}{
	{"sse", func(t *testing.T, env *streamEnv, query string) *client { return env.openSSE(t, nil, query, nil, nil) }},
	{"websocket", func(t *testing.T, env *streamEnv, query string) *client { return env.openWS(t, nil, query, nil) }},
}

// future is a time after every event the pool makes itself (host
// status), so that since can select the emitted events alone.
func future() time.Time { return time.Now().Add(time.Hour).Truncate(time.Second).UTC() }

func TestStreamOrder(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			env := newStreamEnv(t, envConfig{})
			c := k.open(t, env, "")
			t0 := future()
			env.emit(t, execEvents(50, t0)...)
			var seq uint64
			for i := range 50 {
				m := c.next(t)
				d := m.docker(t)
				// The command line Docker appends to exec actions is cut:
				// it may hold secrets.
				want := "exec_start"
				if m.Type != "docker_event" || d.Action != want || d.Host != "fake" || d.Type != "container" ||
					d.Name != "writer" || !d.Time.Equal(t0.Add(time.Duration(i)*time.Second)) || d.Attributes["execID"] != fmt.Sprint(i) {
					t.Fatalf("message %d: %s %+v, want %s", i, m.Type, d, want)
				}
				if m.Seq <= seq {
					t.Fatalf("message %d: seq %d after %d", i, m.Seq, seq)
				}
				seq = m.Seq
			}
		})
	}
}

func TestStreamRedactsAttributes(t *testing.T) {
	env := newStreamEnv(t, envConfig{})
	c := env.openSSE(t, nil, "", nil, nil)
	env.emit(t, dockerfake.Event("container", "start", strings.Repeat("a", 64),
		map[string]string{"name": "db", "image": "postgres", "com.example.db_password": "hunter2"}, future()))
	d := c.nextOf(t, "docker_event").docker(t)
	if d.Attributes["com.example.db_password"] != "<redacted>" || d.Attributes["image"] != "postgres" {
		t.Fatalf("attributes %v", d.Attributes)
	}
}

func TestStreamSince(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			env := newStreamEnv(t, envConfig{})
			t0 := future()
			env.emit(t, execEvents(10, t0)...)
			rfc := k.open(t, env, "?since="+url.QueryEscape(t0.Add(5*time.Second).Format(time.RFC3339)))
			unix := k.open(t, env, fmt.Sprintf("?since=%d", t0.Add(7*time.Second).Unix()))
			live := execEvents(13, t0)[10:]
			env.emit(t, live...)
			expectSteps(t, rfc, 5, 13)
			expectSteps(t, unix, 7, 13)
		})
	}
}

// expectSteps reads the exec events from from to to (excluded), no more
// and no fewer, each once.
func expectSteps(t *testing.T, c *client, from, to int) {
	t.Helper()
	var seq uint64
	for i := from; i < to; i++ {
		m := c.next(t)
		if d := m.docker(t); d.Attributes["execID"] != fmt.Sprint(i) || m.Seq <= seq {
			t.Fatalf("got exec %s seq %d (after %d), want step %d", d.Attributes["execID"], m.Seq, seq, i)
		}
		seq = m.Seq
	}
}

func TestStreamLastEventID(t *testing.T) {
	env := newStreamEnv(t, envConfig{})
	t0 := future()
	var seqs []uint64
	for _, e := range execEvents(10, t0) {
		seqs = append(seqs, env.emit(t, e).Seq)
	}
	hdr := http.Header{"Last-Event-Id": {fmt.Sprint(seqs[6])}}
	c := env.openSSE(t, nil, "?type=container", hdr, nil)
	env.emit(t, execEvents(11, t0)[10])
	expectSteps(t, c, 7, 11)
}

// A client that asks for more than the history still holds is told with a
// lagged message before the replay, and the stream goes on.
func TestStreamReplayGapSaysLagged(t *testing.T) {
	env := newStreamEnv(t, envConfig{})
	t0 := future()
	first := env.emit(t, execEvents(1, t0)...)
	env.emit(t, execEvents(hostpool.DefaultOptions.EventHistory+2, t0)[1:]...)
	c := env.openSSE(t, nil, "?type=container", http.Header{"Last-Event-Id": {fmt.Sprint(first.Seq)}}, nil)
	if m := c.next(t); m.Type != "lagged" {
		t.Fatalf("first message %q, want lagged: event %d is no longer kept", m.Type, first.Seq+1)
	}
	if m := c.next(t); m.Type != "docker_event" {
		t.Fatalf("after lagged: %q, want the replay to go on", m.Type)
	}
	// Within the history: no lagged.
	recent := env.openSSE(t, nil, "?since="+url.QueryEscape(t0.Add(time.Duration(hostpool.DefaultOptions.EventHistory)*time.Second).Format(time.RFC3339)), nil, nil)
	if m := recent.next(t); m.Type != "docker_event" {
		t.Fatalf("replay within the history starts with %q", m.Type)
	}
}

func TestStreamBadRequests(t *testing.T) {
	env := newStreamEnv(t, envConfig{})
	cases := []struct {
		query, lastID, want string
	}{
		{"?hosts=fake", "", `"hosts"`},
		{"?type=container&limit=3", "", `"limit"`},
		{"?type=plugin", "", "parameter type"},
		{"?type=", "", "parameter type"},
		{"?host=", "", "parameter host"},
		{"?action=%01start", "", "parameter action"},
		{"?container=-x", "", "parameter container"},
		{"?container=" + strings.Repeat("a", 300), "", "parameter container"},
		{"?since=yesterday", "", "parameter since"},
		{"?since=-5", "", "parameter since"},
		{"?since=NaN", "", "parameter since"},
		{"?since=1&since=2", "", "parameter since"},
		{"?since=%zz", "", "malformed query"},
		{"?since=1e300", "", "parameter since"},
		{"?since=Inf", "", "parameter since"},
		{"", "x1", "Last-Event-ID"},
		{"", "99999999999999999999999", "Last-Event-ID"},
		{"", "-1", "Last-Event-ID"},
		{"?" + strings.Repeat("host=a&", 70), "", "too many"},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(http.MethodGet, env.srv.URL+Prefix+"/events"+c.query, nil)
		if c.lastID != "" {
			req.Header.Set("Last-Event-ID", c.lastID)
		}
		resp, err := env.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body Error
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusBadRequest || body.Status != 400 || !strings.Contains(body.Error, c.want) {
			t.Errorf("%s: %d %+v (%v), want 400 naming %s", c.query, resp.StatusCode, body, err, c.want)
		}
	}
	// A WebSocket handshake with a bad filter is refused before upgrading.
	_, resp, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(env.srv.URL, "http")+Prefix+"/events?typo=1", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("websocket with a bad filter: %v, %v", resp, err)
	}
}

func TestStreamFilters(t *testing.T) {
	env := newStreamEnv(t, envConfig{})
	writer := containerID(t, env, "writer")
	web := containerID(t, env, "web")
	at := future()
	events := [][]byte{
		dockerfake.Event("container", "exec_start: sh", writer, map[string]string{"name": "writer"}, at),
		dockerfake.Event("network", "connect", "net1-writer", map[string]string{"container": writer, "name": "tnet"}, at),
		dockerfake.Event("network", "connect", "net2-web", map[string]string{"container": web, "name": "tnet"}, at),
		dockerfake.Event("container", "exec_die", web, map[string]string{"name": "web"}, at),
		dockerfake.Event("image", "tag", "sha256:ae50", map[string]string{"name": "fx:latest"}, at),
	}
	cases := []struct {
		query string
		want  []int // indexes into events
	}{
		{"", []int{0, 1, 2, 3, 4}},
		// A network's event names the container by ID only.
		{"?container=writer", []int{0}},
		{"?container=" + writer[:12], []int{0, 1}},
		{"?container=" + web[:5], []int{2, 3}},
		{"?type=network&container=" + writer, []int{1}},
		{"?type=image&type=network", []int{1, 2, 4}},
		{"?action=exec_start", []int{0}},
		{"?action=exec_start:%20sh&action=tag", []int{0, 4}},
		{"?host=fake&host=other&type=container", []int{0, 3}},
	}
	clients := make([]*client, len(cases))
	for i, c := range cases {
		clients[i] = env.openSSE(t, nil, c.query, nil, nil)
	}
	other := env.openSSE(t, nil, "?host=other", nil, nil)
	env.emit(t, events...)
	// host_status passes every filter but host: the host going down marks
	// the end of what a client gets.
	env.fake.EndEvents()
	for i, c := range cases {
		var got []string
		for m := clients[i].next(t); m.Type != "host_status"; m = clients[i].next(t) {
			d := m.docker(t)
			got = append(got, d.Type+" "+d.Action+" "+d.ID[:5])
		}
		var want []string
		for _, j := range c.want {
			var e struct {
				Type, Action string
				Actor        struct{ ID string }
			}
			_ = json.Unmarshal(events[j], &e)
			want = append(want, e.Type+" "+streamAction(e.Action)+" "+e.Actor.ID[:5])
		}
		// Events of different containers may be applied, and so
		// published, in any order.
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %q, want %q", c.query, got, want)
		}
	}
	// Nothing passes a filter on another host, not even host_status.
	env.api.Close()
	if ms := other.ended(t); len(ms) != 0 {
		t.Errorf("a client of host other got %v", ms)
	}
}

func containerID(t *testing.T, env *streamEnv, name string) string {
	t.Helper()
	for _, c := range env.pool.Host("fake").Snapshot().Containers {
		if c.Name == name {
			return c.ID
		}
	}
	t.Fatalf("no container %s", name)
	return ""
}

func TestStreamContainerUpdate(t *testing.T) {
	env := newStreamEnv(t, envConfig{})
	c := env.openWS(t, nil, "?container=writer", nil)
	id := containerID(t, env, "writer")
	at := future()
	env.emit(t, dockerfake.Event("container", "destroy", id, map[string]string{"name": "writer"}, at))
	env.emit(t, dockerfake.Event("container", "start", id, map[string]string{"name": "writer"}, at.Add(time.Second)))
	var updates []ContainerUpdate
	for len(updates) < 2 {
		m := c.nextOf(t, "container_update")
		var u ContainerUpdate
		if err := json.Unmarshal(m.Data, &u); err != nil {
			t.Fatal(err)
		}
		updates = append(updates, u)
	}
	gone, back := updates[0], updates[1]
	if gone.ID != id || gone.Name != "writer" || gone.OldState != "running" || gone.NewState != "" || gone.Container != nil {
		t.Errorf("destroy: %+v", gone)
	}
	if back.ID != id || back.OldState != "" || back.NewState != "running" || back.Container == nil || back.Container.Name != "writer" {
		t.Errorf("start: %+v", back)
	}
}

func TestStreamHostStatus(t *testing.T) {
	env := newStreamEnv(t, envConfig{})
	c := env.openSSE(t, nil, "?type=image&container=nothing", nil, nil)
	other := env.openSSE(t, nil, "?host=other", nil, nil)
	env.fake.EndEvents()
	var st []HostStatus
	for len(st) < 2 {
		var s HostStatus
		if err := json.Unmarshal(c.nextOf(t, "host_status").Data, &s); err != nil {
			t.Fatal(err)
		}
		st = append(st, s)
	}
	if st[0].Host != "fake" || st[0].Status != "down" || st[0].Reason == "" || st[0].Error == "" || st[1].Status != "up" {
		t.Errorf("host status after the stream ended: %+v", st)
	}
	if err := env.pool.Apply([]config.Host{}); err != nil {
		t.Fatal(err)
	}
	var s HostStatus
	if err := json.Unmarshal(c.nextOf(t, "host_status").Data, &s); err != nil || s.Status != "removed" || s.Host != "fake" {
		t.Errorf("host left: %+v (%v)", s, err)
	}
	// Another host's status is not for a client that filters by host.
	env.api.Close()
	if ms := other.ended(t); len(ms) != 0 {
		t.Errorf("a client of host other got %v", ms)
	}
}

func TestStreamShutdown(t *testing.T) {
	env := newStreamEnv(t, envConfig{})
	sse := env.openSSE(t, nil, "", nil, nil)
	ws := env.openWS(t, nil, "", nil)
	env.api.Close()
	sse.ended(t)
	if err := sse.endErr(); err != nil {
		t.Errorf("sse: %v", err)
	}
	ws.ended(t)
	if s := websocket.CloseStatus(ws.endErr()); s != websocket.StatusGoingAway {
		t.Errorf("websocket closed with %v (%v), want 1001", s, ws.endErr())
	}
}

func TestStreamHead(t *testing.T) {
	env := newStreamEnv(t, envConfig{})
	resp, err := env.srv.Client().Head(env.srv.URL + Prefix + "/events")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" || len(b) != 0 {
		t.Errorf("HEAD: %d %v %q", resp.StatusCode, resp.Header, b)
	}
}

// The feed's events carry their kind; one the stream does not know is
// not sent rather than sent malformed.
func TestStreamUnknownKind(t *testing.T) {
	a := &API{}
	if _, ok, err := a.encode(&hostpool.Event{Kind: "new_kind", Seq: 1}); ok || err != nil {
		t.Errorf("unknown kind encoded: %v %v", ok, err)
	}
}

// The recorded events of a real daemon go through as they came, each
// container's in order.
func TestStreamRecordedEvents(t *testing.T) {
	recorded, err := dockerfake.RecordedEvents()
	if err != nil {
		t.Fatal(err)
	}
	env := newStreamEnv(t, envConfig{})
	c := env.openWS(t, nil, "", nil)
	env.emit(t, recorded...)
	want := map[string][]string{} // by actor: actions in order
	for _, b := range recorded {
		var e struct {
			Action string
			Actor  struct{ ID string }
		}
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		want[e.Actor.ID] = append(want[e.Actor.ID], streamAction(e.Action))
	}
	got := map[string][]string{}
	for range recorded {
		d := c.nextOf(t, "docker_event").docker(t)
		got[d.ID] = append(got[d.ID], d.Action)
		if d.Attributes == nil || d.Time.IsZero() || d.Host != "fake" {
			t.Errorf("event %+v", d)
		}
	}
	for id, actions := range want {
		if !slices.Equal(got[id], actions) {
			t.Errorf("%.12s: got %q, want %q", id, got[id], actions)
		}
	}
}

// A browser may open the WebSocket from the page's own origin only; a
// client that sends no Origin is no browser, and is accepted.
func TestStreamWebSocketOrigin(t *testing.T) {
	env := newStreamEnv(t, envConfig{})
	url := "ws" + strings.TrimPrefix(env.srv.URL, "http") + Prefix + "/events"
	for origin, want := range map[string]int{
		"":                     http.StatusSwitchingProtocols,
		env.srv.URL:            http.StatusSwitchingProtocols,
		"https://evil.example": http.StatusForbidden,
		"http://" + env.srv.Listener.Addr().String() + ".evil.example": http.StatusForbidden,
	} {
		hdr := http.Header{}
		if origin != "" {
			hdr.Set("Origin", origin)
		}
		c, resp, err := websocket.Dial(t.Context(), url, &websocket.DialOptions{HTTPHeader: hdr})
		if resp == nil || resp.StatusCode != want {
			t.Errorf("origin %q: %v (%v), want %d", origin, resp, err, want)
		}
		if c != nil {
			c.CloseNow()
		}
	}
}

// Past --api.event-clients, a new client is answered 503 until one leaves.
func TestStreamClientLimit(t *testing.T) {
	opts := DefaultOptions
	opts.MaxStreamClients = 1
	env := newStreamEnv(t, envConfig{opts: opts})
	first := env.openSSE(t, nil, "", nil, nil)
	resp, err := env.srv.Client().Get(env.srv.URL + Prefix + "/events")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "--api.event-clients") {
		t.Fatalf("second client: %d %s, want 503 naming the flag", resp.StatusCode, b)
	}
	first.cancel()
	deadline := time.Now().Add(wait)
	for env.api.streams.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the first client's stream did not end")
		}
		time.Sleep(time.Millisecond)
	}
	env.openSSE(t, nil, "", nil, nil)
}
