package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/snadboy/docker-monitor/api"
	"github.com/snadboy/docker-monitor/collector"
	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/telemetry"
)

type settings struct {
	web             *web.FlagConfig
	metricsPath     string
	enableLifecycle bool
	configCheck     bool
	hosts           config.Source
	hostOpts        hostpool.Options
	collectorOpts   collector.Options
	handlerOpts     collector.HandlerOptions
	promslogConfig  *promslog.Config
	maxProcs        int
	apiDisable      bool
	apiOpts         api.Options
	otlp            telemetry.Options
	// cgroupRoot and procRoot are where local hosts' stats are read from
	// (--stats.source cgroup or auto).
	cgroupRoot, procRoot string
}

// Bounds of the numeric flags: beyond them a value is a typo, and some
// would allocate without limit (each host's event buffer is allocated
// whole, about 200 bytes an event).
const (
	maxEventBuffer = 100_000
	maxInFlight    = 10_000
	// Each stream client holds --api.event-buffer pointers (8 bytes); the
	// feed holds --api.event-history events, about 300 bytes each, and a
	// container update also keeps the container as it was before.
	maxAPIEventBuffer  = 100_000
	maxAPIEventHistory = 100_000
	maxAPIEventClients = 10_000
)

// reservedPaths are served by the exporter itself; the metrics path must
// not take them.
var reservedPaths = []string{"/-/healthy", "/-/ready", "/-/reload", "/probe", api.Prefix}

func parseFlags(args []string) (*settings, error) {
	app := kingpin.New(exporterName, "Prometheus exporter for the containers, resource use, events and health of Docker hosts.")
	c := &settings{hostOpts: hostpool.DefaultOptions, apiOpts: api.DefaultOptions, promslogConfig: &promslog.Config{}}
	c.web = kingpinflag.AddFlags(app, defaultAddress)
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&c.metricsPath)
	app.Flag("web.enable-lifecycle", "Enable POST /-/reload, which re-reads the hosts file (SIGHUP always does).").
		BoolVar(&c.enableLifecycle)
	app.Flag("config.file", "Hosts file (YAML) naming every Docker host to watch; see docs/configuration.md. Without it, --docker.host is watched.").
		StringVar(&c.hosts.File)
	app.Flag("config.check", "Validate the flags, the hosts file (or the --docker.host URIs) and the key, certificate and known_hosts files it names, and exit: 0 if valid, 1 if not.").
		BoolVar(&c.configCheck)
	app.Flag("docker.host", "Docker daemon to monitor, as a DOCKER_HOST-style URI: unix://PATH, tcp://HOST:PORT or ssh://USER@HOST:PORT. Repeatable. Ignored with --config.file.").
		Envar("DOCKER_HOST").Default("unix:///var/run/docker.sock").StringsVar(&c.hosts.URIs)
	// Not Envar: the docker CLI turns verification on for any non-empty
	// DOCKER_TLS_VERIFY ("1", "yes"), which kingpin's bool parser refuses.
	var tlsVerifySet bool
	app.Flag("docker.tls-verify", "Use TLS and verify the daemon's certificate for tcp:// hosts. Default: on when DOCKER_TLS_VERIFY is set to anything, as for the docker CLI.").
		IsSetByUser(&tlsVerifySet).BoolVar(&c.hosts.TLS.TLSVerify)
	app.Flag("docker.tls-cert-path", "Directory with ca.pem, cert.pem and key.pem for tcp:// hosts (TLS is used when set).").
		Envar("DOCKER_CERT_PATH").StringVar(&c.hosts.TLS.CertPath)
	intFlag(app, "docker.max-connections-per-host", "Docker API requests in flight per host (stats, inspect); the event stream is extra.", "50", &c.hostOpts.MaxConcurrent)
	intFlag(app, "docker.connection-pool-size", "Docker API requests in flight over all hosts (0: no limit).", "200", &c.hostOpts.PoolSize)
	durationFlag(app, "docker.timeout", "Timeout for connecting to the daemon and for each API call outside a scrape.", "30s", &c.hostOpts.Timeout)
	intFlag(app, "docker.retries", "Reconnect attempts that are logged as warnings before the host is logged as down (reconnects never stop).", "3", &c.hostOpts.Backoff.Retries)
	floatFlag(app, "docker.retry-backoff", "Factor by which the reconnect delay grows after each failed attempt.", "2.0", &c.hostOpts.Backoff.Factor)
	durationFlag(app, "docker.retry-initial-delay", "Delay before the first reconnect attempt.", "2s", &c.hostOpts.Backoff.Initial)
	durationFlag(app, "docker.retry-max-delay", "Longest delay between reconnect attempts.", "10s", &c.hostOpts.Backoff.Max)
	durationFlag(app, "discovery.interval", "Period of the full re-list of every container that corrects anything the event stream missed.", "60s", &c.hostOpts.DiscoveryInterval)
	durationFlag(app, "events.check-interval", "Period of the check that the event stream still delivers: the daemon's container list against the cache (0: off).", "10s", &c.hostOpts.StreamCheckInterval)
	intFlag(app, "events.buffer", "Events held while waiting to be applied; an event that does not fit is dropped, counted, and triggers a resync.", "1000", &c.hostOpts.EventBuffer)
	intFlag(app, "stats.concurrency", "Resource-stats calls in flight per host during a scrape.", "50", &c.hostOpts.StatsConcurrency)
	addValue(app, "stats.source", "Where local hosts' resource stats come from: cgroup (the host's cgroup files and /proc, which cost the daemon nothing), api (the daemon's stats call, about 3 ms of the daemon's CPU per container), or auto (cgroup where its reads find the host's containers, else api). SSH and TCP hosts always use the API.",
		hostpool.StatsAuto, "one of auto, api, cgroup", oneOf(hostpool.StatsAuto, hostpool.StatsAPI, hostpool.StatsCgroup), &c.hostOpts.StatsSource)
	app.Flag("stats.cgroup-root", "Where the host's cgroup tree is mounted (in a container: mount the host's /sys/fs/cgroup read-only and name it here).").
		Default("/sys/fs/cgroup").StringVar(&c.cgroupRoot)
	app.Flag("stats.proc-root", "Where the host's /proc is mounted (in a container: run with --pid=host, or mount the host's /proc read-only and name it here).").
		Default("/proc").StringVar(&c.procRoot)
	durationFlag(app, "stats.max-age", "Reuse resource stats read by an earlier scrape this recent (0: only share a round in flight). Set to the gap between two Prometheus servers' scrapes to halve their load.", "0s", &c.hostOpts.StatsMaxAge)
	app.Flag("container.label", "Docker label copied onto docker_container_info as label_<key> (repeatable; none by default: labels multiply series).").
		StringsVar(&c.collectorOpts.ContainerLabels)
	app.Flag("revp.label-prefix", "Prefix of the reverse-proxy (RevP) route labels.").
		Default("snadboy.revp").StringVar(&c.collectorOpts.RevPPrefix)
	app.Flag("revp.probe", "Probe routes that have a health path with an HTTP GET on every scrape.").
		BoolVar(&c.collectorOpts.RevPProbe)
	durationFlag(app, "revp.probe-timeout", "Timeout of one route probe (within the scrape deadline).", "5s", &c.collectorOpts.RevPProbeTimeout)
	app.Flag("revp.allowed-backend-host", "Host name or address, other than the Docker host's own, that a flat backend-host label may name and probes may reach (repeatable).").
		StringsVar(&c.collectorOpts.RevPAllowedBackendHosts)
	app.Flag("api.disable", "Serve no JSON API or event stream under "+api.Prefix+", metrics only.").BoolVar(&c.apiDisable)
	app.Flag("api.expose-env", "Return containers' environment values in the API; without it names only, values \"<redacted>\" (they hold secrets more often than not).").
		BoolVar(&c.apiOpts.ExposeEnv)
	intFlag(app, "api.event-history", "Events kept for "+api.Prefix+"/events?since= to replay.", "1000", &c.hostOpts.EventHistory)
	intFlag(app, "api.event-buffer", "Messages queued for one event-stream client; a client that lets more pile up is closed.", "256", &c.apiOpts.EventBuffer)
	intFlag(app, "api.event-clients", "Event-stream clients served at once; more are answered 503.", "100", &c.apiOpts.MaxStreamClients)
	app.Flag("otlp.metrics", "Push the metrics /metrics serves over OTLP too (also on with OTEL_METRICS_EXPORTER=otlp); endpoint, protocol, headers and TLS from the OTEL_EXPORTER_OTLP_* variables. See docs/opentelemetry.md.").
		BoolVar(&c.otlp.Metrics)
	addValue(app, "otlp.interval", "Period of the OTLP metric push; without the flag OTEL_METRIC_EXPORT_INTERVAL (milliseconds), else 30s.",
		telemetry.DefaultInterval.String(), "a duration such as 30s or 1m30s", time.ParseDuration, &c.otlp.Interval).IsSetByUser(&c.otlp.IntervalSet)
	app.Flag("otlp.semconv", "Push the container metrics also under the OpenTelemetry semantic conventions' names (container.cpu.time, container.memory.usage, ...).").
		BoolVar(&c.otlp.Semconv)
	app.Flag("otlp.traces", "Send traces of every scrape and push, each host and each Docker API call over OTLP (also on with OTEL_TRACES_EXPORTER=otlp); sampler from OTEL_TRACES_SAMPLER.").
		BoolVar(&c.otlp.Traces)
	durationFlag(app, "scrape.default-timeout", "Scrape deadline when the request has no X-Prometheus-Scrape-Timeout-Seconds header.", "10s", &c.handlerOpts.DefaultTimeout)
	durationFlag(app, "scrape.max-timeout", "Longest scrape deadline a request's X-Prometheus-Scrape-Timeout-Seconds header may ask for.", "60s", &c.handlerOpts.MaxTimeout)
	durationFlag(app, "scrape.timeout-offset", "Time kept back from the scrape timeout to encode and send the response.", "500ms", &c.handlerOpts.TimeoutOffset)
	intFlag(app, "runtime.gomaxprocs", "The target number of CPUs Go will run on (GOMAXPROCS). The exporter waits on the daemons, not the CPU: one CPU avoids waking several threads for each of the many stats answers that arrive together.", "1", &c.maxProcs).
		Envar("GOMAXPROCS")
	flag.AddFlags(app, c.promslogConfig)
	app.Version(version.Print(exporterName))
	app.HelpFlag.Short('h')
	if _, err := app.Parse(args); err != nil {
		return nil, err
	}
	if !tlsVerifySet && os.Getenv("DOCKER_TLS_VERIFY") != "" {
		c.hosts.TLS.TLSVerify = true
	}
	c.collectorOpts.EventWait = 500 * time.Millisecond
	if c.apiDisable {
		// Nothing would replay it.
		c.hostOpts.EventHistory = 0
	}
	c.apiOpts.RevPPrefix = c.collectorOpts.RevPPrefix
	c.apiOpts.AllowedBackendHosts = c.collectorOpts.RevPAllowedBackendHosts
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// validate checks what kingpin cannot; each message names its flag.
func (c *settings) validate() error {
	h, o := c.hostOpts, c.collectorOpts
	for _, check := range []struct {
		bad bool
		msg string
	}{
		{h.Timeout <= 0, "--docker.timeout must be positive"},
		{h.DiscoveryInterval <= 0, "--discovery.interval must be positive"},
		{h.StreamCheckInterval < 0, "--events.check-interval must not be negative"},
		{h.EventBuffer < 1 || h.EventBuffer > maxEventBuffer, fmt.Sprintf("--events.buffer must be 1..%d", maxEventBuffer)},
		{h.MaxConcurrent < 1 || h.MaxConcurrent > maxInFlight, fmt.Sprintf("--docker.max-connections-per-host must be 1..%d", maxInFlight)},
		{h.PoolSize < 0 || h.PoolSize > maxInFlight, fmt.Sprintf("--docker.connection-pool-size must be 0..%d", maxInFlight)},
		{h.Backoff.Retries < 0, "--docker.retries must not be negative"},
		{h.Backoff.Factor < 1, "--docker.retry-backoff must be at least 1"},
		{h.Backoff.Initial <= 0 || h.Backoff.Max < h.Backoff.Initial, "--docker.retry-initial-delay must be positive and at most --docker.retry-max-delay"},
		{h.StatsConcurrency < 1 || h.StatsConcurrency > maxInFlight, fmt.Sprintf("--stats.concurrency must be 1..%d", maxInFlight)},
		{h.StatsMaxAge < 0, "--stats.max-age must not be negative"},
		{o.RevPProbeTimeout <= 0, "--revp.probe-timeout must be positive"},
		{strings.Trim(o.RevPPrefix, ".") == "" || strings.ContainsAny(o.RevPPrefix, " \t\n"), "--revp.label-prefix must be a Docker label key prefix such as snadboy.revp"},
		{c.handlerOpts.DefaultTimeout <= 0, "--scrape.default-timeout must be positive"},
		{c.handlerOpts.MaxTimeout < c.handlerOpts.DefaultTimeout, "--scrape.max-timeout must be at least --scrape.default-timeout"},
		{c.handlerOpts.TimeoutOffset < 0, "--scrape.timeout-offset must not be negative"},
		{c.maxProcs < 1, "--runtime.gomaxprocs must be at least 1"},
		{h.EventHistory < 0 || h.EventHistory > maxAPIEventHistory, fmt.Sprintf("--api.event-history must be 0..%d", maxAPIEventHistory)},
		{c.apiOpts.EventBuffer < 1 || c.apiOpts.EventBuffer > maxAPIEventBuffer, fmt.Sprintf("--api.event-buffer must be 1..%d", maxAPIEventBuffer)},
		{c.apiOpts.MaxStreamClients < 1 || c.apiOpts.MaxStreamClients > maxAPIEventClients, fmt.Sprintf("--api.event-clients must be 1..%d", maxAPIEventClients)},
	} {
		if check.bad {
			return errors.New(check.msg)
		}
	}
	if err := checkMetricsPath(c.metricsPath); err != nil {
		return fmt.Errorf("--web.telemetry-path %q: %w", c.metricsPath, err)
	}
	if err := collector.CheckLabelAllowlist(o.ContainerLabels); err != nil {
		return fmt.Errorf("--container.label: %w", err)
	}
	for _, b := range o.RevPAllowedBackendHosts {
		if err := config.CheckHostname(b); err != nil {
			return fmt.Errorf("--revp.allowed-backend-host %q: %w", b, err)
		}
	}
	if c.hosts.File == "" {
		if _, err := config.FromURIs(c.hosts.URIs, c.hosts.TLS); err != nil {
			return fmt.Errorf("--docker.host: %w", err)
		}
	}
	if err := c.otlp.Check(); err != nil {
		return err
	}
	return checkWebConfig(*c.web.WebConfigFile)
}

// checkMetricsPath refuses what http.ServeMux would panic on (a path
// without a leading slash, a pattern such as /{x}) and the exporter's own
// paths.
func checkMetricsPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return errors.New("must start with /")
	case strings.ContainsAny(p, "{}?# \t\r\n"):
		return errors.New("must be a plain path: no {, }, ?, # or spaces")
	case path.Clean(p) != strings.TrimSuffix(p, "/") && p != "/":
		return errors.New("must be a clean path (no //, . or ..)")
	case strings.HasPrefix(p, "/-/"):
		return fmt.Errorf("/-/ is the exporter's own (%s)", strings.Join(reservedPaths, ", "))
	case p == "/api" || strings.HasPrefix(p, "/api/"):
		return fmt.Errorf("/api/ is the exporter's own (%s)", strings.Join(reservedPaths, ", "))
	case p == "/probe" || p == "/probe/":
		return fmt.Errorf("/probe is the exporter's own (%s)", strings.Join(reservedPaths, ", "))
	}
	return nil
}

// checkWebConfig validates --web.config.file as the exporter toolkit will
// read it, after making sure it is a regular file: the toolkit would block
// on a FIFO.
func checkWebConfig(p string) error {
	if p == "" {
		return nil
	}
	if _, err := config.ReadFile(p, config.MaxFileSize); err != nil {
		return fmt.Errorf("--web.config.file: %w", err)
	}
	if err := web.Validate(p); err != nil {
		return fmt.Errorf("--web.config.file %s: %w", p, err)
	}
	return nil
}

// value is a flag whose parse error names the flag: kingpin's own numeric
// and duration flags say only `time: invalid duration "abc"`.
type value[T any] struct {
	name, want string
	parse      func(string) (T, error)
	dst        *T
	text       string
}

func (v *value[T]) Set(s string) error {
	x, err := v.parse(s)
	if err != nil {
		return fmt.Errorf("--%s: %q is not %s", v.name, s, v.want)
	}
	*v.dst, v.text = x, s
	return nil
}

func (v *value[T]) String() string { return v.text }

func addValue[T any](app *kingpin.Application, name, help, def, want string, parse func(string) (T, error), dst *T) *kingpin.FlagClause {
	f := app.Flag(name, help).Default(def)
	f.SetValue(&value[T]{name: name, want: want, parse: parse, dst: dst})
	return f
}

// oneOf parses a value from a fixed set; kingpin's own enum flags do not
// name the flag in their error.
func oneOf(values ...string) func(string) (string, error) {
	return func(s string) (string, error) {
		if !slices.Contains(values, s) {
			return "", errors.New("not allowed")
		}
		return s, nil
	}
}

func durationFlag(app *kingpin.Application, name, help, def string, dst *time.Duration) {
	addValue(app, name, help, def, "a duration such as 30s or 1m30s", time.ParseDuration, dst)
}

func intFlag(app *kingpin.Application, name, help, def string, dst *int) *kingpin.FlagClause {
	return addValue(app, name, help, def, "an integer", strconv.Atoi, dst)
}

// floatFlag takes finite numbers only: NaN passes every comparison a
// validation makes (NaN < 1 is false).
func floatFlag(app *kingpin.Application, name, help, def string, dst *float64) {
	addValue(app, name, help, def, "a finite number", func(s string) (float64, error) {
		f, err := strconv.ParseFloat(s, 64)
		if err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
			err = errors.New("not finite")
		}
		return f, err
	}, dst)
}
