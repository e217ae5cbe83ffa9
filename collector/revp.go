package collector

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/snadboy/docker-monitor/revp"
)

var (
	routeKey = []string{"host", "container", "port"}

	revpRouteInfoDesc = prometheus.NewDesc("revp_route_info",
		"A RevP route, one series per domain: where it sends traffic and how; always 1.",
		[]string{"host", "container", "port", "domain", "host_port", "backend_scheme", "backend_path",
			"https", "redirect", "websocket", "cloudflare_tunnel", "grammar"}, nil)
	revpRouteUpDesc = prometheus.NewDesc("revp_route_up",
		"1 if the route's container runs and Docker publishes its port (and, with --revp.probe, the health probe passed).",
		[]string{"host", "container", "port", "domain"}, nil)
	revpLabelErrorsDesc = prometheus.NewDesc("revp_label_errors",
		"Problems with a container's RevP labels, by reason; absent when there are none.",
		[]string{"host", "container", "reason"}, nil)
	revpDomainClaimsDesc = prometheus.NewDesc("revp_domain_claims",
		"Routes of running containers on all hosts that claim the domain; above 1 is a conflict, which proxies resolve by letting the last one win.",
		[]string{"domain"}, nil)
	revpRoutesDesc = prometheus.NewDesc("revp_routes",
		"RevP routes on the host.", []string{"host"}, nil)
	revpProbeSuccessDesc = prometheus.NewDesc("revp_route_probe_success",
		"1 if GET of the route's health path answered below 400, or 401 or 403 (with --revp.probe, routes with a health path).",
		routeKey, nil)
	revpProbeDurationDesc = prometheus.NewDesc("revp_route_probe_duration_seconds",
		"How long the route's health probe took.", routeKey, nil)
)

// revpConcern exports the reverse-proxy routes that containers declare in
// labels, checked against what Docker publishes and, optionally, probed.
type revpConcern struct {
	prefix  string
	probe   bool
	allowed []string // backend hosts flat backend-host labels may name
	timeout time.Duration
	client  *http.Client
}

func newRevPConcern(opts Options) *revpConcern {
	prefix := opts.RevPPrefix
	if prefix == "" {
		prefix = revp.DefaultPrefix
	}
	timeout := opts.RevPProbeTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &revpConcern{
		prefix:  prefix,
		probe:   opts.RevPProbe,
		allowed: opts.RevPAllowedBackendHosts,
		timeout: timeout,
		client: &http.Client{
			Transport: &http.Transport{
				// Backends behind a proxy commonly serve self-signed
				// certificates; the proxy does not verify them either.
				TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
				DisableKeepAlives: true,
				DialContext:       (&net.Dialer{Timeout: timeout}).DialContext,
			},
			// A redirect (3xx) already shows the backend answers.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

func (rc *revpConcern) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{revpRouteInfoDesc, revpRouteUpDesc, revpLabelErrorsDesc, revpDomainClaimsDesc,
		revpRoutesDesc, revpProbeSuccessDesc, revpProbeDurationDesc} {
		ch <- d
	}
}

// route is one resolved route of the table, for one scrape.
type route struct {
	*revp.TableRoute
	probe *probeResult
}

type probeResult struct {
	ok  bool
	dur time.Duration
}

// seriesKey identifies a route's series for one domain, or with domain ""
// its probe series. Two routes of one container can share a port (a flat
// and a port-indexed route), and so these keys: the first route wins.
type seriesKey struct {
	host, container string
	port            int
	domain          string
}

func (rc *revpConcern) update(ctx context.Context, views []*hostView, ch chan<- prometheus.Metric) error {
	var hosts []revp.Host
	for _, v := range views {
		if v.cacheUsable() {
			hosts = append(hosts, v.snap.RevPHost(v.host.Alias, v.host.Backend()))
		}
	}
	t := revp.NewTable(hosts, rc.prefix, rc.allowed)
	for _, cp := range t.Problems {
		counts := map[string]int{}
		for _, p := range cp.Problems {
			counts[p.Reason]++
		}
		for reason, k := range counts {
			ch <- prometheus.MustNewConstMetric(revpLabelErrorsDesc, prometheus.GaugeValue, float64(k), cp.Host, cp.Container.Name, reason)
		}
	}
	for _, h := range hosts {
		ch <- prometheus.MustNewConstMetric(revpRoutesDesc, prometheus.GaugeValue, float64(t.PerHost[h.Name]), h.Name)
	}
	routes := make([]*route, len(t.Routes))
	for i, r := range t.Routes {
		routes[i] = &route{TableRoute: r}
	}
	if rc.probe {
		rc.probeAll(ctx, routes)
	}
	emitted := map[seriesKey]bool{}
	for _, r := range routes {
		rc.emit(ch, r, emitted)
	}
	for _, d := range t.Domains() {
		ch <- prometheus.MustNewConstMetric(revpDomainClaimsDesc, prometheus.GaugeValue, float64(len(t.Claims[d])), d)
	}
	return anySyncing(views)
}

// emit sends a route's series, skipping any whose labels an earlier route
// already used (emitted): a registry rejects the whole scrape otherwise.
func (rc *revpConcern) emit(ch chan<- prometheus.Metric, r *route, emitted map[seriesKey]bool) {
	port := strconv.Itoa(r.Port)
	name := r.Container.Name
	up := r.Up()
	if r.probe != nil {
		up = up && r.probe.ok
		if k := (seriesKey{r.Host, name, r.Port, ""}); !emitted[k] {
			emitted[k] = true
			ch <- prometheus.MustNewConstMetric(revpProbeSuccessDesc, prometheus.GaugeValue, boolToFloat(r.probe.ok), r.Host, name, port)
			ch <- prometheus.MustNewConstMetric(revpProbeDurationDesc, prometheus.GaugeValue, r.probe.dur.Seconds(), r.Host, name, port)
		}
	}
	for _, d := range r.Domains {
		k := seriesKey{r.Host, name, r.Port, d.Name}
		if emitted[k] {
			continue
		}
		emitted[k] = true
		ch <- prometheus.MustNewConstMetric(revpRouteInfoDesc, prometheus.GaugeValue, 1,
			r.Host, name, port, d.Name, r.Backend.HostPort, r.BackendProto, r.BackendPath,
			strconv.FormatBool(r.HTTPS), strconv.FormatBool(d.Redirect), strconv.FormatBool(r.Websocket),
			strconv.FormatBool(r.CloudflareTunnel), r.Grammar)
		ch <- prometheus.MustNewConstMetric(revpRouteUpDesc, prometheus.GaugeValue, boolToFloat(up), r.Host, name, port, d.Name)
	}
}

// probeAll probes, concurrently and inside the scrape's deadline, every
// route of a running container that has a health path and a backend that
// revp.Resolve allows to probe: a TCP port the container publishes, at the
// Docker host's address or an allowed backend host.
func (rc *revpConcern) probeAll(ctx context.Context, routes []*route) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, r := range routes {
		if !r.Container.Running {
			continue
		}
		url, err := revp.ProbeURL(r.Route, r.Backend)
		if err != nil {
			continue
		}
		r.probe = &probeResult{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				return
			}
			r.probe.ok, r.probe.dur = rc.probeOne(ctx, url)
		}()
	}
	wg.Wait()
}

func (rc *revpConcern) probeOne(ctx context.Context, url string) (bool, time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, rc.timeout)
	defer cancel()
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, time.Since(start)
	}
	req.Header.Set("User-Agent", "docker-monitor")
	resp, err := rc.client.Do(req)
	dur := time.Since(start)
	if err != nil {
		return false, dur
	}
	resp.Body.Close()
	return resp.StatusCode < 400 || resp.StatusCode == 401 || resp.StatusCode == 403, dur
}
