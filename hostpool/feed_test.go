package hostpool

import (
	"sync"
	"testing"
)

func drain(s *Subscription) []*Event {
	var out []*Event
	for {
		select {
		case e := <-s.C():
			out = append(out, e)
		default:
			return out
		}
	}
}

// A subscriber that does not read loses events, learns it once with a
// lagged marker, and never holds up the publisher or another subscriber.
func TestFeedSlowSubscriberLagsAlone(t *testing.T) {
	f := newFeed(0)
	slow, fast := f.Subscribe(3), f.Subscribe(100)
	for i := range 10 {
		f.publish(Event{Kind: KindDockerEvent, Host: "h", ActorID: string(rune('a' + i))})
	}
	got := drain(slow)
	if len(got) != 4 {
		t.Fatalf("slow subscriber got %d events, want 3 and a marker", len(got))
	}
	for i, e := range got[:3] {
		if e.Kind != KindDockerEvent || e.Seq != uint64(i+1) {
			t.Errorf("event %d = %s seq %d, want docker_event seq %d", i, e.Kind, e.Seq, i+1)
		}
	}
	if got[3].Kind != KindLagged {
		t.Errorf("last = %s, want lagged", got[3].Kind)
	}
	if slow.Dropped() != 7 {
		t.Errorf("dropped = %d, want 7", slow.Dropped())
	}
	if n := len(drain(fast)); n != 10 {
		t.Errorf("fast subscriber got %d events, want 10", n)
	}
	// Once it has read, it gets events again, and a new overflow is
	// marked again.
	for range 5 {
		f.publish(Event{Kind: KindDockerEvent, Host: "h"})
	}
	got = drain(slow)
	if len(got) != 4 || got[0].Seq != 11 || got[3].Kind != KindLagged {
		t.Errorf("after reading: %d events, first seq %d, last %s; want 3 from seq 11 and a marker", len(got), got[0].Seq, got[len(got)-1].Kind)
	}
}

// History and the live queue neither overlap nor leave a gap, however
// publishing and subscribing interleave.
func TestFeedHistoryNoGapNoOverlap(t *testing.T) {
	f := newFeed(1000)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 500 {
			f.publish(Event{Kind: KindDockerEvent, Host: "h"})
		}
	}()
	var subs []*Subscription
	var pasts [][]*Event
	for range 20 {
		s, r := f.SubscribeWith(SubscribeOptions{Size: 1000, Replay: func(*Event) bool { return true }})
		subs, pasts = append(subs, s), append(pasts, r.Events)
	}
	wg.Wait()
	for i, s := range subs {
		all := append(pasts[i], drain(s)...)
		if len(all) != 500 {
			t.Fatalf("subscriber %d saw %d events, want 500", i, len(all))
		}
		for j, e := range all {
			if e.Seq != uint64(j+1) {
				t.Fatalf("subscriber %d: event %d has seq %d, want %d", i, j, e.Seq, j+1)
			}
		}
	}
}

// The history keeps the last N events, oldest first, filtered.
func TestFeedHistoryRing(t *testing.T) {
	f := newFeed(4)
	for _, h := range []string{"a", "b", "a", "b", "a", "b"} {
		f.publish(Event{Kind: KindDockerEvent, Host: h})
	}
	_, r := f.SubscribeWith(SubscribeOptions{Size: 1, Replay: func(*Event) bool { return true }, Match: func(e *Event) bool { return e.Host == "a" }})
	if len(r.Events) != 2 || r.Events[0].Seq != 3 || r.Events[1].Seq != 5 {
		t.Fatalf("history of a = %d events, want seqs 3 and 5 (3..6 kept)", len(r.Events))
	}
	_, r = f.SubscribeWith(SubscribeOptions{Size: 1, Replay: func(e *Event) bool { return e.Seq >= 4 }})
	if len(r.Events) != 3 || r.Events[0].Seq != 4 || r.Events[2].Seq != 6 {
		t.Fatalf("history = %d events, want 4..6", len(r.Events))
	}
	if r.EvictedSeq != 2 || r.EvictedTime.IsZero() {
		t.Errorf("evicted seq %d time %v, want 2 and its time", r.EvictedSeq, r.EvictedTime)
	}
}

// A subscriber's queue holds only what it matches: a burst of events it
// filters out cannot make it lag.
func TestFeedMatchQueuesOnlyMatches(t *testing.T) {
	f := newFeed(0)
	s, _ := f.SubscribeWith(SubscribeOptions{Size: 2, Match: func(e *Event) bool { return e.Host == "a" }})
	for range 100 {
		f.publish(Event{Kind: KindDockerEvent, Host: "b"})
	}
	f.publish(Event{Kind: KindDockerEvent, Host: "a"})
	got := drain(s)
	if len(got) != 1 || got[0].Host != "a" || s.Dropped() != 0 {
		t.Fatalf("got %d events (dropped %d), want the one of host a", len(got), s.Dropped())
	}
}

// Close ends C, and a closed subscription is no longer offered events.
func TestFeedClose(t *testing.T) {
	f := newFeed(0)
	s := f.Subscribe(1)
	s.Close()
	s.Close()
	f.publish(Event{Kind: KindDockerEvent})
	if _, ok := <-s.C(); ok {
		t.Fatal("C delivered after Close")
	}
}

func TestStateChanged(t *testing.T) {
	run := &Container{State: "running"}
	for _, tc := range []struct {
		name     string
		old, cur *Container
		want     bool
	}{
		{"new", nil, run, true},
		{"removed", run, nil, true},
		{"same", run, &Container{State: "running"}, false},
		{"stopped", run, &Container{State: "exited"}, true},
		{"health", run, &Container{State: "running", Health: "healthy"}, true},
		{"neither", nil, nil, false},
	} {
		if got := stateChanged(tc.old, tc.cur); got != tc.want {
			t.Errorf("%s: stateChanged = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// BenchmarkFeedPublish50 is the publisher's cost with 50 subscribers, each
// read by its own goroutine.
func BenchmarkFeedPublish50(b *testing.B) {
	f := newFeed(1000)
	var wg sync.WaitGroup
	for range 50 {
		s := f.Subscribe(256)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range s.C() {
			}
		}()
	}
	b.ReportAllocs()
	for b.Loop() {
		f.publish(Event{Kind: KindDockerEvent, Host: "h", Type: "container", Action: "start"})
	}
	b.StopTimer()
	f.mu.Lock()
	subs := make([]*Subscription, 0, len(f.subs))
	for s := range f.subs {
		subs = append(subs, s)
	}
	f.mu.Unlock()
	for _, s := range subs {
		s.Close()
	}
	wg.Wait()
}
