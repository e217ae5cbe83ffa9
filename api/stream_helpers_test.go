package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/dockerfake"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// wait is how long a test waits for something that should happen at once:
// generous, since it only bounds a failing test.
const wait = 20 * time.Second

// streamEnv is an API over a pool of one fake host, served on loopback.
type streamEnv struct {
	fake *dockerfake.Server
	pool *hostpool.Pool
	api  *API
	srv  *httptest.Server
	logs *testlab.SyncBuffer
	feed *hostpool.Subscription // the test's own view of the feed
}

type envConfig struct {
	opts Options
	// sndbuf, when set, is the server side's socket send buffer: small, a
	// client that does not read blocks the server's writes soon.
	sndbuf int
}

func newStreamEnv(t testing.TB, cfg envConfig) *streamEnv {
	t.Helper()
	fake := dockerfake.StartT(t)
	hopts := hostpool.DefaultOptions
	hopts.Backoff = hostpool.Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond, Factor: 2, Retries: 3}
	hopts.StreamCheckInterval = 0
	hopts.Timeout = 10 * time.Second
	pool, err := hostpool.New([]config.Host{testlab.Host(t, "fake", fake.Host)}, hopts, hostpool.NewMetrics(nil), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	env := &streamEnv{fake: fake, pool: pool, logs: &testlab.SyncBuffer{}}
	env.feed = pool.Subscribe(1 << 16)
	pool.Start(context.Background())
	t.Cleanup(pool.Stop)
	env.api = New(pool, cfg.opts, slog.New(slog.NewTextHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(env.api.Close)
	env.srv = httptest.NewUnstartedServer(env.api)
	if cfg.sndbuf > 0 {
		env.srv.Listener = &smallSendListener{Listener: env.srv.Listener, size: cfg.sndbuf}
	}
	env.srv.Start()
	t.Cleanup(env.srv.Close)
	env.waitFeed(t, func(e *hostpool.Event) bool { return e.Kind == hostpool.KindHostStatus && e.Up })
	env.waitStream(t)
	return env
}

// waitStream waits until the pool's event stream is open on the fake: the
// pool may report the host up before the stream's answer has come.
func (env *streamEnv) waitStream(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for env.fake.EventStreams() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the pool opened no event stream on the fake")
		}
		time.Sleep(time.Millisecond)
	}
}

// waitFeed reads the test's own subscription until an event satisfies ok.
func (env *streamEnv) waitFeed(t testing.TB, ok func(*hostpool.Event) bool) *hostpool.Event {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case e := <-env.feed.C():
			if ok(e) {
				return e
			}
		case <-timeout:
			t.Fatal("the feed did not publish the event waited for")
			return nil
		}
	}
}

// emit sends events into the fake's stream and waits until the feed has
// published every one, so that they are in the history too; it returns
// the one published last. The pool applies the events of different
// containers concurrently: only each container's are in order.
func (env *streamEnv) emit(t testing.TB, events ...[]byte) *hostpool.Event {
	t.Helper()
	if n := env.fake.Emit(events...); n == 0 {
		t.Fatal("no event stream open on the fake")
	}
	type key struct {
		typ, action, id string
		nano            int64
	}
	pending := map[key]int{}
	for _, b := range events {
		var e struct {
			Type, Action string
			Actor        struct{ ID string }
			TimeNano     int64 `json:"timeNano"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		pending[key{e.Type, e.Action, e.Actor.ID, e.TimeNano}]++
	}
	var last *hostpool.Event
	for len(pending) > 0 {
		last = env.waitFeed(t, func(e *hostpool.Event) bool {
			k := key{e.Type, e.Action, e.ActorID, e.Time.UnixNano()}
			return e.Kind == hostpool.KindDockerEvent && pending[k] > 0
		})
		k := key{last.Type, last.Action, last.ActorID, last.Time.UnixNano()}
		if pending[k]--; pending[k] == 0 {
			delete(pending, k)
		}
	}
	return last
}

// execEvent is a container event that changes nothing in the cache (no
// inspect): the feed publishes it as it is.
func execEvent(i int, at time.Time) []byte {
	return dockerfake.Event("container", fmt.Sprintf("exec_start: /bin/sh -c step-%d", i),
		"3cb546a104f6"+strings.Repeat("0", 52), map[string]string{"name": "writer", "image": "fx", "execID": fmt.Sprint(i)}, at)
}

// events numbers n exec events one second apart from t0.
func execEvents(n int, t0 time.Time) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = execEvent(i, t0.Add(time.Duration(i)*time.Second))
	}
	return out
}

// waitLog waits until the API has logged something containing s.
func (env *streamEnv) waitLog(t testing.TB, s string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !strings.Contains(env.logs.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line has %q; logs:\n%s", s, env.logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// smallSendListener shrinks the send buffer of each accepted connection.
type smallSendListener struct {
	net.Listener
	size int
}

func (l *smallSendListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok && err == nil {
		_ = tc.SetWriteBuffer(l.size)
	}
	return c, err
}

// smallReadClient is an HTTP client whose connections have a small
// receive buffer, set before connecting so the window stays small.
func smallReadClient(size int) *http.Client {
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// msg is a stream message with its data left raw.
type msg struct {
	Type string          `json:"type"`
	Seq  uint64          `json:"seq"`
	Data json.RawMessage `json:"data"`
	// SSE's framing, checked against the JSON.
	id, event string
}

func (m msg) docker(t testing.TB) DockerEvent {
	t.Helper()
	var d DockerEvent
	if err := json.Unmarshal(m.Data, &d); err != nil {
		t.Fatalf("%s %s: %v", m.Type, m.Data, err)
	}
	return d
}

// client is a stream client of either kind; msgs closes when the stream
// ends, and then err says how.
type client struct {
	msgs     chan msg
	comments chan string // SSE comments (keepalives)
	mu       sync.Mutex
	err      error
	ws       *websocket.Conn
	cancel   context.CancelFunc
}

func (c *client) setErr(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

func (c *client) endErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// next returns the next message, failing the test if none comes.
func (c *client) next(t testing.TB) msg {
	t.Helper()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			t.Fatalf("stream ended: %v", c.endErr())
		}
		return m
	case <-time.After(wait):
		t.Fatal("no message")
	}
	return msg{}
}

// nextOf skips messages until one of type typ.
func (c *client) nextOf(t testing.TB, typ string) msg {
	t.Helper()
	for {
		if m := c.next(t); m.Type == typ {
			return m
		}
	}
}

// ended waits for the stream to end and returns every message left.
func (c *client) ended(t testing.TB) []msg {
	t.Helper()
	var out []msg
	timeout := time.After(wait)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return out
			}
			out = append(out, m)
		case <-timeout:
			t.Fatal("the stream did not end")
		}
	}
}

// openSSE starts an SSE client; it reads only once read is closed (nil:
// at once).
func (env *streamEnv) openSSE(t testing.TB, hc *http.Client, query string, hdr http.Header, read <-chan struct{}) *client {
	t.Helper()
	if hc == nil {
		hc = env.srv.Client()
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.srv.URL+Prefix+"/events"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d, %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	c := &client{msgs: make(chan msg, 1<<14), comments: make(chan string, 1<<10), cancel: cancel}
	go func() {
		defer resp.Body.Close()
		if read != nil {
			<-read
		}
		c.setErr(readSSE(resp.Body, c))
		close(c.msgs)
	}()
	return c
}

// readSSE parses the stream into c.msgs, checking each event's framing.
func readSSE(r io.Reader, c *client) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	var cur msg
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.event == "" {
				continue
			}
			raw := cur.Data
			cur.Data = nil
			if err := json.Unmarshal(raw, &cur); err != nil {
				return fmt.Errorf("data %q: %w", raw, err)
			}
			if cur.event != cur.Type || cur.id != fmt.Sprint(cur.Seq) && !(cur.id == "" && cur.Seq == 0) {
				return fmt.Errorf("framing id %q event %q for %s", cur.id, cur.event, raw)
			}
			c.msgs <- cur
			cur = msg{}
		case strings.HasPrefix(line, ":"):
			select {
			case c.comments <- line:
			default:
			}
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			cur.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			cur.Data = json.RawMessage(line[6:])
		default:
			return fmt.Errorf("unexpected line %q", line)
		}
	}
	return sc.Err()
}

// openWS starts a WebSocket client; it reads only once read is closed.
func (env *streamEnv) openWS(t testing.TB, opts *websocket.DialOptions, query string, read <-chan struct{}) *client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	url := "ws" + strings.TrimPrefix(env.srv.URL, "http") + Prefix + "/events" + query
	ws, resp, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	c := &client{msgs: make(chan msg, 1<<14), ws: ws, cancel: cancel}
	go func() {
		defer close(c.msgs)
		if read != nil {
			<-read
		}
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				c.setErr(err)
				return
			}
			var m msg
			if err := json.Unmarshal(b, &m); err != nil {
				c.setErr(fmt.Errorf("message %q: %w", b, err))
				return
			}
			c.msgs <- m
		}
	}()
	return c
}
