package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/snadboy/docker-monitor/api"
	"github.com/snadboy/docker-monitor/collector"
	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// apiSetup is what startAPI wires: a pool, the collector and the API on
// one server, as main does.
type apiSetup struct {
	hosts    []config.Host
	hostOpts hostpool.Options
	collOpts collector.Options
	apiOpts  api.Options
	// sndbuf, when set, is the send buffer (SO_SNDBUF) of every accepted
	// connection. Loopback's autotuned buffers hold megabytes, which a
	// client that never reads would need thousands of events to fill.
	sndbuf int
}

// apiServer is an in-process docker-monitor serving /metrics and the API.
type apiServer struct {
	base    string // http://127.0.0.1:port
	metrics string
	pool    *hostpool.Pool
}

func startAPI(t *testing.T, s apiSetup) *apiServer {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	m := hostpool.NewMetrics(reg)
	pool, err := hostpool.New(s.hosts, s.hostOpts, m, log)
	if err != nil {
		t.Fatal(err)
	}
	if s.collOpts.EventWait == 0 {
		s.collOpts.EventWait = 500 * time.Millisecond
	}
	exp, err := collector.New(pool, m, s.collOpts, log)
	if err != nil {
		t.Fatal(err)
	}
	a := api.New(pool, s.apiOpts, log)
	pool.Start(context.Background())
	mux := http.NewServeMux()
	mux.Handle("/metrics", exp.Handler(reg, collector.HandlerOptions{DefaultTimeout: 10 * time.Second, TimeoutOffset: 500 * time.Millisecond}, nil))
	mux.Handle(api.Prefix+"/", a)
	srv := httptest.NewUnstartedServer(mux)
	if s.sndbuf > 0 {
		srv.Listener = sndbufListener{srv.Listener, s.sndbuf}
	}
	srv.Start()
	t.Cleanup(func() {
		a.Close() // first: the server's Close waits for the streams' handlers
		srv.Close()
		exp.Close()
		pool.Stop()
	})
	waitUntil(t, 60*time.Second, "first sync", pool.Ready)
	return &apiServer{base: srv.URL, metrics: srv.URL + "/metrics", pool: pool}
}

type sndbufListener struct {
	net.Listener
	size int
}

func (l sndbufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok && err == nil {
		_ = tc.SetWriteBuffer(l.size)
	}
	return c, err
}

// url is the API's URL of path with query params.
func (s *apiServer) url(path string, q url.Values) string {
	u := s.base + api.Prefix + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// query builds url.Values from key, value pairs; a key may repeat.
func query(kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Add(kv[i], kv[i+1])
	}
	return q
}

// fetch GETs u (with basic auth when user is set) and returns the status
// and body.
func fetch(t *testing.T, method, u, user, pass string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, u, err)
	}
	if method == http.MethodGet && resp.StatusCode < 300 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("GET %s: Content-Type %q, want application/json", u, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, body
}

// getJSON GETs u, expects 200 and decodes the answer into out.
func getJSON(t *testing.T, u string, out any) {
	t.Helper()
	status, body := fetch(t, http.MethodGet, u, "", "")
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: %v in %s", u, err, body)
	}
}

// expectError GETs u and expects status with the API's JSON error body,
// whose message mentions each of mention.
func expectError(t *testing.T, u string, status int, mention ...string) {
	t.Helper()
	got, body := fetch(t, http.MethodGet, u, "", "")
	var e api.Error
	if err := json.Unmarshal(body, &e); err != nil || got != status || e.Status != status || e.Error == "" {
		t.Errorf("GET %s: %d %s, want %d with a JSON error", u, got, body, status)
		return
	}
	for _, m := range mention {
		if !strings.Contains(e.Error, m) {
			t.Errorf("GET %s: error %q does not mention %q", u, e.Error, m)
		}
	}
}

// streamMsg is one message of the event stream, with when it arrived.
type streamMsg struct {
	Type string          `json:"type"`
	Seq  uint64          `json:"seq"`
	Data json.RawMessage `json:"data"`
	at   time.Time
}

func (m streamMsg) dockerEvent() (api.DockerEvent, bool) {
	var e api.DockerEvent
	return e, m.Type == "docker_event" && json.Unmarshal(m.Data, &e) == nil
}

func (m streamMsg) containerUpdate() (api.ContainerUpdate, bool) {
	var u api.ContainerUpdate
	return u, m.Type == "container_update" && json.Unmarshal(m.Data, &u) == nil
}

func (m streamMsg) hostStatus() (api.HostStatus, bool) {
	var h api.HostStatus
	return h, m.Type == "host_status" && json.Unmarshal(m.Data, &h) == nil
}

// streamClient reads one event stream (WebSocket or SSE) in the
// background and keeps every message.
type streamClient struct {
	name string
	mu   sync.Mutex
	msgs []streamMsg
	err  error // why the stream ended
	done chan struct{}
}

func (c *streamClient) add(m streamMsg) {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
}

func (c *streamClient) finish(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	close(c.done)
}

func (c *streamClient) messages() []streamMsg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]streamMsg(nil), c.msgs...)
}

// waitFor polls the client's messages until cond holds.
func (c *streamClient) waitFor(t *testing.T, limit time.Duration, what string, cond func([]streamMsg) bool) []streamMsg {
	t.Helper()
	var msgs []streamMsg
	waitUntil(t, limit, c.name+": "+what, func() bool {
		msgs = c.messages()
		if cond(msgs) {
			return true
		}
		select {
		case <-c.done:
			t.Fatalf("%s: stream ended (%v) while waiting for %s", c.name, c.err, what)
		default:
		}
		return false
	})
	return msgs
}

// streamDialer's connections have a small receive buffer when rcvbuf is
// set, so that a client that does not read holds up its stream at once.
func streamDialer(rcvbuf int) *http.Client {
	d := &net.Dialer{}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			return errors.Join(err, serr)
		}
	}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// rawWS opens a WebSocket to the stream and reads nothing.
func rawWS(t *testing.T, u string, hdr http.Header, rcvbuf int) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u = "ws" + strings.TrimPrefix(u, "http")
	c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: streamDialer(rcvbuf), HTTPHeader: hdr})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("websocket %s: %v (status %d)", u, err, status)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// dialWS connects a WebSocket client to the stream at u and reads it.
func dialWS(t *testing.T, name, u string) *streamClient {
	t.Helper()
	c := rawWS(t, u, nil, 0)
	sc := &streamClient{name: name, done: make(chan struct{})}
	go func() { sc.finish(readWS(c, sc.add)) }()
	return sc
}

// readWS reads messages until the connection ends, and returns why.
func readWS(c *websocket.Conn, add func(streamMsg)) error {
	for {
		_, b, err := c.Read(context.Background())
		if err != nil {
			return err
		}
		m := streamMsg{at: time.Now()}
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("message %q: %w", b, err)
		}
		add(m)
	}
}

// rawSSE opens the stream as Server-Sent Events and reads only the
// answer's headers.
func rawSSE(t *testing.T, u string, hdr http.Header, rcvbuf int) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := streamDialer(rcvbuf).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.Fatalf("GET %s: %d %q: %s", u, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return resp
}

// dialSSE connects an SSE client to the stream at u and reads it.
func dialSSE(t *testing.T, name, u string) *streamClient {
	t.Helper()
	resp := rawSSE(t, u, nil, 0)
	sc := &streamClient{name: name, done: make(chan struct{})}
	go func() { sc.finish(readSSE(resp.Body, sc.add)) }()
	return sc
}

// readSSE parses Server-Sent Events until the answer ends (nil) or fails.
// Each event's data is one message; its id must be the message's seq and
// its event name the message's type.
func readSSE(r io.Reader, add func(streamMsg)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	var id, event string
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if len(data) > 0 {
				m := streamMsg{at: time.Now()}
				if err := json.Unmarshal([]byte(strings.Join(data, "\n")), &m); err != nil {
					return fmt.Errorf("event data %q: %w", data, err)
				}
				if m.Type != event || (id != "" && id != fmt.Sprint(m.Seq)) {
					return fmt.Errorf("event %q id %q carries a message of type %q seq %d", event, id, m.Type, m.Seq)
				}
				add(m)
			}
			id, event, data = "", "", nil
		case strings.HasPrefix(line, ":"): // a comment: keepalive
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				id = value
			case "event":
				event = value
			case "data":
				data = append(data, value)
			}
		}
	}
	return sc.Err()
}

// markStreams makes an event on d (a volume created and removed) and waits
// until every client has it: from then on, each sees whatever happens.
func markStreams(t *testing.T, d *testlab.Daemon, clients ...*streamClient) {
	t.Helper()
	name := fmt.Sprintf("api-mark-%d", time.Now().UnixNano())
	d.Docker(t, "volume", "create", name)
	d.Docker(t, "volume", "rm", name)
	for _, c := range clients {
		c.waitFor(t, 30*time.Second, "the marker volume's event", func(ms []streamMsg) bool {
			for _, m := range ms {
				if e, ok := m.dockerEvent(); ok && e.Type == "volume" && e.ID == name {
					return true
				}
			}
			return false
		})
	}
}

// containerEvents are the docker_event messages about container id.
func containerEvents(msgs []streamMsg, id string) []streamMsg {
	var out []streamMsg
	for _, m := range msgs {
		if e, ok := m.dockerEvent(); ok && e.Type == "container" && e.ID == id {
			out = append(out, m)
		}
	}
	return out
}

// hasActions says whether the docker events of id include want, in order
// (other events may come between).
func hasActions(msgs []streamMsg, id string, want ...string) bool {
	i := 0
	for _, m := range containerEvents(msgs, id) {
		if e, _ := m.dockerEvent(); i < len(want) && e.Action == want[i] {
			i++
		}
	}
	return i == len(want)
}

// actions lists the docker event actions of id, for failure messages.
func actions(msgs []streamMsg, id string) []string {
	var out []string
	for _, m := range containerEvents(msgs, id) {
		e, _ := m.dockerEvent()
		out = append(out, e.Action)
	}
	return out
}

// dockerEventLine is one line of `docker events --format '{{json .}}'`.
type dockerEventLine struct {
	Type   string
	Action string
	Actor  struct {
		ID         string
		Attributes map[string]string
	}
	TimeNano int64 `json:"timeNano"`
}

// daemonEvents asks d for its container events from since until now, as
// the authority on what happened.
func daemonEvents(t *testing.T, d *testlab.Daemon, since time.Time) []dockerEventLine {
	t.Helper()
	// --until has a resolution of seconds: a second ahead covers now.
	out := d.Docker(t, "events", "--since", fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond()),
		"--until", fmt.Sprint(time.Now().Unix()+1), "--filter", "type=container", "--format", "{{json .}}")
	var evs []dockerEventLine
	for _, line := range bytes.Split([]byte(out), []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e dockerEventLine
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("docker events: %v in %s", err, line)
		}
		evs = append(evs, e)
	}
	return evs
}
