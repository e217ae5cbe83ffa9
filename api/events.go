package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/snadboy/docker-monitor/hostpool"
)

// streamEvents serves GET /events: the pool's feed, filtered, as a
// WebSocket when the client asks to upgrade and as Server-Sent Events
// otherwise (so curl -N works). With since or Last-Event-ID the kept
// history is replayed first.
func (a *API) streamEvents(w http.ResponseWriter, r *http.Request) {
	f, err := parseStreamFilter(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		return
	}
	limit := int64(a.opts.MaxStreamClients)
	if limit <= 0 {
		limit = int64(DefaultOptions.MaxStreamClients)
	}
	if n := a.streams.Add(1); n > limit {
		a.streams.Add(-1)
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("too many event-stream clients: at most %d (--api.event-clients)", limit))
		return
	}
	defer a.streams.Add(-1)
	// Subscribed before the answer's headers, so that a client that has
	// them misses nothing published after.
	sub, past := a.subscribe(&f)
	defer sub.Close()
	if wantsWebSocket(r) {
		a.serveWebSocket(w, r, sub, past, &f)
		return
	}
	a.serveSSE(w, r, sub, past, &f)
}

// subscribe takes the kept history the filter replays and the
// subscription in one step: no gap between them, and no event twice. The
// filter picks what takes a place in the client's queue, so a burst it
// does not want cannot make it lag. When the history no longer reaches
// back to what the client asked for, the replay starts with a lagged
// message: it must reload what it shows.
func (a *API) subscribe(f *streamFilter) (*hostpool.Subscription, []*hostpool.Event) {
	o := hostpool.SubscribeOptions{Size: a.streamBuffer(), Match: f.match}
	if f.replay {
		o.Replay = f.keep
	}
	sub, r := a.pool.SubscribeWith(o)
	if f.replay && r.EvictedSeq > f.afterSeq && !r.EvictedTime.Before(f.since) {
		return sub, append([]*hostpool.Event{{Kind: hostpool.KindLagged}}, r.Events...)
	}
	return sub, r.Events
}

// wantsWebSocket says whether the request is a WebSocket handshake
// (Connection: upgrade with Upgrade: websocket, each maybe in a list).
func wantsWebSocket(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// lagReason is the WebSocket close reason of a client that fell behind.
func (a *API) lagReason() string {
	return fmt.Sprintf("client too slow: more than %d messages queued; reconnect and reload", a.streamBuffer())
}
