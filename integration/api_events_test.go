package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/snadboy/docker-monitor/api"
	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// deliveryDeadline is how long after Docker's own time of an event the
// stream may deliver it: a correctness bound (the dashboard's table must
// not lag), generous for a loaded test machine, not a benchmark.
const deliveryDeadline = time.Second

// TestAPIEventsLifecycle: a WebSocket client and an SSE client each see
// the create, start, stop and destroy of a container, in order and each
// within deliveryDeadline of Docker's event, with the container_update
// messages of its state changes; filters keep to what they name, and
// since replays what happened before a client connected.
func TestAPIEventsLifecycle(t *testing.T) {
	d := testlab.Shared(t)
	srv := startAPI(t, apiSetup{hosts: []config.Host{testlab.Host(t, "ev", d.Host)},
		hostOpts: hostpool.DefaultOptions, apiOpts: api.DefaultOptions})
	expectError(t, srv.url("/events", query("bogus", "1")), 400, "bogus")
	expectError(t, srv.url("/events", query("since", "yesterday")), 400, "since")
	expectError(t, srv.url("/events", query("type", "nonsense")), 400, "type")

	before := time.Now()
	ws := dialWS(t, "websocket", srv.url("/events", nil))
	sse := dialSSE(t, "sse", srv.url("/events", nil))
	only := dialSSE(t, "sse filtered", srv.url("/events", query("host", "ev", "type", "container", "container", "apiev-life")))
	starts := dialWS(t, "websocket action=start", srv.url("/events", query("action", "start")))
	markStreams(t, d, ws, sse)

	id := d.Create(t, "apiev-life", nil)
	d.Docker(t, "start", id)
	d.Docker(t, "stop", "-t", "5", id) // the fixture exits on SIGTERM at once
	d.Docker(t, "rm", id)

	for _, c := range []*streamClient{ws, sse, only} {
		msgs := c.waitFor(t, 30*time.Second, "the container's destroy and removal", func(ms []streamMsg) bool {
			return lifeEnded(ms, id)
		})
		checkLifecycle(t, c.name, msgs, id, true)
	}
	for _, m := range only.messages() {
		e, isEvent := m.dockerEvent()
		u, isUpdate := m.containerUpdate()
		if !(isEvent && e.ID == id) && !(isUpdate && u.ID == id) {
			t.Errorf("%s got a message about something else: %s %s", only.name, m.Type, m.Data)
		}
	}
	starts.waitFor(t, 30*time.Second, "the container's start", func(ms []streamMsg) bool { return hasActions(ms, id, "start") })
	for _, m := range starts.messages() {
		if e, ok := m.dockerEvent(); !ok || e.Action != "start" {
			t.Errorf("%s got %s %s", starts.name, m.Type, m.Data)
		}
	}

	// Replays: the history holds the whole life of the container, which
	// ended before these clients connected.
	for _, c := range []*streamClient{
		dialSSE(t, "sse since RFC 3339", srv.url("/events", query("since", before.UTC().Format(time.RFC3339Nano)))),
		dialWS(t, "websocket since unix", srv.url("/events", query("since", fmt.Sprint(before.Unix())))),
	} {
		msgs := c.waitFor(t, 30*time.Second, "the replayed destroy and removal", func(ms []streamMsg) bool {
			return lifeEnded(ms, id)
		})
		checkLifecycle(t, c.name, msgs, id, false)
	}
	// Without since, nothing of the past.
	late := dialSSE(t, "sse late", srv.url("/events", nil))
	markStreams(t, d, late)
	if evs := containerEvents(late.messages(), id); len(evs) != 0 {
		t.Errorf("a client that connected after the container was gone got %d of its events without since", len(evs))
	}
}

// checkLifecycle checks the container's events and state changes in msgs:
// in order and, when live, each delivered within deliveryDeadline.
func checkLifecycle(t *testing.T, client string, msgs []streamMsg, id string, live bool) {
	t.Helper()
	if !hasActions(msgs, id, "create", "start", "die", "destroy") || !hasActions(msgs, id, "start", "stop", "destroy") {
		t.Errorf("%s: actions %v, want create, start, die and stop, destroy in order", client, actions(msgs, id))
	}
	var worst time.Duration
	for _, m := range containerEvents(msgs, id) {
		e, _ := m.dockerEvent()
		lag := m.at.Sub(e.Time)
		worst = max(worst, lag)
		if live && lag > deliveryDeadline {
			t.Errorf("%s: %s of %.12s delivered %v after Docker's event time %s", client, e.Action, id, lag, e.Time.Format(time.RFC3339Nano))
		}
		if e.Host != "ev" || e.Name != "apiev-life" || e.Attributes["name"] != "apiev-life" {
			t.Errorf("%s: %s event: host %q name %q attributes %v", client, e.Action, e.Host, e.Name, e.Attributes)
		}
	}
	if live {
		t.Logf("%s: slowest delivery %v after Docker's event", client, worst)
	}
	var changes []string
	for _, m := range msgs {
		if u, ok := m.containerUpdate(); ok && u.ID == id {
			changes = append(changes, u.OldState+">"+u.NewState)
			if (u.NewState == "") != (u.Container == nil) || u.Name != "apiev-life" || u.Host != "ev" {
				t.Errorf("%s: update %s>%s: name %q host %q container %v", client, u.OldState, u.NewState, u.Name, u.Host, u.Container != nil)
			}
		}
	}
	want := []string{">created", "created>running", "running>exited", "exited>"}
	if !subsequence(changes, want) {
		t.Errorf("%s: container_update changes %v, want %v in order", client, changes, want)
	}
	var last uint64
	for _, m := range msgs {
		if m.Seq <= last {
			t.Errorf("%s: seq %d after %d", client, m.Seq, last)
		}
		last = m.Seq
	}
}

// lifeEnded says whether msgs hold both the destroy event of id and the
// container_update that removes it. They are two messages, the update
// published just after the event, so a reader (live or replaying) can
// hold the first without the second yet.
func lifeEnded(msgs []streamMsg, id string) bool {
	if !hasActions(msgs, id, "destroy") {
		return false
	}
	for _, m := range msgs {
		if u, ok := m.containerUpdate(); ok && u.ID == id && u.NewState == "" {
			return true
		}
	}
	return false
}

func subsequence(have, want []string) bool {
	i := 0
	for _, h := range have {
		if i < len(want) && h == want[i] {
			i++
		}
	}
	return i == len(want)
}

// TestAPIEventsSlowClient: clients that stop reading during a burst of
// events are closed (WebSocket 1008, SSE a lagged message) once they read
// again, while a WebSocket and an SSE client that read get every event on
// time and scrapes keep answering within their deadline.
//
// The write timeout and keepalive are set far beyond the test, so that
// the stalled clients are closed for their full buffer and not by a
// deadline (which would cut them off without a reason).
func TestAPIEventsSlowClient(t *testing.T) {
	d := testlab.Shared(t)
	opts := api.DefaultOptions
	opts.EventBuffer = 16
	opts.KeepAlive, opts.WriteTimeout = 10*time.Minute, 10*time.Minute
	srv := startAPI(t, apiSetup{hosts: []config.Host{testlab.Host(t, "slow", d.Host)},
		hostOpts: hostpool.DefaultOptions, apiOpts: opts, sndbuf: 16 << 10})
	u := srv.url("/events", nil)
	stalledWS := rawWS(t, u, nil, 4096)
	stalledSSE := rawSSE(t, u, nil, 4096)
	ws := dialWS(t, "websocket reader", u)
	sse := dialSSE(t, "sse reader", u)
	markStreams(t, d, ws, sse)

	start := time.Now()
	scrapes := scrapeLoop(srv.metrics)
	burst(t, d, 2, 40)
	n, errs := scrapes()

	var want []dockerEventLine
	for _, e := range daemonEvents(t, d, start) {
		if strings.HasPrefix(e.Actor.Attributes["name"], "apiburst-") {
			want = append(want, e)
		}
	}
	t.Logf("burst: %d container events in %v; %d scrapes meanwhile", len(want), time.Since(start).Round(time.Millisecond), n)
	for _, err := range errs {
		t.Errorf("scrape during the burst: %v", err)
	}
	for _, c := range []*streamClient{ws, sse} {
		checkBurst(t, c, want)
	}

	checkStalled(t, stalledWS, stalledSSE.Body, len(want))
}

// checkStalled reads the stalled clients, now: first what was in their
// sockets, then why they are closed. events is how many Docker events the
// burst had (with their container_update messages, about twice as many
// messages).
func checkStalled(t *testing.T, ws *websocket.Conn, sse io.Reader, events int) {
	t.Helper()
	type ending struct {
		n    int
		last string
		err  error
	}
	read := func(f func(func(streamMsg)) error) <-chan ending {
		ch := make(chan ending, 1)
		go func() {
			var e ending
			e.err = f(func(m streamMsg) { e.n, e.last = e.n+1, m.Type })
			ch <- e
		}()
		return ch
	}
	wsEnd := read(func(add func(streamMsg)) error { return readWS(ws, add) })
	sseEnd := read(func(add func(streamMsg)) error { return readSSE(sse, add) })
	for _, c := range []struct {
		name string
		end  <-chan ending
		ok   func(ending) bool
	}{
		{"websocket", wsEnd, func(e ending) bool {
			return e.last == "lagged" && websocket.CloseStatus(e.err) == websocket.StatusPolicyViolation
		}},
		{"sse", sseEnd, func(e ending) bool { return e.err == nil && e.last == "lagged" }},
	} {
		select {
		case e := <-c.end:
			t.Logf("stalled %s client: %d messages, the last %q, then %v", c.name, e.n, e.last, e.err)
			if !c.ok(e) {
				t.Errorf("stalled %s client: %d messages, the last %q, then %v; want a lagged message and the end (WebSocket: close 1008)", c.name, e.n, e.last, e.err)
			}
			if e.n >= 2*events {
				t.Errorf("stalled %s client got %d messages: it kept up with the burst, which tests nothing", c.name, e.n)
			}
		case <-time.After(time.Minute):
			t.Errorf("stalled %s client not closed a minute after it began to read", c.name)
		}
	}
}

// checkBurst checks that c got each of want (the daemon's account of the
// burst's events), each within deliveryDeadline, and was never lagged.
func checkBurst(t *testing.T, c *streamClient, want []dockerEventLine) {
	t.Helper()
	type key struct {
		id, action string
		nano       int64
	}
	var msgs []streamMsg
	missing := map[key]bool{}
	waitUntil(t, 30*time.Second, c.name+": every event of the burst", func() bool {
		msgs = c.messages()
		clear(missing)
		for _, e := range want {
			missing[key{e.Actor.ID, e.Action, e.TimeNano}] = true
		}
		for _, m := range msgs {
			if e, ok := m.dockerEvent(); ok {
				delete(missing, key{e.ID, e.Action, e.Time.UnixNano()})
			}
		}
		return len(missing) == 0
	})
	var worst time.Duration
	late := 0
	for _, m := range msgs {
		if m.Type == "lagged" {
			t.Errorf("%s, which reads all the time, was lagged", c.name)
		}
		e, ok := m.dockerEvent()
		if !ok || !strings.HasPrefix(e.Name, "apiburst-") {
			continue
		}
		lag := m.at.Sub(e.Time)
		worst = max(worst, lag)
		if lag > deliveryDeadline {
			late++
		}
	}
	if late > 0 {
		t.Errorf("%s: %d of %d burst events delivered more than %v after Docker's time (slowest %v)", c.name, late, len(want), deliveryDeadline, worst)
	}
	t.Logf("%s: %d burst events, slowest delivery %v", c.name, len(want), worst)
}

// burst creates and removes containers, workers at a time, n each,
// through the Engine API (the CLI would spend most of the time starting).
func burst(t *testing.T, d *testlab.Daemon, workers, n int) {
	t.Helper()
	image, network := d.Image(t), d.Network(t)
	t.Cleanup(func() { // after a failure half-way
		if ids, err := d.TryDocker("ps", "-aq", "--filter", "name=apiburst-"); err == nil && ids != "" {
			_, _ = d.TryDocker(append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
		}
	})
	sock := strings.TrimPrefix(d.Host, "unix://")
	c := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", sock)
		},
	}}
	body := fmt.Sprintf(`{"Image":%q,"HostConfig":{"NetworkMode":%q}}`, image, network)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				if err := createRemove(c, fmt.Sprintf("apiburst-%d-%d", w, i), body); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// createRemove creates a container and removes it.
func createRemove(c *http.Client, name, body string) error {
	resp, err := c.Post("http://docker/containers/create?name="+name, "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	var created struct{ ID string }
	err = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("create %s: %d %v", name, resp.StatusCode, err)
	}
	req, _ := http.NewRequest(http.MethodDelete, "http://docker/containers/"+created.ID, nil)
	if resp, err = c.Do(req); err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("remove %s: %d", name, resp.StatusCode)
	}
	return nil
}

// scrapeLoop scrapes url over and over, each with a deadline of 5s told
// to the exporter as Prometheus does, until the function it returns is
// called; that returns how many scrapes there were and their errors.
func scrapeLoop(url string) func() (int, []error) {
	stop := make(chan struct{})
	var (
		n    int
		errs []error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			if err := scrapeOnce(url, 5*time.Second); err != nil {
				errs = append(errs, err)
			}
			n++
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() (int, []error) {
		close(stop)
		<-done
		return n, errs
	}
}

func scrapeOnce(url string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", fmt.Sprint(limit.Seconds()))
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "docker_host_up") {
		return fmt.Errorf("status %d after %v, err %v", resp.StatusCode, time.Since(start), err)
	}
	return nil
}

// TestAPIEventsHostDown: a host whose daemon stops mid-stream is reported
// down, and up again once the daemon is back.
func TestAPIEventsHostDown(t *testing.T) {
	d := testlab.Start(t, "api-down")
	opts := hostpool.DefaultOptions
	opts.Backoff = hostpool.Backoff{Initial: 500 * time.Millisecond, Max: time.Second, Factor: 2, Retries: 3}
	srv := startAPI(t, apiSetup{hosts: []config.Host{testlab.Host(t, "down", d.Host)}, hostOpts: opts, apiOpts: api.DefaultOptions})
	ws := dialWS(t, "websocket", srv.url("/events", nil))
	sse := dialSSE(t, "sse", srv.url("/events", nil))
	markStreams(t, d, ws, sse)

	d.Stop(t)
	downSeq := map[*streamClient]uint64{}
	for _, c := range []*streamClient{ws, sse} {
		for _, m := range c.waitFor(t, 30*time.Second, "host_status down", hostStatusAfter(0, "down")) {
			if h, ok := m.hostStatus(); ok && h.Status == "down" {
				downSeq[c] = m.Seq
				t.Logf("%s: down: reason %q, error %q", c.name, h.Reason, h.Error)
				if h.Host != "down" || h.Reason == "" {
					t.Errorf("%s: host_status %+v, want host down with a reason", c.name, h)
				}
				break
			}
		}
	}
	// The reason is recorded just after the message is sent: poll.
	var h api.Host
	waitUntil(t, 10*time.Second, "/hosts/down to say down, and why", func() bool {
		getJSON(t, srv.url("/hosts/down", nil), &h)
		return h.Status == "down" && h.Reason != "" && !h.EventStreamUp
	})
	expectError(t, srv.url("/containers/down/anything", nil), 503, "down")

	d.Restart(t)
	for _, c := range []*streamClient{ws, sse} {
		c.waitFor(t, 60*time.Second, "host_status up after the down", hostStatusAfter(downSeq[c], "up"))
	}
	getJSON(t, srv.url("/hosts/down", nil), &h)
	if h.Status != "up" || !h.EventStreamUp {
		t.Errorf("/hosts/down after the restart: status %q stream up %v", h.Status, h.EventStreamUp)
	}
}

// hostStatusAfter matches a host_status message with status after seq.
func hostStatusAfter(seq uint64, status string) func([]streamMsg) bool {
	return func(ms []streamMsg) bool {
		for _, m := range ms {
			if h, ok := m.hostStatus(); ok && m.Seq > seq && h.Status == status {
				return true
			}
		}
		return false
	}
}
