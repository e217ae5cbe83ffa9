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
		s, past := f.SubscribeWithHistory(1000, func(*Event) bool { return true })
		subs, pasts = append(subs, s), append(pasts, past)
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
	_, past := f.SubscribeWithHistory(1, func(e *Event) bool { return e.Host == "a" })
	if len(past) != 2 || past[0].Seq != 3 || past[1].Seq != 5 {
		t.Fatalf("history of a = %d events, want seqs 3 and 5 (3..6 kept)", len(past))
	}
	_, past = f.SubscribeWithHistory(1, func(*Event) bool { return true })
	if len(past) != 4 || past[0].Seq != 3 || past[3].Seq != 6 {
		t.Fatalf("history = %d events from seq %d, want 4 from 3", len(past), past[0].Seq)
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
