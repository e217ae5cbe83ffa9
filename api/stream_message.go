package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/snadboy/docker-monitor/hostpool"
)

// Stream message types, as Message.Type and SSE's event field.
const (
	msgDockerEvent     = "docker_event"
	msgContainerUpdate = "container_update"
	msgHostStatus      = "host_status"
	msgLagged          = "lagged"
)

// encoded is one message ready to write: its JSON and what SSE frames it
// with.
type encoded struct {
	typ  string
	seq  uint64
	json []byte
}

// laggedMessage is the last message a client that fell behind gets.
var laggedMessage = encoded{typ: msgLagged, json: []byte(`{"type":"lagged"}`)}

// message builds the stream message of a feed event.
func (a *API) message(e *hostpool.Event) Message {
	m := Message{Seq: e.Seq}
	switch e.Kind {
	case hostpool.KindDockerEvent:
		m.Type, m.Data = msgDockerEvent, streamDockerEvent(e)
	case hostpool.KindContainerUpdate:
		m.Type, m.Data = msgContainerUpdate, a.streamContainerUpdate(e)
	case hostpool.KindHostStatus, hostpool.KindHostRemoved:
		m.Type, m.Data = msgHostStatus, streamHostStatus(e)
	default:
		// KindLagged is handled by the stream; a kind the feed grows later
		// is not shown until the API knows what to make of it.
		return Message{}
	}
	return m
}

// encode marshals e's message; ok is false for an event not shown.
func (a *API) encode(e *hostpool.Event) (encoded, bool, error) {
	m := a.message(e)
	if m.Type == "" {
		return encoded{}, false, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return encoded{}, false, fmt.Errorf("encode %s %d: %w", m.Type, m.Seq, err)
	}
	// Encode ends with a newline, which SSE's data line must not hold.
	return encoded{typ: m.Type, seq: m.Seq, json: bytes.TrimSuffix(buf.Bytes(), []byte("\n"))}, true, nil
}

func streamDockerEvent(e *hostpool.Event) DockerEvent {
	attrs := redactLabels(e.Attributes)
	if attrs == nil {
		attrs = map[string]string{}
	}
	return DockerEvent{
		Host: e.Host, Type: e.Type, Action: streamAction(e.Action), ID: e.ActorID, Name: e.Name,
		Time: e.Time.UTC(), Attributes: attrs, Dropped: e.Dropped,
	}
}

// streamAction is the action as Docker sent it when its detail is a
// health status ("health_status: healthy"), and without the detail
// otherwise: Docker appends the whole command line to exec_create and
// exec_start ("exec_start: mysql -uroot -pS3cret"), a secret more often
// than env values are.
func streamAction(a string) string {
	if hostpool.NormalizeAction(a) == "health_status" {
		return a
	}
	return hostpool.NormalizeAction(a)
}

func (a *API) streamContainerUpdate(e *hostpool.Event) ContainerUpdate {
	u := ContainerUpdate{Host: e.Host, Time: e.Time.UTC()}
	if p := e.Previous; p != nil {
		u.ID, u.Name, u.OldState, u.OldHealth = p.ID, p.Name, p.State, p.Health
	}
	if c := e.Container; c != nil {
		u.ID, u.Name, u.NewState, u.Health = c.ID, c.Name, c.State, c.Health
		// The host may have left the pool since (a host_status "removed"
		// follows): without it there is no view of the container to show.
		if h := a.pool.Host(e.Host); h != nil {
			view := a.container(h, c)
			u.Container = &view
		}
	}
	return u
}

func streamHostStatus(e *hostpool.Event) HostStatus {
	s := HostStatus{Host: e.Host, Time: e.Time.UTC()}
	switch {
	case e.Kind == hostpool.KindHostRemoved:
		s.Status = "removed"
	case e.Up:
		s.Status = "up"
	default:
		s.Status = "down"
		if e.Err != nil {
			s.Reason, s.Error = hostpool.Reason(e.Err), e.Err.Error()
		}
	}
	return s
}

// encodings shares each event's encoding among the stream clients: they
// all get the same bytes for it, and a container update's view (routes,
// redaction) is worth building once per event, not once per client. The
// key holds the API too, as its options shape the view.
var encodings = newEncodingCache(2048)

type encKey struct {
	a *API
	e *hostpool.Event
}

type encEntry struct {
	once sync.Once
	enc  encoded
	ok   bool
	err  error
}

// encodingCache keeps the last size events' encodings. A client further
// behind than that (replaying history) encodes for itself: the same bytes,
// at its own cost.
type encodingCache struct {
	mu   sync.Mutex
	m    map[encKey]*encEntry
	ring []encKey // the keys in m, oldest at next
	next int
}

func newEncodingCache(size int) *encodingCache {
	return &encodingCache{m: make(map[encKey]*encEntry, size), ring: make([]encKey, size)}
}

// get returns e's encoding; the first caller builds it, outside the lock,
// and the others for the same event wait for it.
func (c *encodingCache) get(a *API, e *hostpool.Event) (encoded, bool, error) {
	k := encKey{a, e}
	c.mu.Lock()
	en := c.m[k]
	if en == nil {
		en = &encEntry{}
		if old := c.ring[c.next]; old.e != nil {
			delete(c.m, old)
		}
		c.ring[c.next] = k
		c.next = (c.next + 1) % len(c.ring)
		c.m[k] = en
	}
	c.mu.Unlock()
	en.once.Do(func() { en.enc, en.ok, en.err = a.encode(e) })
	return en.enc, en.ok, en.err
}
