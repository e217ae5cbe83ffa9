// Command docker-monitor exports the state, health, resource use and events
// of the containers on one or more Docker hosts to Prometheus.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/snadboy/docker-monitor/api"
	"github.com/snadboy/docker-monitor/cgroupstats"
	"github.com/snadboy/docker-monitor/collector"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/reload"
	"github.com/snadboy/docker-monitor/telemetry"
)

const (
	exporterName = "docker-monitor"
	// defaultAddress avoids Docker's own metrics port 9323 and the ports of
	// the exporters usually run beside this one (node_exporter 9100,
	// cAdvisor 8080, blackbox_exporter 9115).
	defaultAddress = ":9742"
)

func main() {
	c, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", exporterName, err)
		// --config.check answers "invalid" with 1 whatever is invalid;
		// otherwise a bad flag is a usage error, 2, as kingpin's own.
		if checking(os.Args[1:]) {
			os.Exit(1)
		}
		os.Exit(2)
	}
	if c.configCheck {
		n, err := checkConfig(c)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", exporterName, err)
			os.Exit(1)
		}
		fmt.Printf("%s: configuration valid: %d hosts\n", exporterName, n)
		os.Exit(0)
	}
	runtime.GOMAXPROCS(c.maxProcs)
	logger := promslog.New(c.promslogConfig)
	if err := run(c, logger); err != nil {
		logger.Error("exiting", "err", err)
		os.Exit(1)
	}
}

// checking says whether the command line asks for --config.check, for when
// it does not parse.
func checking(args []string) bool {
	for _, a := range args {
		if a == "--config.check" || a == "--config.check=true" {
			return true
		}
	}
	return false
}

// checkConfig loads the hosts and the files each enabled one names, as
// connecting would, and returns how many hosts are enabled.
func checkConfig(c *settings) (int, error) {
	hosts, err := c.hosts.Load()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, h := range hosts {
		if !h.Enabled {
			continue
		}
		n++
		if err := hostpool.Check(h); err != nil {
			if c.hosts.File != "" {
				return 0, fmt.Errorf("%s: host %q: %w", c.hosts.File, h.Alias, err)
			}
			return 0, fmt.Errorf("--docker.host %s: %w", h.Endpoint, err)
		}
	}
	return n, nil
}

func run(c *settings, logger *slog.Logger) error {
	// Caught from the start: SIGHUP's default action would end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	logger.Info("starting "+exporterName, "version", version.Info(), "build_context", version.BuildContext())

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		versioncollector.NewCollector("docker_monitor"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	metrics := hostpool.NewMetrics(reg)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tel, err := telemetry.New(ctx, c.otlp, reg, logger)
	if err != nil {
		return err
	}
	if tel.Tracing() {
		c.hostOpts.TracerProvider = tel.TracerProvider()
		c.collectorOpts.TracerProvider = tel.TracerProvider()
	}

	hosts, err := c.hosts.Load()
	if err != nil {
		return err
	}
	if c.hostOpts.LocalStats, err = localStats(c, logger); err != nil {
		return err
	}
	pool, err := hostpool.New(hosts, c.hostOpts, metrics, logger)
	if err != nil {
		return err
	}
	exp, err := collector.New(pool, metrics, c.collectorOpts, logger)
	if err != nil {
		return err
	}
	defer exp.Close()
	var apiHandler *api.API
	if !c.apiDisable {
		apiHandler = api.New(pool, c.apiOpts, logger)
		defer apiHandler.Close()
	}

	pool.Start(ctx)
	defer pool.Stop()
	if err := tel.PushMetrics(ctx, func(ctx context.Context) ([]*dto.MetricFamily, error) { return exp.Gather(ctx, reg) }); err != nil {
		return err
	}
	// Before pool.Stop: the last push still sees the hosts.
	defer shutdownTelemetry(tel, logger)

	rl := reload.New(c.hosts.Load, pool, reg, logger)
	go reloadOnHUP(ctx, hup, rl)

	mux, err := newMux(c, reg, exp, pool, rl, apiHandler, logger)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: tel.Handler(mux, c.metricsPath), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- web.ListenAndServe(srv, c.web, logger) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	case <-ctx.Done():
		logger.Info("shutting down")
		// Before Shutdown, which waits for handlers: the event streams end
		// only when told to.
		if apiHandler != nil {
			apiHandler.Close()
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
	return nil
}

// shutdownTelemetry pushes and flushes what is pending, for at most 5 s: an
// OTLP endpoint that hangs must not hold up the exit.
func shutdownTelemetry(tel *telemetry.Telemetry, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		logger.Warn("OTLP shutdown", "err", err)
	}
}

// reloadOnHUP re-reads the hosts on every SIGHUP until ctx ends.
func reloadOnHUP(ctx context.Context, hup <-chan os.Signal, rl *reload.Reloader) {
	for {
		select {
		case <-hup:
			_ = rl.Reload()
		case <-ctx.Done():
			return
		}
	}
}

func newMux(c *settings, reg *prometheus.Registry, exp *collector.Exporter, pool *hostpool.Pool, rl *reload.Reloader, apiHandler *api.API, logger *slog.Logger) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	errLog := slog.NewLogLogger(logger.Handler(), slog.LevelError)
	metricsHandler := promhttp.InstrumentMetricHandler(reg, exp.Handler(reg, c.handlerOpts, errLog))
	mux.Handle(c.metricsPath, metricsHandler)
	mux.Handle("/probe", exp.ProbeHandler(c.handlerOpts, errLog))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Healthy")
	})
	mux.Handle("/-/reload", rl.Handler(c.enableLifecycle))
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !pool.Ready() {
			http.Error(w, "Not ready: not every Docker host has ended its first sync attempt", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	if apiHandler != nil {
		mux.Handle(api.Prefix+"/", apiHandler)
	}
	if c.metricsPath != "/" {
		links := []web.LandingLinks{
			{Address: c.metricsPath, Text: "Metrics"},
			{Address: "/probe", Text: "Probe", Description: "/probe?target=<host alias>: the metrics of one host, for sharding (docs/scaling.md)"},
			{Address: "/-/healthy", Text: "Health", Description: "200 while the process runs"},
			{Address: "/-/ready", Text: "Readiness", Description: "200 once every Docker host has ended its first sync attempt"},
		}
		if apiHandler != nil {
			links = append(links,
				web.LandingLinks{Address: api.Prefix + "/hosts", Text: "API", Description: "hosts, containers, stats and RevP routes as JSON; see /api/v1/openapi.json"},
				web.LandingLinks{Address: api.Prefix + "/events", Text: "Event stream", Description: "live Docker events (Server-Sent Events, or WebSocket)"})
		}
		if c.enableLifecycle {
			links = append(links, web.LandingLinks{Address: "/-/reload", Text: "Reload", Description: "POST to re-read the hosts file (as SIGHUP)"})
		}
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        exporterName,
			Description: "Prometheus exporter for Docker hosts and containers",
			Version:     version.Info(),
			Links:       links,
			// No pprof on this mux: the page must not link to a 404.
			Profiling: "false",
		})
		if err != nil {
			return nil, fmt.Errorf("landing page: %w", err)
		}
		mux.Handle("/", landing)
	}
	return mux, nil
}

// localStats opens the cgroup reader for --stats.source auto and cgroup.
// Auto without a readable tree is the API, said once; cgroup refuses to
// start, since every local host's stats would fail.
func localStats(c *settings, logger *slog.Logger) (hostpool.LocalStats, error) {
	if c.hostOpts.StatsSource == hostpool.StatsAPI {
		return nil, nil
	}
	r, err := cgroupstats.New(c.cgroupRoot, c.procRoot)
	switch {
	case err == nil:
		return r, nil
	case c.hostOpts.StatsSource == hostpool.StatsCgroup:
		return nil, fmt.Errorf("--stats.source=cgroup: %w (see --stats.cgroup-root and --stats.proc-root)", err)
	default:
		logger.Info("reading resource stats from the daemons: no cgroup tree to read", "err", err)
		return nil, nil
	}
}
