// Package api serves the pool as JSON under /api/v1 and its event feed as a
// live stream (WebSocket or Server-Sent Events), for the RevP dashboard and
// scripts. It is read-only: nothing it serves calls anything on a daemon
// but stats and ping, and it reads everything else from the hosts' caches.
package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snadboy/docker-monitor/hostpool"
)

// Prefix is where the API is served.
const Prefix = "/api/v1"

// Options tune the API.
type Options struct {
	// RevPPrefix and AllowedBackendHosts are as for the metrics (the
	// --revp.* flags), so routes read the same in both.
	RevPPrefix          string
	AllowedBackendHosts []string
	// ExposeEnv returns environment values instead of "<redacted>".
	ExposeEnv bool
	// EventBuffer is each stream client's queue (--api.event-buffer); a
	// client that lets it overflow is closed.
	EventBuffer int
	// KeepAlive is the period of pings (WebSocket) or comments (SSE) on an
	// idle stream, and WriteTimeout the time one message may take to write.
	KeepAlive    time.Duration
	WriteTimeout time.Duration
	// StatsTimeout bounds a stats request (a round of the host's stats
	// calls, maybe two for a CPU percent).
	StatsTimeout time.Duration
	// MaxStreamClients bounds the event-stream clients served at once
	// (--api.event-clients): each costs a goroutine, a queue, and a
	// match on every event the feed publishes.
	MaxStreamClients int
}

// DefaultOptions are the flags' defaults.
var DefaultOptions = Options{
	RevPPrefix:       "snadboy.revp",
	EventBuffer:      256,
	KeepAlive:        15 * time.Second,
	WriteTimeout:     10 * time.Second,
	StatsTimeout:     10 * time.Second,
	MaxStreamClients: 100,
}

// API serves one pool.
type API struct {
	pool *hostpool.Pool
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux
	// streams counts the event-stream clients served now.
	streams atomic.Int64
	// done ends every event stream when the API closes (shutdown).
	done      chan struct{}
	closeOnce sync.Once
	now       func() time.Time // the clock of status texts ("Up 3 minutes"); tests fix it
}

// New builds the API of pool.
func New(pool *hostpool.Pool, opts Options, log *slog.Logger) *API {
	a := &API{pool: pool, opts: opts, log: log, mux: http.NewServeMux(), done: make(chan struct{}), now: time.Now}
	a.routes()
	return a
}

// Close ends the event streams; it may be called more than once.
func (a *API) Close() { a.closeOnce.Do(func() { close(a.done) }) }

// ServeHTTP serves every path under Prefix.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func (a *API) routes() {
	a.handle("/hosts", a.listHosts)
	a.handle("/hosts/{host}", a.getHost)
	a.handle("/containers", a.listContainers)
	a.handle("/containers/{host}/{id}", a.getContainer)
	a.handle("/containers/{host}/{id}/stats", a.getStats)
	a.handle("/routes", a.listRoutes)
	a.handle("/routes/conflicts", a.listConflicts)
	a.handle("/events", a.streamEvents)
	a.handle("/openapi.json", a.openAPI)
	// Anything else under the prefix is a JSON 404, not the landing page.
	a.mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
}

// handle serves GET (and so HEAD) at Prefix+path; any other method is 405.
func (a *API) handle(path string, h http.HandlerFunc) {
	a.mux.HandleFunc("GET "+Prefix+path, h)
	a.mux.HandleFunc(Prefix+path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed: the API is read-only")
	})
}

// writeJSON answers v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeError answers {"error": msg, "status": status}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, Error{Error: msg, Status: status})
}
