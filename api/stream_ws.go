package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/snadboy/docker-monitor/hostpool"
)

// errPing ends a stream whose client did not answer a ping in time.
var errPing = errors.New("no pong within the write timeout")

// acceptOptions keep the library's origin check, the defence against
// cross-site WebSocket hijacking (a page elsewhere opening the stream with
// the user's basic-auth credentials): a browser is accepted only from the
// page's own origin (Origin's host equal to Host, as the dashboard served
// alongside, or behind the same reverse proxy), and a client that sends no
// Origin (curl, websocat, scripts: no browser, no ambient credentials to
// abuse) is accepted as it is. A dashboard on another origin uses SSE
// through its own backend, or a proxy that makes it same-origin; no origin
// pattern is opened here. Compression is off: it would cost each client a
// flate state (tens of KB) for messages of a few hundred bytes.
var acceptOptions = &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled}

// wsSink writes each message as one text frame of JSON.
type wsSink struct {
	c       *websocket.Conn
	ctx     context.Context
	timeout time.Duration
}

func (a *API) serveWebSocket(w http.ResponseWriter, r *http.Request, sub *hostpool.Subscription, past []*hostpool.Event, f *streamFilter) {
	c, err := websocket.Accept(w, r, acceptOptions)
	if err != nil {
		// Accept has answered (403 for a foreign origin, 400 for a bad
		// handshake).
		a.log.Debug("event stream: websocket refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	// The client sends nothing but control frames: CloseRead answers its
	// pings and close, delivers the pongs Ping waits for, and ends ctx
	// when the connection goes.
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	ctx = c.CloseRead(ctx)
	s := &wsSink{c: c, ctx: ctx, timeout: a.streamWriteTimeout()}
	if ka := a.streamKeepAlive(); ka > 0 {
		go s.ping(ctx, cancel, ka)
	}
	err = a.pump(ctx, s, sub, past, f, nil)
	sub.Close() // the close handshake can take seconds: the feed need not queue for it
	a.closeWebSocket(c, s, err)
	a.streamEnded(r, "websocket", err)
}

// closeWebSocket ends the connection as err says: a lagged client gets
// the lagged message and 1008 with the reason, shutdown 1001, and a
// client whose write failed or that left nothing more.
func (a *API) closeWebSocket(c *websocket.Conn, s *wsSink, err error) {
	switch {
	case errors.Is(err, errLagged):
		if s.send(laggedMessage) == nil {
			_ = c.Close(websocket.StatusPolicyViolation, a.lagReason())
		}
	case errors.Is(err, errShutdown):
		_ = c.Close(websocket.StatusGoingAway, "server shutting down")
	case errors.Is(err, errFeedGone):
		_ = c.Close(websocket.StatusInternalError, "event feed ended")
	}
	_ = c.CloseNow()
}

func (s *wsSink) send(m encoded) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	// A write that does not end by the deadline closes the connection.
	err := s.c.Write(ctx, websocket.MessageText, m.json)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		// The library closes the connection when the deadline passes: a
		// write may fail for that before it sees the deadline, or end just
		// as it passes and leave the next write a closed connection.
		if err == nil {
			err = context.DeadlineExceeded
		}
		return fmt.Errorf("write %s: not done within the write timeout %s: %w", m.typ, s.timeout, err)
	case err == nil:
		return nil
	default:
		return fmt.Errorf("write %s: %w", m.typ, err)
	}
}

// keepAlive is never called: ping runs on its own, since waiting for a
// pong must not hold up the messages.
func (s *wsSink) keepAlive() error { return nil }

// ping pings every period and ends the stream (cancel) when a pong does
// not come back within the write timeout.
func (s *wsSink) ping(ctx context.Context, cancel context.CancelCauseFunc, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, pcancel := context.WithTimeout(ctx, s.timeout)
			err := s.c.Ping(pctx)
			pcancel()
			if err != nil {
				if ctx.Err() == nil {
					cancel(fmt.Errorf("%w: %w", errPing, err))
				}
				return
			}
		}
	}
}
