package hostpool

import (
	"sync"
	"sync/atomic"
	"time"
)

// Kind says what a feed Event reports.
type Kind string

const (
	// KindDockerEvent is an event from a host's stream, published after it
	// was applied to the cache (Container is the container as cached after
	// it, nil when it is gone or the event is not about a container), or
	// with Dropped set when it was not applied: every event read is
	// published once.
	KindDockerEvent Kind = "docker_event"
	// KindContainerUpdate is a cached container whose state or health
	// changed, whether an event or a resync found it (Previous and
	// Container; Container nil when it was removed, Previous nil when new).
	KindContainerUpdate Kind = "container_update"
	// KindHostStatus is a host whose event stream went down (Err says why)
	// or came back and resynced.
	KindHostStatus Kind = "host_status"
	// KindHostRemoved is a host that left the pool: whatever a subscriber
	// keeps for it (counters) must go, and a host of that name that joins
	// later starts afresh.
	KindHostRemoved Kind = "host_removed"
	// KindLagged tells a subscriber that its queue was full and events
	// were dropped for it: what it built from the feed is stale, and it
	// must resync from the pool.
	KindLagged Kind = "lagged"
)

// Event is one item of the pool's feed. Containers are shared with the
// cache and with every other subscriber: read-only.
type Event struct {
	Seq  uint64 // from 1, in the order of publication, over all hosts
	Kind Kind
	Host string
	Time time.Time

	// KindDockerEvent: Docker's fields, with the action as Docker sent it
	// ("health_status: healthy"); NormalizeAction shortens it.
	Type       string
	Action     string
	ActorID    string
	Name       string // the actor's "name" attribute
	Attributes map[string]string
	Dropped    bool // not applied (did not fit --events.buffer, applying it failed, or its session ended); a resync follows

	Container *Container // after the change
	Previous  *Container // KindContainerUpdate: before the change

	// KindHostStatus
	Up  bool
	Err error
}

// Feed fans the pool's events out to subscribers. Publishing never blocks:
// each subscriber has its own bounded queue, and one that is full gets a
// single KindLagged marker in a slot kept for it, and nothing more until it
// has read what it holds. A slow subscriber thus loses events, not the
// stream, the cache or another subscriber their time.
type Feed struct {
	mu      sync.Mutex
	subs    map[*Subscription]struct{}
	seq     uint64
	history []*Event // a ring of the last len(history) events
	next    int      // where the next event goes in history
	// the newest event pushed out of history
	evictedSeq  uint64
	evictedTime time.Time
}

// Subscription is one subscriber's queue.
type Subscription struct {
	f       *Feed
	ch      chan *Event
	size    int
	match   func(*Event) bool
	lagged  bool // a marker is queued and nothing was queued since
	dropped atomic.Uint64
}

// newFeed keeps the last history events for late subscribers.
func newFeed(history int) *Feed {
	return &Feed{subs: map[*Subscription]struct{}{}, history: make([]*Event, max(0, history))}
}

// Subscribe returns a subscription to every event, with a queue of size
// events (at least 1).
func (f *Feed) Subscribe(size int) *Subscription {
	s, _ := f.SubscribeWith(SubscribeOptions{Size: size})
	return s
}

// SubscribeOptions say what a subscriber gets.
type SubscribeOptions struct {
	Size int // queue length, at least 1
	// Match, when set, is what the subscriber wants: only those events take
	// a place in its queue, so a burst it does not care about cannot make
	// it lag. It runs under the feed's lock for every event: cheap, never
	// blocking.
	Match func(*Event) bool
	// Replay, when set, picks kept events (that Match also accepts) to
	// return with the subscription.
	Replay func(*Event) bool
}

// Replay is the kept history a subscriber asked for, oldest first.
type Replay struct {
	Events []*Event
	// EvictedSeq and EvictedTime are those of the newest event no longer
	// kept (0 and zero: none was dropped yet). A subscriber that wants
	// events from before them cannot have them all.
	EvictedSeq  uint64
	EvictedTime time.Time
}

// SubscribeWith subscribes, and returns the kept events o.Replay picks.
// Both are taken under one lock, so the history and the queue neither
// overlap nor leave a gap.
func (f *Feed) SubscribeWith(o SubscribeOptions) (*Subscription, Replay) {
	size := max(1, o.Size)
	// One slot more than size, kept for the lagged marker, so that the
	// subscriber always learns it lost something.
	s := &Subscription{f: f, ch: make(chan *Event, size+1), size: size, match: o.Match}
	f.mu.Lock()
	defer f.mu.Unlock()
	r := Replay{EvictedSeq: f.evictedSeq, EvictedTime: f.evictedTime}
	if o.Replay != nil {
		n := len(f.history)
		for i := range n {
			if e := f.history[(f.next+i)%n]; e != nil && o.Replay(e) && s.wants(e) {
				r.Events = append(r.Events, e)
			}
		}
	}
	f.subs[s] = struct{}{}
	return s, r
}

func (s *Subscription) wants(e *Event) bool { return s.match == nil || s.match(e) }

// C delivers the subscription's events, shared with every other
// subscriber (read-only); it is closed by Close.
func (s *Subscription) C() <-chan *Event { return s.ch }

// Dropped is how many events did not fit this subscriber's queue.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription and closes C.
func (s *Subscription) Close() {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if _, ok := s.f.subs[s]; ok {
		delete(s.f.subs, s)
		close(s.ch)
	}
}

// publish offers e to every subscriber. It holds the feed's lock, so
// publishers (one goroutine per host) queue in one order for everyone, and
// a length checked here only shrinks before the send: readers take, only
// publish adds.
func (f *Feed) publish(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	ep := &e
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	ep.Seq = f.seq
	if n := len(f.history); n > 0 {
		if old := f.history[f.next]; old != nil {
			f.evictedSeq, f.evictedTime = old.Seq, old.Time
		}
		f.history[f.next] = ep
		f.next = (f.next + 1) % n
	} else {
		f.evictedSeq, f.evictedTime = ep.Seq, ep.Time
	}
	for s := range f.subs {
		if !s.wants(ep) {
			continue
		}
		if len(s.ch) < s.size {
			s.lagged = false
			s.ch <- ep
			continue
		}
		s.dropped.Add(1)
		if !s.lagged {
			s.lagged = true
			s.ch <- &Event{Kind: KindLagged, Host: e.Host, Time: e.Time}
		}
	}
}

// stateChanged says whether a container update is worth a
// KindContainerUpdate: what a table of containers shows changed.
func stateChanged(old, cur *Container) bool {
	switch {
	case old == nil || cur == nil:
		return old != cur
	default:
		return old.State != cur.State || old.Health != cur.Health || old.Name != cur.Name ||
			old.RestartCount != cur.RestartCount || old.ExitCode != cur.ExitCode || old.OOMKilled != cur.OOMKilled
	}
}
