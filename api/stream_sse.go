package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/snadboy/docker-monitor/hostpool"
)

// keepAliveComment is an SSE comment: clients ignore it, and proxies and
// the client's own idle timeout see traffic.
var keepAliveComment = []byte(": keepalive\n\n")

// sseSink writes Server-Sent Events: id (the feed's seq, which a
// reconnecting EventSource sends back as Last-Event-ID), event (the
// message type) and data (the message's JSON), one message an event.
type sseSink struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     []byte
}

func (a *API) serveSSE(w http.ResponseWriter, r *http.Request, sub *hostpool.Subscription, past []*hostpool.Event, f *streamFilter) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	// A buffering reverse proxy (nginx) would hold events back.
	h.Set("X-Accel-Buffering", "no")
	if r.ProtoMajor == 1 {
		// The write deadlines set below stay on the connection after the
		// stream; a request reusing it would find them expired.
		h.Set("Connection", "close")
	}
	s := &sseSink{w: w, rc: http.NewResponseController(w), timeout: a.streamWriteTimeout()}
	w.WriteHeader(http.StatusOK)
	if err := s.flush(); err != nil {
		a.streamEnded(r, "sse", err)
		return
	}
	var keepAlive <-chan time.Time
	if ka := a.streamKeepAlive(); ka > 0 {
		tick := time.NewTicker(ka)
		defer tick.Stop()
		keepAlive = tick.C
	}
	err := a.pump(r.Context(), s, sub, past, f, keepAlive)
	sub.Close()
	if errors.Is(err, errLagged) {
		// Ending the answer is SSE's only way to close; the lagged
		// message says why, and EventSource reconnects by itself.
		if werr := s.send(laggedMessage); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	a.streamEnded(r, "sse", err)
}

func (s *sseSink) send(m encoded) error {
	b := s.buf[:0]
	if m.seq > 0 {
		b = append(b, "id: "...)
		b = strconv.AppendUint(b, m.seq, 10)
		b = append(b, '\n')
	}
	b = append(b, "event: "...)
	b = append(b, m.typ...)
	b = append(b, "\ndata: "...)
	b = append(b, m.json...)
	b = append(b, "\n\n"...)
	s.buf = b
	return s.write(b)
}

func (s *sseSink) keepAlive() error { return s.write(keepAliveComment) }

// write writes b and flushes it within the write timeout: a client that
// does not take it in time has its connection closed by the deadline.
func (s *sseSink) write(b []byte) error {
	if err := s.deadline(); err != nil {
		return err
	}
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *sseSink) flush() error {
	if err := s.deadline(); err != nil {
		return err
	}
	return s.rc.Flush()
}

// deadline sets the write deadline of the next write. A writer that cannot
// have one (a wrapper that hides the connection) writes without; the
// client then is only bounded by TCP's own timeouts.
func (s *sseSink) deadline() error {
	err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	if errors.Is(err, http.ErrNotSupported) {
		return nil
	}
	return err
}
