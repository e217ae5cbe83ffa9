package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/snadboy/docker-monitor/hostpool"
)

// Why a stream ended, besides the client leaving or a write failing.
var (
	errLagged   = errors.New("client too slow")
	errShutdown = errors.New("server shutting down")
	errFeedGone = errors.New("event feed closed the subscription")
)

// sink is one client's end of the stream: WebSocket or SSE. Only the
// pump's goroutine calls it.
type sink interface {
	// send writes one message within the write timeout.
	send(m encoded) error
	// keepAlive shows an idle stream is alive; called on the pump's
	// ticker, which is nil for a sink that keeps itself alive.
	keepAlive() error
}

// pump writes the replayed history and then the live events of sub to s,
// until the client leaves (ctx), falls behind, a write fails or the API
// closes, and returns why. It only ever reads from the subscription, so
// however slow the client, the feed's publisher never waits for it.
func (a *API) pump(ctx context.Context, s sink, sub *hostpool.Subscription, past []*hostpool.Event,
	f *streamFilter, keepAlive <-chan time.Time) error {
	for _, e := range past {
		select {
		case <-a.done:
			return errShutdown
		default:
		}
		if err := a.forward(s, sub, e); err != nil {
			return err
		}
	}
	for {
		select {
		case <-a.done:
			return errShutdown
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-keepAlive:
			if err := s.keepAlive(); err != nil {
				return err
			}
		case e, ok := <-sub.C():
			if !ok {
				return errFeedGone
			}
			if e.Kind == hostpool.KindLagged {
				return errLagged
			}
			if !f.match(e) {
				continue
			}
			if err := a.forward(s, sub, e); err != nil {
				return err
			}
		}
	}
}

// forward writes e. A subscription that dropped events has a lagged
// marker somewhere in its queue: rather than write what is queued before
// it, stale already, the client is told at once.
func (a *API) forward(s sink, sub *hostpool.Subscription, e *hostpool.Event) error {
	if sub.Dropped() > 0 {
		return errLagged
	}
	if e.Kind == hostpool.KindLagged {
		// Only a replay starts with one (see subscribe): the history has
		// lost some of what the client asked for, and it goes on.
		return s.send(laggedMessage)
	}
	m, ok, err := encodings.get(a, e)
	if err != nil {
		a.log.Warn("event stream: message not sent", "err", err)
		return nil
	}
	if !ok {
		return nil
	}
	return s.send(m)
}

// streamKeepAlive is the keepalive period; negative turns keepalives off, and
// zero (Options not filled in) is the default.
func (a *API) streamKeepAlive() time.Duration {
	if a.opts.KeepAlive == 0 {
		return DefaultOptions.KeepAlive
	}
	return max(0, a.opts.KeepAlive)
}

// streamWriteTimeout is the time one message may take to write; zero or
// negative (Options not filled in) is the default: without a bound, a
// client that stops reading would hold its stream for ever.
func (a *API) streamWriteTimeout() time.Duration {
	if a.opts.WriteTimeout <= 0 {
		return DefaultOptions.WriteTimeout
	}
	return a.opts.WriteTimeout
}

// streamBuffer is each client's queue; zero or negative (Options not
// filled in) is the default, not a queue of one.
func (a *API) streamBuffer() int {
	if a.opts.EventBuffer <= 0 {
		return DefaultOptions.EventBuffer
	}
	return a.opts.EventBuffer
}

// streamEnded logs why a stream ended: a client that fell behind is worth
// telling the operator about (its buffer may be too small), the rest
// (leaving, shutdown, a dead connection) is routine.
func (a *API) streamEnded(r *http.Request, kind string, err error) {
	if errors.Is(err, errLagged) {
		a.log.Info("event stream client too slow, closed", "kind", kind, "remote", r.RemoteAddr, "buffer", a.streamBuffer())
		return
	}
	a.log.Debug("event stream ended", "kind", kind, "remote", r.RemoteAddr, "err", err)
}
