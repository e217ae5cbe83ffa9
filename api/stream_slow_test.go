package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// A client that stops reading fills its socket, then its queue; it is
// closed with the lagged message and the reason, while a client beside it
// gets every event.
func TestStreamSlowClient(t *testing.T) {
	for _, kind := range []string{"sse", "websocket"} {
		t.Run(kind, func(t *testing.T) {
			opts := DefaultOptions
			opts.EventBuffer = 8
			// The stalled write must outlast the test's emitting: the
			// queue overflows behind it, and the lag is found once the
			// client reads again.
			opts.WriteTimeout = time.Minute
			opts.KeepAlive = time.Hour
			env := newStreamEnv(t, envConfig{opts: opts, sndbuf: 4096})
			read := make(chan struct{})
			var slow, fast *client
			if kind == "sse" {
				slow = env.openSSE(t, smallReadClient(4096), "", nil, read)
				fast = env.openSSE(t, nil, "", nil, nil)
			} else {
				slow = env.openWS(t, &websocket.DialOptions{HTTPClient: smallReadClient(4096)}, "", read)
				fast = env.openWS(t, nil, "", nil)
			}
			// 1000 events of some 400 bytes are far more than the slow
			// client's socket buffers hold. They go four at a time, each
			// lot once the fast client has the last, so that the fast
			// client never has more than four queued: what it shows is
			// that the slow one does not hold it up.
			const n, lot = 1000, 4
			events := execEvents(n, future())
			for i := 0; i < n; i += lot {
				env.fake.Emit(events[i : i+lot]...)
				for j := i; j < i+lot; j++ {
					if m := fast.next(t); m.Type != "docker_event" || m.docker(t).Attributes["execID"] != fmt.Sprint(j) {
						t.Fatalf("fast client: message %d is %s %s", j, m.Type, m.Data)
					}
				}
			}
			close(read)
			msgs := slow.ended(t)
			if len(msgs) == 0 || msgs[len(msgs)-1].Type != "lagged" || len(msgs) > n {
				t.Fatalf("slow client got %d messages, the last %+v; want events then lagged", len(msgs), msgs[len(msgs)-1])
			}
			for i, m := range msgs[:len(msgs)-1] {
				if m.docker(t).Attributes["execID"] != fmt.Sprint(i) {
					t.Fatalf("slow client: message %d is %s", i, m.Data)
				}
			}
			if kind == "websocket" {
				err := slow.endErr()
				var ce websocket.CloseError
				if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation ||
					ce.Reason != "client too slow: more than 8 messages queued; reconnect and reload" {
					t.Errorf("slow client closed with %v", err)
				}
			} else if err := slow.endErr(); err != nil {
				t.Errorf("slow client's stream did not end cleanly: %v", err)
			}
			env.waitLog(t, "event stream client too slow")
		})
	}
}

// A client that does not read at all is closed when a write does not end
// within the write timeout.
func TestStreamWriteTimeout(t *testing.T) {
	for _, kind := range []string{"sse", "websocket"} {
		t.Run(kind, func(t *testing.T) {
			opts := DefaultOptions
			opts.EventBuffer = 1 << 14 // so that it times out before it lags
			opts.WriteTimeout = 100 * time.Millisecond
			opts.KeepAlive = time.Hour
			env := newStreamEnv(t, envConfig{opts: opts, sndbuf: 4096})
			never := make(chan struct{})
			t.Cleanup(func() { close(never) })
			if kind == "sse" {
				env.openSSE(t, smallReadClient(4096), "", nil, never)
			} else {
				env.openWS(t, &websocket.DialOptions{HTTPClient: smallReadClient(4096)}, "", never)
			}
			env.emit(t, execEvents(1000, future())...)
			env.waitLog(t, `msg="event stream ended" kind=`+kind)
			if logs := env.logs.String(); !strings.Contains(logs, "i/o timeout") && !strings.Contains(logs, "write timeout") {
				t.Errorf("the stream ended, not for the write timeout:\n%s", logs)
			}
		})
	}
}

func TestStreamKeepAliveSSE(t *testing.T) {
	opts := DefaultOptions
	opts.KeepAlive = 10 * time.Millisecond
	env := newStreamEnv(t, envConfig{opts: opts})
	c := env.openSSE(t, nil, "", nil, nil)
	for range 2 {
		select {
		case line := <-c.comments:
			if line != ": keepalive" {
				t.Fatalf("comment %q", line)
			}
		case <-time.After(wait):
			t.Fatal("no keepalive comment")
		}
	}
}

func TestStreamKeepAliveWebSocket(t *testing.T) {
	opts := DefaultOptions
	opts.KeepAlive = 10 * time.Millisecond
	env := newStreamEnv(t, envConfig{opts: opts})
	var pings atomic.Int32
	pinged := make(chan struct{}, 100)
	env.openWS(t, &websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
		pings.Add(1)
		pinged <- struct{}{}
		return true
	}}, "", nil)
	for range 3 {
		select {
		case <-pinged:
		case <-time.After(wait):
			t.Fatalf("%d pings, want 3", pings.Load())
		}
	}
}

// A WebSocket client that does not answer pings is closed.
func TestStreamPingTimeout(t *testing.T) {
	opts := DefaultOptions
	opts.KeepAlive = 10 * time.Millisecond
	opts.WriteTimeout = 100 * time.Millisecond
	env := newStreamEnv(t, envConfig{opts: opts})
	c := env.openWS(t, &websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool { return false }}, "", nil)
	c.ended(t)
	env.waitLog(t, "no pong within the write timeout")
}
