package dockerfake

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// streamQueue is how many emitted events an open stream holds before Emit
// waits for it: enough for a benchmark's burst, and Emit never drops one,
// since a real daemon's stream does not either.
const streamQueue = 4096

// emitter fans emitted events out to the open event streams. Its zero
// value is ready: the fake's event stream stays quiet until a test emits.
type emitter struct {
	mu      sync.Mutex
	streams map[*eventStream]struct{}
}

type eventStream struct {
	ch   chan []byte
	done chan struct{} // closed when the client left or EndEvents ended it
	end  sync.Once
}

var newline = []byte("\n")

func (st *eventStream) stop() { st.end.Do(func() { close(st.done) }) }

// Emit sends each event, a JSON object as the daemon's /events stream
// sends it (see Event and RecordedEvents), to every open event stream, in
// order, and returns how many streams were open. It waits while a stream's
// queue is full, so nothing emitted is lost to a slow reader; events
// emitted while no stream is open are lost, as they are for a daemon's
// client that is not connected.
func (s *Server) Emit(events ...[]byte) int {
	s.ev.mu.Lock()
	streams := make([]*eventStream, 0, len(s.ev.streams))
	for st := range s.ev.streams {
		streams = append(streams, st)
	}
	s.ev.mu.Unlock()
	for _, st := range streams {
		for _, e := range events {
			select {
			case st.ch <- e:
			case <-st.done:
			}
		}
	}
	return len(streams)
}

// EventStreams is how many event streams are open: a client's stream is
// open once the count includes it, and from then on it gets what is emitted.
func (s *Server) EventStreams() int {
	s.ev.mu.Lock()
	defer s.ev.mu.Unlock()
	return len(s.ev.streams)
}

// EndEvents ends every open event stream with a clean end of the answer,
// as a daemon that restarts does; the clients' next streams are served as
// usual.
func (s *Server) EndEvents() {
	s.ev.mu.Lock()
	defer s.ev.mu.Unlock()
	for st := range s.ev.streams {
		st.stop()
		delete(s.ev.streams, st)
	}
}

// serve writes emitted events to one client until it leaves or the stream
// is ended; the answer's headers are already sent.
func (ev *emitter) serve(w http.ResponseWriter, r *http.Request) {
	st := &eventStream{ch: make(chan []byte, streamQueue), done: make(chan struct{})}
	ev.mu.Lock()
	if ev.streams == nil {
		ev.streams = map[*eventStream]struct{}{}
	}
	ev.streams[st] = struct{}{}
	ev.mu.Unlock()
	defer func() {
		ev.mu.Lock()
		delete(ev.streams, st)
		ev.mu.Unlock()
		st.stop()
	}()
	flusher, _ := w.(http.Flusher)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-st.done:
			return
		case b := <-st.ch:
			// The daemon writes one JSON object a line and flushes each. b
			// is shared with the other streams: not appended to.
			if _, err := w.Write(b); err != nil {
				return
			}
			if _, err := w.Write(newline); err != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
	}
}

// message is an event as Docker 20.10 sends it: the legacy status, id and
// from fields beside Type, Action and Actor.
type message struct {
	Status   string `json:"status,omitempty"`
	ID       string `json:"id,omitempty"`
	From     string `json:"from,omitempty"`
	Type     string `json:"Type"`
	Action   string `json:"Action"`
	Actor    actor  `json:"Actor"`
	Scope    string `json:"scope"`
	Time     int64  `json:"time"`
	TimeNano int64  `json:"timeNano"`
}

type actor struct {
	ID         string            `json:"ID"`
	Attributes map[string]string `json:"Attributes"`
}

// Event builds an event of type typ ("container", "network", ...) about
// the object id, shaped as the recorded ones: container events carry the
// legacy status, id and from (the "image" attribute) fields too.
func Event(typ, action, id string, attrs map[string]string, at time.Time) []byte {
	if attrs == nil {
		attrs = map[string]string{}
	}
	m := message{Type: typ, Action: action, Actor: actor{ID: id, Attributes: attrs}, Scope: "local",
		Time: at.Unix(), TimeNano: at.UnixNano()}
	if typ == "container" || typ == "image" {
		m.Status, m.ID, m.From = action, id, attrs["image"]
	}
	b, _ := json.Marshal(m) // strings and a map of strings always marshal
	return b
}

// RecordedEvents returns the events recorded from the real daemon
// (testdata/docker-20.10/events.jsonl), one JSON object each, in order.
func RecordedEvents() ([][]byte, error) {
	b, err := os.ReadFile(filepath.Join(Dataset(), "events.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("recorded events: %w", err)
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) {
			return nil, fmt.Errorf("recorded events: line %d is not JSON", len(out)+1)
		}
		out = append(out, bytes.Clone(line))
	}
	return out, sc.Err()
}
