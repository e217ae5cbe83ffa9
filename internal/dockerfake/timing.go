package dockerfake

import (
	"net/http"
	"sync"
	"time"
)

// Options shape a fake daemon's timing. The zero value answers at once, as
// Start does, which is what golden and fault tests want; benchmarks want
// the daemon's own pace.
type Options struct {
	// Socket is the path of the unix socket; "" is fake.sock in the
	// directory given to StartWith.
	Socket string
	// Latency delays every answer but the event stream's: the daemon's own
	// time to serve a call.
	Latency time.Duration
	// StatsTick makes each stats answer wait for the next tick of a ticker
	// of this period, one per daemon, started with it. Docker 20.10 answers
	// a one-shot stats call when its once-a-second collector next
	// publishes: calls in flight together are answered together, and a
	// client that keeps only 50 in flight reads 50 containers a second.
	StatsTick time.Duration
}

// statsTicker is a daemon's stats collector: waiters are released together
// at each tick.
type statsTicker struct {
	mu   sync.Mutex
	next chan struct{} // closed at the next tick
}

func startStatsTicker(period time.Duration, stop <-chan struct{}) *statsTicker {
	t := &statsTicker{next: make(chan struct{})}
	go func() {
		tk := time.NewTicker(period)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				t.fire()
			}
		}
	}()
	return t
}

// fire releases everyone waiting for the tick.
func (t *statsTicker) fire() {
	t.mu.Lock()
	close(t.next)
	t.next = make(chan struct{})
	t.mu.Unlock()
}

// nextTick holds a stats request until the daemon's next tick; false: the
// client left first.
func (s *Server) nextTick(r *http.Request) bool {
	if s.tick == nil {
		return true
	}
	s.tick.mu.Lock()
	next := s.tick.next
	s.tick.mu.Unlock()
	select {
	case <-next:
		return true
	case <-r.Context().Done():
		return false
	case <-s.stop:
		return false
	}
}

// delay holds a request for the daemon's answer latency; false: the
// client left first.
func (s *Server) delay(r *http.Request) bool {
	if s.opts.Latency <= 0 {
		return true
	}
	t := time.NewTimer(s.opts.Latency)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}
