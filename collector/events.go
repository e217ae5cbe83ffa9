package collector

import (
	"context"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/snadboy/docker-monitor/hostpool"
)

var eventsDesc = prometheus.NewDesc("docker_events_total",
	"Docker events received from the host's event stream, by type (container, image, network, volume, daemon) and action.",
	[]string{"host", "type", "action"}, nil)

// eventQueue is the counters' queue on the pool's feed. They are drained by
// a goroutine and again by every scrape, so a scrape right after an event
// counts it; the queue only has to absorb a burst the goroutine has not
// reached, and a pointer a slot costs 8 bytes.
const eventQueue = 8192

type eventKey struct{ typ, action string }

// eventsConcern counts the events of the pool's feed. Counters are reported
// for hosts that are down too, since counters must not reset; a host that
// leaves the pool takes its counters with it.
type eventsConcern struct {
	sub   *hostpool.Subscription
	log   *slog.Logger
	queue int // the subscription's size

	mu     sync.Mutex
	counts map[string]map[eventKey]float64 // by host
}

func newEventsConcern(pool *hostpool.Pool, log *slog.Logger) *eventsConcern {
	return newEventsConcernQueue(pool, log, eventQueue)
}

// newEventsConcernQueue is newEventsConcern with a queue of size events.
func newEventsConcernQueue(pool *hostpool.Pool, log *slog.Logger, size int) *eventsConcern {
	// Only what count uses takes a place in the queue: a resync publishes
	// an update for every new container, 10,000 when ten hosts of 1,000
	// first sync, which filled the queue and lost the Docker events that
	// came with them.
	sub, _ := pool.SubscribeWith(hostpool.SubscribeOptions{Size: size, Match: func(e *hostpool.Event) bool {
		return e.Kind == hostpool.KindDockerEvent || e.Kind == hostpool.KindHostRemoved
	}})
	ec := &eventsConcern{sub: sub, log: log, queue: size, counts: map[string]map[eventKey]float64{}}
	go func() {
		for e := range ec.sub.C() {
			ec.mu.Lock()
			ec.count(e)
			ec.mu.Unlock()
		}
	}()
	return ec
}

// count adds one event; the caller holds mu.
func (ec *eventsConcern) count(e *hostpool.Event) {
	switch e.Kind {
	case hostpool.KindDockerEvent:
		m := ec.counts[e.Host]
		if m == nil {
			m = map[eventKey]float64{}
			ec.counts[e.Host] = m
		}
		m[eventKey{e.Type, hostpool.NormalizeAction(e.Action)}]++
	case hostpool.KindHostRemoved:
		delete(ec.counts, e.Host)
	case hostpool.KindLagged:
		ec.log.Warn("docker_events_total missed events: its queue on the event feed was full", "queue", ec.queue)
	}
}

func (ec *eventsConcern) describe(ch chan<- *prometheus.Desc) { ch <- eventsDesc }

func (ec *eventsConcern) update(_ context.Context, views []*hostView, ch chan<- prometheus.Metric) error {
	ec.mu.Lock()
	defer ec.mu.Unlock()
	ec.drain()
	for _, v := range views {
		for k, n := range ec.counts[v.host.Alias] {
			ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.CounterValue, n, v.host.Alias, k.typ, k.action)
		}
	}
	return nil
}

// drain counts what is queued now; the caller holds mu.
func (ec *eventsConcern) drain() {
	for {
		select {
		case e, ok := <-ec.sub.C():
			if !ok {
				return
			}
			ec.count(e)
		default:
			return
		}
	}
}

func (ec *eventsConcern) close() { ec.sub.Close() }
