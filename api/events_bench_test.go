package api

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/hostpool"
)

// benchSubscribers is the fan-out: 50 clients.
const benchSubscribers = 50

// BenchmarkStreamFanout sends events through the fake daemon, the pool
// and the API to SSE clients over loopback HTTP, at 1,000 events/s
// (paced) and as fast as the pipeline takes them (unpaced). cpu-us/delivery
// is the process's CPU time (getrusage: user and system, every goroutine:
// the fake daemon, the pool, the API and the clients' reading) over events
// × subscribers; subs=0 is the same pipeline without clients, the cost a
// delivery adds to it being the difference.
func BenchmarkStreamFanout(b *testing.B) {
	for _, paced := range []bool{true, false} {
		for _, subs := range []int{0, benchSubscribers} {
			name := fmt.Sprintf("rate=unpaced/subs=%d", subs)
			if paced {
				name = fmt.Sprintf("rate=1000/subs=%d", subs)
			}
			b.Run(name, func(b *testing.B) { benchFanout(b, subs, paced) })
		}
	}
}

func benchFanout(b *testing.B, subs int, paced bool) {
	opts := DefaultOptions
	opts.KeepAlive = time.Hour
	// What is measured is the cost of a delivery, not whether 256 queued
	// messages ride out the scheduling of a shared machine: a process
	// stalled for 300 ms (seen under load here) lags every client.
	opts.EventBuffer = 1 << 14
	env := newStreamEnv(b, envConfig{opts: opts})
	published := drainFeed(env.feed)
	counts := make([]*atomic.Int64, subs)
	for i := range counts {
		counts[i] = benchClient(b, env)
	}
	// One container's exec events: nothing to inspect, and applied in
	// order, so that what is measured is the feed and the stream.
	events := make([][]byte, b.N)
	t0 := future()
	for i := range events {
		events[i] = execEvent(i, t0.Add(time.Duration(i)*time.Millisecond))
	}
	base := published.Load()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	start := time.Now()
	emitPaced(env, events, paced)
	waitCount(b, published, base+int64(b.N))
	for _, c := range counts {
		waitCount(b, c, int64(b.N))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/event")
	if subs > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N*subs), "cpu-us/delivery")
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}

// emitPaced emits at 1,000 events/s, ten every 10 ms, or all at once.
func emitPaced(env *streamEnv, events [][]byte, paced bool) {
	if !paced {
		env.fake.Emit(events...)
		return
	}
	const lot = 10
	start := time.Now()
	for i := 0; i < len(events); i += lot {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Millisecond)))
		env.fake.Emit(events[i:min(i+lot, len(events))]...)
	}
}

// drainFeed counts the docker events the feed publishes.
func drainFeed(sub *hostpool.Subscription) *atomic.Int64 {
	n := new(atomic.Int64)
	go func() {
		for e := range sub.C() {
			if e.Kind == hostpool.KindDockerEvent {
				n.Add(1)
			}
		}
	}()
	return n
}

// benchClient opens an SSE stream and counts its docker events; a lagged
// client would never reach the count, so it fails the benchmark.
func benchClient(b *testing.B, env *streamEnv) *atomic.Int64 {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env.srv.URL+Prefix+"/events", nil)
	resp, err := env.srv.Client().Do(req)
	if err != nil {
		b.Fatal(err)
	}
	n := new(atomic.Int64)
	go func() {
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			switch {
			case bytes.HasPrefix(line, []byte("event: docker_event")):
				n.Add(1)
			case bytes.HasPrefix(line, []byte("event: lagged")):
				n.Store(-1 << 40)
				return
			}
		}
	}()
	return n
}

func waitCount(b *testing.B, n *atomic.Int64, want int64) {
	deadline := time.Now().Add(time.Minute)
	for n.Load() < want {
		if n.Load() < 0 {
			b.Fatal("a client lagged")
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d events after a minute", n.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStreamSubscriberMemory is the heap (and goroutine stack) that
// an idle SSE subscriber costs: in use with 50 subscribers, less in use
// with none, over 50. The clients are raw connections that read only the
// answer's headers, so that little of the figure is theirs.
func BenchmarkStreamSubscriberMemory(b *testing.B) {
	opts := DefaultOptions
	opts.KeepAlive = time.Hour
	env := newStreamEnv(b, envConfig{opts: opts})
	env.feed.Close()
	// One client first, so that what every connection shares (the
	// server's and the transport's pools) is in the baseline.
	idleClient(b, env).Close()
	b.ResetTimer()
	var heap, stack float64
	for range b.N {
		h0, s0 := memInUse()
		conns := make([]net.Conn, benchSubscribers)
		for i := range conns {
			conns[i] = idleClient(b, env)
		}
		h1, s1 := memInUse()
		heap += float64(h1-h0) / benchSubscribers
		stack += float64(s1-s0) / benchSubscribers
		for _, c := range conns {
			c.Close()
		}
	}
	b.ReportMetric(heap/float64(b.N), "heap-B/subscriber")
	b.ReportMetric(stack/float64(b.N), "stack-B/subscriber")
}

// idleClient opens a stream and reads its headers, which the server sends
// once subscribed.
func idleClient(b *testing.B, env *streamEnv) net.Conn {
	c, err := net.Dial("tcp", env.srv.Listener.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := fmt.Fprintf(c, "GET %s/events HTTP/1.1\r\nHost: bench\r\n\r\n", Prefix); err != nil {
		b.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 512)
	for !strings.Contains(string(got), "\r\n\r\n") {
		n, err := c.Read(buf)
		if err != nil {
			b.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if !strings.HasPrefix(string(got), "HTTP/1.1 200") {
		b.Fatalf("answer %q", got)
	}
	return c
}

// memInUse is the heap and stack in use after a collection; the wait lets
// handlers that are still starting or ending settle first.
func memInUse() (heap, stack uint64) {
	time.Sleep(50 * time.Millisecond)
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse, m.StackInuse
}
