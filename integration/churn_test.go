package integration

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/collector"
	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// Containers removed while scrapes run are churn, not failure: a container
// that goes between the cache read and its stats call is left out, counted
// as not_running, and the stats collector still succeeds. (Before, 35 of
// 89 scrapes during such churn reported stats success 0.) Both sources:
// read from the files, a container gone mid-read is churn too.
func TestChurnIsNoStatsFailure(t *testing.T) {
	for _, source := range []string{hostpool.StatsAPI, hostpool.StatsCgroup} {
		t.Run(source, func(t *testing.T) { testChurn(t, source) })
	}
}

func testChurn(t *testing.T, source string) {
	d := testlab.Shared(t)
	exp := startExporter(t, []config.Host{testlab.Host(t, "churn", d.Host)}, statsOpts(t, source), collector.Options{})

	image, network := d.Image(t), d.Network(t)
	stop := make(chan struct{})
	errs := make(chan error, 3)
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("churn-%d-%d", w, i)
				_, err := d.TryDocker("run", "-d", "--name", name, "--network", network, image, "sleep")
				if err == nil {
					time.Sleep(300 * time.Millisecond)
					_, err = d.TryDocker("rm", "-f", name)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	scrapes, failed := 0, 0
	var lastTimeouts float64
	for end := time.Now().Add(25 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		m := exp.scrape(t)
		scrapes++
		timeouts, _ := m.get("docker_monitor_stats_errors_total", lbl("host", "churn", "reason", "timeout"))
		// A call that missed the deadline on a loaded machine fails the
		// scrape rightly; only a failure without one is churn taken for an error.
		if !m.matches("docker_monitor_scrape_collector_success", lbl("collector", "stats"), 1) && timeouts == lastTimeouts {
			failed++
		}
		lastTimeouts = timeouts
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("churn: %v", err)
	}
	m := exp.scrape(t)
	notRunning, _ := m.get("docker_monitor_stats_errors_total", lbl("host", "churn", "reason", "not_running"))
	t.Logf("%d scrapes during churn, %d containers counted not_running", scrapes, int(notRunning))
	if v, _ := m.get("docker_monitor_stats_reads_total", lbl("host", "churn", "source", source)); v == 0 {
		t.Errorf("no samples read from source %s", source)
	}
	if failed > 0 {
		t.Errorf("%d of %d scrapes during churn reported stats success 0 without a timeout", failed, scrapes)
	}
	if n := m.count("docker_monitor_stats_errors_total", lbl("host", "churn", "reason", "error")); n != 0 {
		v, _ := m.get("docker_monitor_stats_errors_total", lbl("host", "churn", "reason", "error"))
		t.Errorf("stats_errors_total{reason=error} = %v during churn, want none", v)
	}
}
