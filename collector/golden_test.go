package collector

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/dockerfake"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// startFake runs a pool with one host on the replayed Docker 20.10 answers
// and waits for its first sync.
func startFake(t testing.TB, opts Options) (*Exporter, *dockerfake.Server, *hostpool.Metrics) {
	t.Helper()
	fake := dockerfake.StartT(t)
	return startPool(t, fake, opts)
}

func startPool(t testing.TB, fake *dockerfake.Server, opts Options) (*Exporter, *dockerfake.Server, *hostpool.Metrics) {
	t.Helper()
	exp, m := startHosts(t, opts, testlab.Host(t, "fake", fake.Host))
	return exp, fake, m
}

// startHosts runs a pool of the given hosts and waits for each one's first sync.
func startHosts(t testing.TB, opts Options, hosts ...config.Host) (*Exporter, *hostpool.Metrics) {
	return startHostsWith(t, hostpool.DefaultOptions, opts, hosts...)
}

func startHostsWith(t testing.TB, hopts hostpool.Options, opts Options, hosts ...config.Host) (*Exporter, *hostpool.Metrics) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := hostpool.NewMetrics(nil)
	pool, err := hostpool.New(hosts, hopts, m, log)
	if err != nil {
		t.Fatal(err)
	}
	pool.Start(context.Background())
	t.Cleanup(pool.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for !pool.Ready() || !allStreamsUp(pool) {
		if time.Now().After(deadline) {
			t.Fatal("fake hosts never synced")
		}
		time.Sleep(5 * time.Millisecond)
	}
	exp, err := New(pool, m, opts, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(exp.Close)
	return exp, m
}

func allStreamsUp(pool *hostpool.Pool) bool {
	for _, h := range pool.Hosts() {
		if !h.Snapshot().StreamUp {
			return false
		}
	}
	return true
}

// stableFamilies are every family whose value depends only on the recorded
// input, not on timing.
var stableFamilies = []string{
	"docker_host_up", "docker_host_info", "docker_host_containers", "docker_host_images",
	"docker_host_events_stream_up", "docker_host_cpus", "docker_host_memory_bytes",
	"docker_container_info", "docker_container_state", "docker_container_health_status",
	"docker_container_health_failing_streak", "docker_container_restarts_total",
	"docker_container_exit_code", "docker_container_oom_killed",
	"docker_container_created_timestamp_seconds", "docker_container_started_timestamp_seconds",
	"docker_container_finished_timestamp_seconds",
	"docker_container_cpu_usage_seconds_total", "docker_container_cpu_user_seconds_total",
	"docker_container_cpu_system_seconds_total", "docker_container_cpu_throttled_periods_total",
	"docker_container_cpu_throttled_seconds_total", "docker_container_memory_usage_bytes",
	"docker_container_memory_working_set_bytes", "docker_container_memory_limit_bytes",
	"docker_container_network_receive_bytes_total", "docker_container_network_transmit_bytes_total",
	"docker_container_block_io_read_bytes_total", "docker_container_block_io_write_bytes_total",
	"docker_container_pids", "docker_container_pids_limit",
	"docker_monitor_scrape_collector_success", "revp_routes",
}

func TestGoldenMetrics(t *testing.T) {
	exp, _, _ := startFake(t, Options{ContainerLabels: []string{"team"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	compareGolden(t, exp.Collector(ctx), "metrics.prom", stableFamilies...)
}
