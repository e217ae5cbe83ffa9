package integration

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// BenchmarkFeedLagBurst20 runs bursts of 20 parallel `docker run -d` and
// `docker rm -f` on a real daemon and reports how late (median and worst,
// in ms) their container events reached a feed subscriber after Docker's
// own event time. It measures what the per-container applier and the
// list fallback are for: one inspect waiting for a container's lock must
// not delay the events of others.
func BenchmarkFeedLagBurst20(b *testing.B) {
	d := testlab.Shared(b)
	pool, err := hostpool.New([]config.Host{testlab.Host(b, "lag", d.Host)}, hostpool.DefaultOptions, hostpool.NewMetrics(nil), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	pool.Start(b.Context())
	defer pool.Stop()
	for !pool.Ready() {
		time.Sleep(10 * time.Millisecond)
	}
	sub := pool.Subscribe(100_000)
	defer sub.Close()
	var (
		mu   sync.Mutex
		lags []time.Duration
	)
	go func() {
		for e := range sub.C() {
			if e.Kind == hostpool.KindDockerEvent && e.Type == "container" {
				mu.Lock()
				lags = append(lags, time.Since(e.Time))
				mu.Unlock()
			}
		}
	}()
	img := d.Image(b)
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		for j := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("lag-%d-%d", i, j)
				d.Docker(b, "run", "-d", "--name", name, img, "sleep")
				d.Docker(b, "rm", "-f", name)
			}()
		}
		wg.Wait()
	}
	time.Sleep(2 * time.Second) // the last destroy events
	mu.Lock()
	defer mu.Unlock()
	if len(lags) == 0 {
		b.Fatal("no events")
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "median-lag-ms")
	b.ReportMetric(float64(lags[len(lags)-1].Microseconds())/1000, "max-lag-ms")
	b.ReportMetric(float64(len(lags))/float64(b.N), "events/burst")
}
