package collector

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
)

// inspected is a container as the pool builds it from an inspect result:
// NetworkSettings.Ports holds the live ports (Docker empties them when the
// container stops) and HostConfig.PortBindings the configured ones.
func inspected(name string, state container.ContainerState, live, configured network.PortMap, labels map[string]string) *hostpool.Container {
	return hostpool.FromInspect(container.InspectResponse{
		Name:            "/" + name,
		State:           &container.State{Status: state},
		Config:          &container.Config{Labels: labels},
		NetworkSettings: &container.NetworkSettings{Ports: live},
		HostConfig:      &container.HostConfig{PortBindings: configured},
	})
}

// revpViews builds two hosts whose containers carry RevP labels, with the
// given published ports, as the cache would hold them.
func revpViews(published map[string][]string, backend string) []*hostView {
	web := &hostpool.Container{Name: "web", State: "running", Published: published, Labels: map[string]string{
		"snadboy.revp.80.domain":   "shop.example.com,www.shop.example.com:noredirect",
		"snadboy.revp.80.health":   "/healthz",
		"snadboy.revp.80.https":    "maybe",
		"snadboy.revp.9000.domain": "admin.example.com",
	}}
	// Stopped: Docker reports no live ports, only the configured bindings.
	stopped := inspected("old-web", container.StateExited, nil, network.PortMap{
		network.MustParsePort("80/tcp"): {{HostPort: "8000"}, {HostPort: "8000"}},
	}, map[string]string{
		"snadboy.revp.80.domain": "shop.example.com",
	})
	other := &hostpool.Container{Name: "api", State: "running", Published: map[string][]string{"8080/tcp": {"18080"}}, Labels: map[string]string{
		"snadboy.revp.domain":         "api.example.com",
		"snadboy.revp.container-port": "8080",
		"snadboy.revp.80.domain":      "api2.example.com",
	}}
	return []*hostView{
		{host: revpHost("h1", backend), up: true, snap: hostpool.Snapshot{Synced: true, Containers: []*hostpool.Container{stopped, web}}},
		{host: revpHost("h2", backend), up: true, snap: hostpool.Snapshot{Synced: true, Containers: []*hostpool.Container{other}}},
		{host: revpHost("down", backend), up: false, snap: hostpool.Snapshot{Synced: true, Containers: []*hostpool.Container{web}}},
	}
}

// revpHost is a watched host as the collector sees it, with the address
// its published ports are reached at.
func revpHost(alias, backend string) *hostpool.Host {
	return &hostpool.Host{Host: config.Host{Alias: alias, BackendHost: backend}}
}

func collectRevP(rc *revpConcern, views []*hostView) prometheus.Collector {
	return collectorFunc(func(ch chan<- prometheus.Metric) {
		_ = rc.update(context.Background(), views, ch)
	})
}

func TestRevPMetrics(t *testing.T) {
	rc := newRevPConcern(Options{})
	views := revpViews(map[string][]string{"80/tcp": {"8000", "8000"}}, "192.0.2.10")
	compareGolden(t, collectRevP(rc, views), "revp.prom")

	// The stopped old-web has no live ports: its route resolves through its
	// port bindings, without a port_not_published (the golden file shows it
	// has no revp_label_errors at all).
	if got := views[0].snap.Containers[0]; got.Name != "old-web" || got.Running() || len(got.Published["80/tcp"]) == 0 {
		t.Fatalf("old-web: %+v", got)
	}
	want := `
# HELP revp_route_info A RevP route, one series per domain: where it sends traffic and how; always 1.
# TYPE revp_route_info gauge
revp_route_info{backend_path="/",backend_scheme="http",cloudflare_tunnel="false",container="old-web",domain="shop.example.com",grammar="port",host="h1",host_port="8000",https="true",port="80",redirect="true",websocket="false"} 1
`
	oldWeb := []*hostView{{host: views[0].host, up: true, snap: hostpool.Snapshot{Synced: true, Containers: views[0].snap.Containers[:1]}}}
	if err := testutil.CollectAndCompare(collectRevP(rc, oldWeb), strings.NewReader(want), "revp_route_info", "revp_label_errors"); err != nil {
		t.Error(err)
	}
}

// A stopped container's route resolves through its configured port bindings,
// since Docker empties the live ports on stop. A binding to a random host
// port is published on a port not known yet: host_port="" without a
// problem. A running container uses its live ports only.
func TestRevPStoppedContainerPorts(t *testing.T) {
	labels := map[string]string{"snadboy.revp.80.domain": "a.example.com"}
	bound := func(hostPort string) network.PortMap {
		return network.PortMap{network.MustParsePort("80/tcp"): {{HostPort: hostPort}}}
	}
	for _, tc := range []struct {
		name     string
		c        *hostpool.Container
		hostPort string
		errors   string // revp_label_errors lines
	}{
		{name: "exited, fixed binding", c: inspected("c", container.StateExited, nil, bound("8000"), labels), hostPort: "8000"},
		{name: "exited, empty live ports", c: inspected("c", container.StateExited, network.PortMap{}, bound("8000"), labels), hostPort: "8000"},
		{name: "exited, random host port", c: inspected("c", container.StateExited, nil, bound(""), labels), hostPort: ""},
		{name: "created, random host port (0)", c: inspected("c", container.StateCreated, nil, bound("0"), labels), hostPort: ""},
		{name: "exited, no binding", c: inspected("c", container.StateExited, nil, nil, labels), hostPort: "",
			errors: `revp_label_errors{container="c",host="h",reason="port_not_published"} 1`},
		{name: "running uses live ports only", c: inspected("c", container.StateRunning, nil, bound("8000"), labels), hostPort: "",
			errors: `revp_label_errors{container="c",host="h",reason="port_not_published"} 1`},
		{name: "running, live port", c: inspected("c", container.StateRunning, bound("9000"), bound(""), labels), hostPort: "9000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			views := []*hostView{{host: revpHost("h", ""), up: true, snap: hostpool.Snapshot{Synced: true, Containers: []*hostpool.Container{tc.c}}}}
			want := `
# HELP revp_route_info A RevP route, one series per domain: where it sends traffic and how; always 1.
# TYPE revp_route_info gauge
revp_route_info{backend_path="/",backend_scheme="http",cloudflare_tunnel="false",container="c",domain="a.example.com",grammar="port",host="h",host_port="` + tc.hostPort + `",https="true",port="80",redirect="true",websocket="false"} 1
`
			if tc.errors != "" {
				want = `
# HELP revp_label_errors Problems with a container's RevP labels, by reason; absent when there are none.
# TYPE revp_label_errors gauge
` + tc.errors + want
			}
			if err := testutil.CollectAndCompare(collectRevP(newRevPConcern(Options{}), views), strings.NewReader(want),
				"revp_route_info", "revp_label_errors"); err != nil {
				t.Error(err)
			}
		})
	}
}

// Label sets that used to make two series with the same labels, which
// fails the whole scrape. Gather must succeed, with the first one winning.
func TestRevPDuplicateSeries(t *testing.T) {
	const pre = "snadboy.revp."
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	_, srvPort, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	info := func(domain, redirect, grammar string) string {
		return `revp_route_info{backend_path="/",backend_scheme="http",cloudflare_tunnel="false",container="c",domain="` + domain +
			`",grammar="` + grammar + `",host="h",host_port="` + srvPort + `",https="true",port="80",redirect="` + redirect + `",websocket="false"} 1` + "\n"
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		probe  bool
		want   string // the families below, without HELP and TYPE
	}{
		{name: "same domain after lower-casing",
			labels: map[string]string{pre + "80.domain": "a.example.com,A.example.com"},
			want: "revp_domain_claims{domain=\"a.example.com\"} 1\n" + info("a.example.com", "true", "port") +
				"revp_route_up{container=\"c\",domain=\"a.example.com\",host=\"h\",port=\"80\"} 1\n"},
		{name: "same domain, redirect and noredirect",
			labels: map[string]string{pre + "80.domain": "a.example.com:redirect,a.example.com:noredirect"},
			want: "revp_domain_claims{domain=\"a.example.com\"} 1\n" + info("a.example.com", "true", "port") +
				"revp_route_up{container=\"c\",domain=\"a.example.com\",host=\"h\",port=\"80\"} 1\n"},
		{name: "flat and port-indexed on one port, same domain",
			labels: map[string]string{pre + "domain": "a.example.com", pre + "80.domain": "a.example.com"},
			want: "revp_domain_claims{domain=\"a.example.com\"} 1\n" + info("a.example.com", "true", "port") +
				"revp_route_up{container=\"c\",domain=\"a.example.com\",host=\"h\",port=\"80\"} 1\n"},
		{name: "flat and port-indexed on one port, different domains",
			labels: map[string]string{pre + "domain": "b.example.com", pre + "80.domain": "a.example.com"},
			want: "revp_domain_claims{domain=\"a.example.com\"} 1\nrevp_domain_claims{domain=\"b.example.com\"} 1\n" +
				info("a.example.com", "true", "port") + info("b.example.com", "true", "flat") +
				"revp_route_up{container=\"c\",domain=\"a.example.com\",host=\"h\",port=\"80\"} 1\n" +
				"revp_route_up{container=\"c\",domain=\"b.example.com\",host=\"h\",port=\"80\"} 1\n"},
		{name: "flat and port-indexed on one port, each with a health path", probe: true,
			labels: map[string]string{pre + "domain": "b.example.com", pre + "health-check.path": "/flat",
				pre + "80.domain": "a.example.com", pre + "80.health": "/port"},
			want: "revp_domain_claims{domain=\"a.example.com\"} 1\nrevp_domain_claims{domain=\"b.example.com\"} 1\n" +
				info("a.example.com", "true", "port") + info("b.example.com", "true", "flat") +
				"revp_route_probe_success{container=\"c\",host=\"h\",port=\"80\"} 1\n" +
				"revp_route_up{container=\"c\",domain=\"a.example.com\",host=\"h\",port=\"80\"} 1\n" +
				"revp_route_up{container=\"c\",domain=\"b.example.com\",host=\"h\",port=\"80\"} 1\n"},
		{name: "two ports of one container claim a domain twice",
			labels: map[string]string{pre + "80.domain": "a.example.com", pre + "8080.domain": "a.example.com"},
			want: "revp_domain_claims{domain=\"a.example.com\"} 2\n" + info("a.example.com", "true", "port") +
				strings.Replace(info("a.example.com", "true", "port"), `port="80"`, `port="8080"`, 1) +
				"revp_route_up{container=\"c\",domain=\"a.example.com\",host=\"h\",port=\"80\"} 1\n" +
				"revp_route_up{container=\"c\",domain=\"a.example.com\",host=\"h\",port=\"8080\"} 1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &hostpool.Container{Name: "c", State: "running", Labels: tc.labels,
				Published: map[string][]string{"80/tcp": {srvPort}, "8080/tcp": {srvPort}}}
			views := []*hostView{{host: revpHost("h", "127.0.0.1"), up: true,
				snap: hostpool.Snapshot{Synced: true, Containers: []*hostpool.Container{c}}}}
			rc := newRevPConcern(Options{RevPProbe: tc.probe, RevPProbeTimeout: 2 * time.Second})
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(collectRevP(rc, views))
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatalf("Gather: %v", err)
			}
			var got strings.Builder
			for _, mf := range mfs {
				switch mf.GetName() {
				case "revp_domain_claims", "revp_route_info", "revp_route_up", "revp_route_probe_success":
				default:
					continue
				}
				for _, m := range mf.GetMetric() {
					var labels []string
					for _, lp := range m.GetLabel() {
						labels = append(labels, lp.GetName()+"=\""+lp.GetValue()+"\"")
					}
					fmt.Fprintf(&got, "%s{%s} %g\n", mf.GetName(), strings.Join(labels, ","), m.GetGauge().GetValue())
				}
			}
			if got.String() != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got.String(), tc.want)
			}
		})
	}
}

// With --revp.probe, a route is up only when its health path answers.
func TestRevPProbe(t *testing.T) {
	for _, tc := range []struct {
		status int
		up     float64
	}{{200, 1}, {302, 1}, {401, 1}, {403, 1}, {404, 0}, {500, 0}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/healthz" {
				w.WriteHeader(http.StatusTeapot)
				return
			}
			w.WriteHeader(tc.status)
		}))
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
		rc := newRevPConcern(Options{RevPProbe: true, RevPProbeTimeout: 2 * time.Second})
		views := revpViews(map[string][]string{"80/tcp": {port}}, "127.0.0.1")
		c := collectRevP(rc, views)
		want := `
# HELP revp_route_probe_success 1 if GET of the route's health path answered below 400, or 401 or 403 (with --revp.probe, routes with a health path).
# TYPE revp_route_probe_success gauge
revp_route_probe_success{container="web",host="h1",port="80"} ` + ftoa(tc.up) + `
# HELP revp_route_up 1 if the route's container runs and Docker publishes its port (and, with --revp.probe, the health probe passed).
# TYPE revp_route_up gauge
revp_route_up{container="web",domain="shop.example.com",host="h1",port="80"} ` + ftoa(tc.up) + `
revp_route_up{container="web",domain="www.shop.example.com",host="h1",port="80"} ` + ftoa(tc.up) + `
revp_route_up{container="web",domain="admin.example.com",host="h1",port="9000"} 0
revp_route_up{container="old-web",domain="shop.example.com",host="h1",port="80"} 0
revp_route_up{container="api",domain="api.example.com",host="h2",port="8080"} 1
revp_route_up{container="api",domain="api2.example.com",host="h2",port="80"} 0
`
		if err := testutil.CollectAndCompare(c, strings.NewReader(want), "revp_route_probe_success", "revp_route_up"); err != nil {
			t.Errorf("status %d: %v", tc.status, err)
		}
		srv.Close()
	}
}

// A backend with backend-proto https and a self-signed certificate (what
// homelab backends have) is probed over TLS without verification.
func TestRevPProbeHTTPSSelfSigned(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "https://"))
	c := &hostpool.Container{Name: "tls", State: "running", Published: map[string][]string{"443/tcp": {port}}, Labels: map[string]string{
		"snadboy.revp.443.domain":        "secure.example.com",
		"snadboy.revp.443.backend-proto": "https",
		"snadboy.revp.443.health":        "/healthz",
	}}
	views := []*hostView{{host: revpHost("h", "127.0.0.1"), up: true,
		snap: hostpool.Snapshot{Synced: true, Containers: []*hostpool.Container{c}}}}
	rc := newRevPConcern(Options{RevPProbe: true, RevPProbeTimeout: 2 * time.Second})
	want := `
# HELP revp_route_probe_success 1 if GET of the route's health path answered below 400, or 401 or 403 (with --revp.probe, routes with a health path).
# TYPE revp_route_probe_success gauge
revp_route_probe_success{container="tls",host="h",port="443"} 1
`
	if err := testutil.CollectAndCompare(collectRevP(rc, views), strings.NewReader(want), "revp_route_probe_success"); err != nil {
		t.Error(err)
	}
}

// A backend that accepts and never answers fails its probe when the
// scrape's deadline ends, without holding the scrape.
func TestRevPProbeHangs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	rc := newRevPConcern(Options{RevPProbe: true, RevPProbeTimeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	views := revpViews(map[string][]string{"80/tcp": {port}}, "127.0.0.1")
	c := collectorFunc(func(ch chan<- prometheus.Metric) { _ = rc.update(ctx, views, ch) })
	want := `
# HELP revp_route_probe_success 1 if GET of the route's health path answered below 400, or 401 or 403 (with --revp.probe, routes with a health path).
# TYPE revp_route_probe_success gauge
revp_route_probe_success{container="web",host="h1",port="80"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "revp_route_probe_success"); err != nil {
		t.Error(err)
	}
}

func ftoa(f float64) string {
	if f == 1 {
		return "1"
	}
	return "0"
}

// backendServer answers 200 on addr and records each connection it accepts
// and each request's URI, to show where probes went and where they did not.
type backendServer struct {
	srv   *httptest.Server
	port  string
	mu    sync.Mutex
	conns int
	uris  []string
}

func startBackend(t *testing.T, addr string) *backendServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	b := &backendServer{}
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.uris = append(b.uris, r.RequestURI)
		b.mu.Unlock()
	}))
	b.srv.Listener.Close()
	b.srv.Listener = ln
	b.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.mu.Lock()
			b.conns++
			b.mu.Unlock()
		}
	}
	b.srv.Start()
	t.Cleanup(b.srv.Close)
	_, b.port, _ = net.SplitHostPort(ln.Addr().String())
	return b
}

func (b *backendServer) seen() (int, []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conns, slices.Clone(b.uris)
}

// gatherRevP collects one scrape and returns the series of the named
// families as sorted text lines, without HELP and TYPE.
func gatherRevP(t *testing.T, rc *revpConcern, views []*hostView, families ...string) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectRevP(rc, views))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var lines []string
	for _, mf := range mfs {
		if !slices.Contains(families, mf.GetName()) {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, lp.GetName()+"=\""+lp.GetValue()+"\"")
			}
			lines = append(lines, fmt.Sprintf("%s{%s} %g", mf.GetName(), strings.Join(labels, ","), m.GetGauge().GetValue()))
		}
	}
	return strings.Join(lines, "\n")
}

// A flat backend-host is where the probe goes only if the operator allows
// it; otherwise the route is a backend_host_not_allowed problem and is not
// probed at all, not even at the Docker host's own address, which is not
// where the proxy sends its traffic.
func TestRevPProbeOnlyAllowedBackendHosts(t *testing.T) {
	own := startBackend(t, "127.0.0.1:0")
	other := startBackend(t, "127.0.0.2:"+own.port)
	c := &hostpool.Container{Name: "c", State: "running", Published: map[string][]string{"80/tcp": {own.port}}, Labels: map[string]string{
		"snadboy.revp.domain":            "a.example.com",
		"snadboy.revp.backend-host":      "127.0.0.2",
		"snadboy.revp.health-check.path": "/healthz",
	}}
	views := []*hostView{{host: revpHost("h", "127.0.0.1"), up: true, snap: hostpool.Snapshot{Synced: true, Containers: []*hostpool.Container{c}}}}
	families := []string{"revp_label_errors", "revp_route_probe_success", "revp_route_up"}

	rc := newRevPConcern(Options{RevPProbe: true, RevPProbeTimeout: 2 * time.Second, RevPAllowedBackendHosts: []string{"192.0.2.1"}})
	want := `revp_label_errors{container="c",host="h",reason="backend_host_not_allowed"} 1
revp_route_up{container="c",domain="a.example.com",host="h",port="80"} 1`
	if got := gatherRevP(t, rc, views, families...); got != want {
		t.Errorf("not allowed:\n%s\nwant:\n%s", got, want)
	}
	if n, uris := other.seen(); n != 0 {
		t.Errorf("127.0.0.2, which the label named, got %d connections: %q", n, uris)
	}
	if n, uris := own.seen(); n != 0 {
		t.Errorf("the Docker host's own address got %d connections: %q", n, uris)
	}

	rc = newRevPConcern(Options{RevPProbe: true, RevPProbeTimeout: 2 * time.Second, RevPAllowedBackendHosts: []string{"192.0.2.1", "127.0.0.2"}})
	want = `revp_route_probe_success{container="c",host="h",port="80"} 1
revp_route_up{container="c",domain="a.example.com",host="h",port="80"} 1`
	if got := gatherRevP(t, rc, views, families...); got != want {
		t.Errorf("allowed:\n%s\nwant:\n%s", got, want)
	}
	if _, uris := other.seen(); !slices.Equal(uris, []string{"/healthz"}) {
		t.Errorf("the allowed backend host got %q, want one /healthz", uris)
	}
	if n, _ := own.seen(); n != 0 {
		t.Errorf("the Docker host's own address got %d connections", n)
	}
}

// A port published over UDP only is no backend: nothing is probed over TCP
// on that port number, where some other service may listen.
func TestRevPProbeUDPOnly(t *testing.T) {
	tcp := startBackend(t, "127.0.0.1:0")
	c := &hostpool.Container{Name: "dns", State: "running", Published: map[string][]string{"80/udp": {tcp.port}}, Labels: map[string]string{
		"snadboy.revp.80.domain": "a.example.com",
		"snadboy.revp.80.health": "/healthz",
	}}
	views := []*hostView{{host: revpHost("h", "127.0.0.1"), up: true, snap: hostpool.Snapshot{Synced: true, Containers: []*hostpool.Container{c}}}}
	rc := newRevPConcern(Options{RevPProbe: true, RevPProbeTimeout: 2 * time.Second})
	want := `revp_label_errors{container="dns",host="h",reason="port_not_published"} 1
revp_route_info{backend_path="/",backend_scheme="http",cloudflare_tunnel="false",container="dns",domain="a.example.com",grammar="port",host="h",host_port="",https="true",port="80",redirect="true",websocket="false"} 1
revp_route_up{container="dns",domain="a.example.com",host="h",port="80"} 0`
	if got := gatherRevP(t, rc, views, "revp_label_errors", "revp_route_info", "revp_route_probe_success", "revp_route_up"); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if n, uris := tcp.seen(); n != 0 {
		t.Errorf("the TCP port of the UDP port's number got %d connections: %q", n, uris)
	}
}

// The health path from a label picks the path and query of the probe, never
// its scheme, host or port.
func TestRevPProbeHealthPath(t *testing.T) {
	own := startBackend(t, "127.0.0.1:0")
	evil := startBackend(t, "127.0.0.2:0")
	for _, tc := range []struct {
		health string
		uri    string // what the backend sees; "" for no probe and a bad_health_path
	}{
		{health: "/healthz?deep=1", uri: "/healthz?deep=1"},
		{health: "healthz", uri: "/healthz"},
		{health: "@127.0.0.2/x", uri: "/@127.0.0.2/x"},
		{health: "@127.0.0.2:" + evil.port + "/x"}, // a colon in the first segment reads as a scheme
		{health: "//127.0.0.2:" + evil.port + "/x"},
		{health: "http://127.0.0.2:" + evil.port + "/x"},
		{health: "127.0.0.2:" + evil.port + "/x"},
	} {
		t.Run(tc.health, func(t *testing.T) {
			c := &hostpool.Container{Name: "c", State: "running", Published: map[string][]string{"80/tcp": {own.port}}, Labels: map[string]string{
				"snadboy.revp.80.domain": "a.example.com",
				"snadboy.revp.80.health": tc.health,
			}}
			views := []*hostView{{host: revpHost("h", "127.0.0.1"), up: true, snap: hostpool.Snapshot{Synced: true, Containers: []*hostpool.Container{c}}}}
			_, before := own.seen()
			got := gatherRevP(t, newRevPConcern(Options{RevPProbe: true, RevPProbeTimeout: 2 * time.Second}), views,
				"revp_label_errors", "revp_route_probe_success")
			want := `revp_label_errors{container="c",host="h",reason="bad_health_path"} 1`
			if tc.uri != "" {
				want = `revp_route_probe_success{container="c",host="h",port="80"} 1`
			}
			if got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
			_, after := own.seen()
			var wantURIs []string
			if tc.uri != "" {
				wantURIs = []string{tc.uri}
			}
			if sent := after[len(before):]; !slices.Equal(sent, wantURIs) {
				t.Errorf("the backend got %q, want %q", sent, wantURIs)
			}
			if n, uris := evil.seen(); n != 0 {
				t.Errorf("127.0.0.2 got %d connections: %q", n, uris)
			}
		})
	}
}
