package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/dockerfake"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// BenchmarkScaleGather is a whole scrape (stats calls, gathering, text
// exposition, gzip) of a fake fleet in this process, for profiles: run it
// with -cpu 1 (the exporter's --runtime.gomaxprocs) and -cpuprofile, and
// leave out the fake's own frames (pprof -ignore 'dockerfake|conn..serve').
// The fake answers at once, so that the exporter's CPU is what limits it;
// integration's BenchmarkScale* measure the binary against a fleet with a
// daemon's timing.
func BenchmarkScaleGather(b *testing.B) {
	for _, s := range []struct{ hosts, containers int }{{1, 1000}, {10, 1000}, {50, 20}} {
		b.Run(fmt.Sprintf("%dx%d", s.hosts, s.containers), func(b *testing.B) { benchGatherFleet(b, s.hosts, s.containers) })
	}
}

func benchGatherFleet(b *testing.B, hosts, containers int) {
	fleet := dockerfake.StartFleetT(b, dockerfake.FleetOptions{Hosts: hosts, Containers: containers})
	var hs []config.Host
	for i, s := range fleet.Servers {
		hs = append(hs, testlab.Host(b, fleet.Aliases[i], s.Host))
	}
	// The fake answers at once: 200 calls in flight keep a host busy, and
	// client and server ends of a connection both take a descriptor here.
	opts := hostpool.DefaultOptions
	opts.StatsConcurrency, opts.MaxConcurrent, opts.PoolSize = 200, 200, 0
	benchGather(b, startFleetPool(b, opts, hs), hosts*(containers+len(dockerfake.RunningTemplates)))
}

// BenchmarkScaleGatherExternal scrapes the fleet that a fakefleet process
// serves (go run ./internal/dockerfake/cmd/fakefleet), with its daemons'
// timing and no fake in this process: DOCKER_MONITOR_SCALE_HOSTS names its
// hosts file, DOCKER_MONITOR_SCALE_RUNNING its running containers.
func BenchmarkScaleGatherExternal(b *testing.B) {
	path := os.Getenv("DOCKER_MONITOR_SCALE_HOSTS")
	running, err := strconv.Atoi(os.Getenv("DOCKER_MONITOR_SCALE_RUNNING"))
	if path == "" || err != nil {
		b.Skip("DOCKER_MONITOR_SCALE_HOSTS and DOCKER_MONITOR_SCALE_RUNNING name no fleet")
	}
	hs, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	opts := hostpool.DefaultOptions
	opts.StatsConcurrency = max(50, running/len(hs)+10)
	opts.MaxConcurrent, opts.PoolSize = opts.StatsConcurrency, 0
	benchGather(b, startFleetPool(b, opts, hs), running)
}

// benchGather scrapes exp as Prometheus does (gzip) and checks every one
// of the running containers has stats.
func benchGather(b *testing.B, exp *Exporter, running int) {
	srv := httptest.NewServer(exp.Handler(prometheus.NewRegistry(), HandlerOptions{DefaultTimeout: time.Minute}, nil))
	defer srv.Close()
	scrape := func() (wire, series int) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(zr)
		if n := bytes.Count(body, []byte("\ndocker_container_cpu_usage_seconds_total{")); n != running {
			b.Fatalf("stats for %d containers, want %d", n, running)
		}
		return len(raw), bytes.Count(body, []byte("\n")) - bytes.Count(body, []byte("\n#"))
	}
	scrape() // opens the connections
	b.ReportAllocs()
	b.ResetTimer()
	var wire, series int
	for range b.N {
		wire, series = scrape()
	}
	b.ReportMetric(float64(series), "series")
	b.ReportMetric(float64(wire), "gzip-bytes")
}

// startFleetPool is startHostsWith with the time a fleet takes to sync.
func startFleetPool(b *testing.B, opts hostpool.Options, hosts []config.Host) *Exporter {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := hostpool.NewMetrics(nil)
	pool, err := hostpool.New(hosts, opts, m, log)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	pool.Start(context.Background())
	b.Cleanup(pool.Stop)
	for !pool.Ready() || !allStreamsUp(pool) {
		if time.Since(start) > 5*time.Minute {
			b.Fatal("fleet never synced")
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Logf("%d hosts synced in %s", len(hosts), time.Since(start))
	exp, err := New(pool, m, Options{EventWait: 500 * time.Millisecond}, log)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(exp.Close)
	return exp
}
