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
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/snadboy/docker-monitor/collector"
	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
)

const (
	exporterName = "docker-monitor"
	// defaultAddress avoids Docker's own metrics port 9323 and the ports of
	// the exporters usually run beside this one (node_exporter 9100,
	// cAdvisor 8080, blackbox_exporter 9115).
	defaultAddress = ":9742"
)

type settings struct {
	web            *web.FlagConfig
	metricsPath    string
	configFile     string
	configCheck    bool
	dockerHosts    []string
	tls            config.TCP
	hostOpts       hostpool.Options
	collectorOpts  collector.Options
	handlerOpts    collector.HandlerOptions
	promslogConfig *promslog.Config
	maxProcs       int
}

func parseFlags(args []string) (*settings, error) {
	app := kingpin.New(exporterName, "Prometheus exporter for the containers, resource use, events and health of Docker hosts.")
	c := &settings{hostOpts: hostpool.DefaultOptions, promslogConfig: &promslog.Config{}}
	c.web = kingpinflag.AddFlags(app, defaultAddress)
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&c.metricsPath)
	app.Flag("config.file", "Hosts file (YAML) naming every Docker host to watch; see docs/configuration.md. Without it, --docker.host is watched.").
		StringVar(&c.configFile)
	app.Flag("config.check", "Validate --config.file (or the --docker.host URIs) and exit: 0 if valid, 1 if not.").
		BoolVar(&c.configCheck)
	app.Flag("docker.host", "Docker daemon to monitor, as a DOCKER_HOST-style URI: unix://PATH, tcp://HOST:PORT or ssh://USER@HOST:PORT. Repeatable. Ignored with --config.file.").
		Envar("DOCKER_HOST").Default("unix:///var/run/docker.sock").StringsVar(&c.dockerHosts)
	// Not Envar: the docker CLI turns verification on for any non-empty
	// DOCKER_TLS_VERIFY ("1", "yes"), which kingpin's bool parser refuses.
	var tlsVerifySet bool
	app.Flag("docker.tls-verify", "Use TLS and verify the daemon's certificate for tcp:// hosts. Default: on when DOCKER_TLS_VERIFY is set to anything, as for the docker CLI.").
		IsSetByUser(&tlsVerifySet).BoolVar(&c.tls.TLSVerify)
	app.Flag("docker.tls-cert-path", "Directory with ca.pem, cert.pem and key.pem for tcp:// hosts (TLS is used when set).").
		Envar("DOCKER_CERT_PATH").StringVar(&c.tls.CertPath)
	app.Flag("docker.max-connections-per-host", "Docker API requests in flight per host (stats, inspect); the event stream is extra.").
		Default("50").IntVar(&c.hostOpts.MaxConcurrent)
	app.Flag("docker.connection-pool-size", "Docker API requests in flight over all hosts (0: no limit).").
		Default("200").IntVar(&c.hostOpts.PoolSize)
	app.Flag("docker.timeout", "Timeout for connecting to the daemon and for each API call outside a scrape.").
		Default("30s").DurationVar(&c.hostOpts.Timeout)
	app.Flag("docker.retries", "Reconnect attempts that are logged as warnings before the host is logged as down (reconnects never stop).").
		Default("3").IntVar(&c.hostOpts.Backoff.Retries)
	app.Flag("docker.retry-backoff", "Factor by which the reconnect delay grows after each failed attempt.").
		Default("2.0").Float64Var(&c.hostOpts.Backoff.Factor)
	app.Flag("docker.retry-initial-delay", "Delay before the first reconnect attempt.").
		Default("2s").DurationVar(&c.hostOpts.Backoff.Initial)
	app.Flag("docker.retry-max-delay", "Longest delay between reconnect attempts.").
		Default("10s").DurationVar(&c.hostOpts.Backoff.Max)
	app.Flag("discovery.interval", "Period of the full re-list of every container that corrects anything the event stream missed.").
		Default("60s").DurationVar(&c.hostOpts.DiscoveryInterval)
	app.Flag("events.buffer", "Events held while waiting to be applied; an event that does not fit is dropped, counted, and triggers a resync.").
		Default("1000").IntVar(&c.hostOpts.EventBuffer)
	app.Flag("stats.concurrency", "Resource-stats calls in flight per host during a scrape.").
		Default("50").IntVar(&c.collectorOpts.StatsConcurrency)
	app.Flag("stats.max-age", "Reuse resource stats read by an earlier scrape this recent (0: only share a round in flight). Set to the gap between two Prometheus servers' scrapes to halve their load.").
		Default("0s").DurationVar(&c.collectorOpts.StatsMaxAge)
	app.Flag("container.label", "Docker label copied onto docker_container_info as label_<key> (repeatable; none by default: labels multiply series).").
		StringsVar(&c.collectorOpts.ContainerLabels)
	app.Flag("revp.label-prefix", "Prefix of the reverse-proxy (RevP) route labels.").
		Default("snadboy.revp").StringVar(&c.collectorOpts.RevPPrefix)
	app.Flag("revp.probe", "Probe routes that have a health path with an HTTP GET on every scrape.").
		BoolVar(&c.collectorOpts.RevPProbe)
	app.Flag("revp.probe-timeout", "Timeout of one route probe (within the scrape deadline).").
		Default("5s").DurationVar(&c.collectorOpts.RevPProbeTimeout)
	app.Flag("scrape.default-timeout", "Scrape deadline when the request has no X-Prometheus-Scrape-Timeout-Seconds header.").
		Default("10s").DurationVar(&c.handlerOpts.DefaultTimeout)
	app.Flag("scrape.timeout-offset", "Time kept back from the scrape timeout to encode and send the response.").
		Default("500ms").DurationVar(&c.handlerOpts.TimeoutOffset)
	app.Flag("runtime.gomaxprocs", "The target number of CPUs Go will run on (GOMAXPROCS). The exporter waits on the daemons, not the CPU: one CPU avoids waking several threads for each of the many stats answers that arrive together.").
		Envar("GOMAXPROCS").Default("1").IntVar(&c.maxProcs)
	flag.AddFlags(app, c.promslogConfig)
	app.Version(version.Print(exporterName))
	app.HelpFlag.Short('h')
	if _, err := app.Parse(args); err != nil {
		return nil, err
	}
	if !tlsVerifySet && os.Getenv("DOCKER_TLS_VERIFY") != "" {
		c.tls.TLSVerify = true
	}
	c.collectorOpts.EventWait = 500 * time.Millisecond
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *settings) validate() error {
	switch {
	case c.hostOpts.Timeout <= 0:
		return errors.New("--docker.timeout must be positive")
	case c.hostOpts.DiscoveryInterval <= 0:
		return errors.New("--discovery.interval must be positive")
	case c.hostOpts.EventBuffer < 1:
		return errors.New("--events.buffer must be at least 1")
	case c.hostOpts.MaxConcurrent < 1:
		return errors.New("--docker.max-connections-per-host must be at least 1")
	case c.collectorOpts.StatsConcurrency < 1:
		return errors.New("--stats.concurrency must be at least 1")
	case c.hostOpts.Backoff.Factor < 1:
		return errors.New("--docker.retry-backoff must be at least 1")
	case c.hostOpts.Backoff.Initial <= 0 || c.hostOpts.Backoff.Max < c.hostOpts.Backoff.Initial:
		return errors.New("--docker.retry-initial-delay must be positive and at most --docker.retry-max-delay")
	case c.maxProcs < 1:
		return errors.New("--runtime.gomaxprocs must be at least 1")
	case c.handlerOpts.DefaultTimeout <= 0:
		return errors.New("--scrape.default-timeout must be positive")
	case c.collectorOpts.RevPProbeTimeout <= 0:
		return errors.New("--revp.probe-timeout must be positive")
	case strings.Trim(c.collectorOpts.RevPPrefix, ".") == "":
		return errors.New("--revp.label-prefix must not be empty")
	}
	if c.configFile == "" {
		if _, err := config.FromURIs(c.dockerHosts, c.tls); err != nil {
			return fmt.Errorf("--docker.host: %w", err)
		}
	}
	if c.hostOpts.PoolSize < 0 {
		return errors.New("--docker.connection-pool-size must not be negative")
	}
	if err := collector.CheckLabelAllowlist(c.collectorOpts.ContainerLabels); err != nil {
		return fmt.Errorf("--container.label: %w", err)
	}
	return nil
}

func main() {
	c, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", exporterName, err)
		os.Exit(2)
	}
	logger := promslog.New(c.promslogConfig)
	if c.configCheck {
		specs, err := loadSpecs(c)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", exporterName, err)
			os.Exit(1)
		}
		fmt.Printf("%s: configuration valid: %d hosts\n", exporterName, len(specs))
		os.Exit(0)
	}
	runtime.GOMAXPROCS(c.maxProcs)
	if err := run(c, logger); err != nil {
		logger.Error("exiting", "err", err)
		os.Exit(1)
	}
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

	specs, err := loadSpecs(c)
	if err != nil {
		return err
	}
	pool, err := hostpool.New(specs, c.hostOpts, metrics, logger)
	if err != nil {
		return err
	}
	exp, err := collector.New(pool, metrics, c.collectorOpts, logger)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pool.Start(ctx)
	defer pool.Stop()

	rl := newReloader(c, pool, reg, logger)
	go func() {
		for {
			select {
			case <-hup:
				_ = rl.reload()
			case <-ctx.Done():
				return
			}
		}
	}()

	mux, err := newMux(c, reg, exp, pool, rl, logger)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- web.ListenAndServe(srv, c.web, logger) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	case <-ctx.Done():
		logger.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
	return nil
}

func newMux(c *settings, reg *prometheus.Registry, exp *collector.Exporter, pool *hostpool.Pool, rl *reloader, logger *slog.Logger) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	errLog := slog.NewLogLogger(logger.Handler(), slog.LevelError)
	metricsHandler := promhttp.InstrumentMetricHandler(reg, exp.Handler(reg, c.handlerOpts, errLog))
	mux.Handle(c.metricsPath, metricsHandler)
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Healthy")
	})
	mux.Handle("/-/reload", rl)
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !pool.Ready() {
			http.Error(w, "Not ready: not every Docker host has ended its first sync attempt", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	if c.metricsPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        exporterName,
			Description: "Prometheus exporter for Docker hosts and containers",
			Version:     version.Info(),
			Links: []web.LandingLinks{
				{Address: c.metricsPath, Text: "Metrics"},
				{Address: "/-/healthy", Text: "Health", Description: "200 while the process runs"},
				{Address: "/-/ready", Text: "Readiness", Description: "200 once every Docker host has ended its first sync attempt"},
				{Address: "/-/reload", Text: "Reload", Description: "POST to re-read the hosts file (as SIGHUP)"},
			},
		})
		if err != nil {
			return nil, fmt.Errorf("landing page: %w", err)
		}
		mux.Handle("/", landing)
	}
	return mux, nil
}
