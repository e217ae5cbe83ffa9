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
// subscription in one step: no gap between them, and no event twice.
func (a *API) subscribe(f *streamFilter) (*hostpool.Subscription, []*hostpool.Event) {
	if !f.replay {
		return a.pool.Subscribe(a.streamBuffer()), nil
	}
	return a.pool.SubscribeWithHistory(a.streamBuffer(), f.keep)
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
