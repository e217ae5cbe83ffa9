package integration

import (
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/collector"
	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// TestRevPRoutes runs containers that carry RevP labels and publish ports on
// loopback, with probing on.
func TestRevPRoutes(t *testing.T) {
	d := testlab.Shared(t)
	exp := startExporter(t, []config.Host{testlab.Host(t, "rv", d.Host)}, hostpool.DefaultOptions,
		collector.Options{RevPProbe: true})
	pub := []string{"-p", "127.0.0.1::80"}
	label := func(kv ...string) []string {
		var args []string
		for i := 0; i < len(kv); i += 2 {
			args = append(args, "--label", "snadboy.revp."+kv[i]+"="+kv[i+1])
		}
		return args
	}
	d.Run(t, "rv-web", append(pub, label("80.domain", "shop.test", "80.health", "/healthz", "80.support-websocket", "TRUE")...), "serve", "80")
	d.Run(t, "rv-failing", append(pub, label("80.domain", "status.test", "80.health", "/fail")...), "serve", "80")
	d.Run(t, "rv-unpublished", label("9090.domain", "metrics.test"), "serve", "9090")
	d.Run(t, "rv-bad", append(pub, label("80.domain", "ok.test,bad_name.test", "80.https", "maybe", "80.colour", "blue")...), "serve", "80")
	hostPort := strings.Split(d.Docker(t, "port", "rv-web", "80/tcp"), ":")[1]
	route := func(name, domain string) map[string]string {
		return lbl("host", "rv", "container", name, "port", "80", "domain", domain)
	}

	m := exp.scrape(t)
	info := m.labels("revp_route_info", route("rv-web", "shop.test"))
	for k, v := range map[string]string{"host_port": hostPort, "backend_scheme": "http", "backend_path": "/",
		"https": "true", "redirect": "true", "websocket": "true", "cloudflare_tunnel": "false", "grammar": "port"} {
		if info[k] != v {
			t.Errorf("revp_route_info %s = %q, want %q (all: %v)", k, info[k], v, info)
		}
	}
	expect(t, m, "revp_route_up", route("rv-web", "shop.test"), 1)
	expect(t, m, "revp_route_probe_success", lbl("host", "rv", "container", "rv-web", "port", "80"), 1)
	expect(t, m, "revp_route_probe_success", lbl("host", "rv", "container", "rv-failing", "port", "80"), 0)
	expect(t, m, "revp_route_up", route("rv-failing", "status.test"), 0)
	expect(t, m, "revp_route_up", lbl("host", "rv", "container", "rv-unpublished", "port", "9090", "domain", "metrics.test"), 0)
	expect(t, m, "revp_label_errors", lbl("host", "rv", "container", "rv-unpublished", "reason", "port_not_published"), 1)
	for _, reason := range []string{"bad_boolean", "bad_domain", "unknown_property"} {
		expect(t, m, "revp_label_errors", lbl("host", "rv", "container", "rv-bad", "reason", reason), 1)
	}
	expect(t, m, "revp_route_up", route("rv-bad", "ok.test"), 1)
	expect(t, m, "revp_domain_claims", lbl("domain", "shop.test"), 1)
	if v, _ := m.get("revp_routes", lbl("host", "rv")); v < 4 {
		t.Errorf("revp_routes = %v, want >= 4", v)
	}

	// A second running container claiming the domain is a conflict.
	d.Run(t, "rv-web-copy", append(pub, label("80.domain", "shop.test")...), "serve", "80")
	scrapeUntil(t, exp, "2 claims of shop.test", func(m metrics) bool {
		return m.matches("revp_domain_claims", lbl("domain", "shop.test"), 2)
	})

	// Stopping the routed container takes its route down (usually at the
	// next scrape: see TestContainerLifecycle).
	d.Docker(t, "stop", "rv-web")
	m = scrapeUntil(t, exp, "rv-web's route down", func(m metrics) bool {
		return m.matches("revp_route_up", route("rv-web", "shop.test"), 0)
	})
	expect(t, m, "revp_domain_claims", lbl("domain", "shop.test"), 1)
	// Docker empties a stopped container's live ports; its binding (to a
	// random host port, picked at the next start) still counts as published.
	if n := m.count("revp_label_errors", lbl("host", "rv", "container", "rv-web", "reason", "port_not_published")); n != 0 {
		t.Errorf("stopped rv-web reported port_not_published")
	}
	if n := m.count("revp_route_info", route("rv-web", "shop.test")); n != 1 {
		t.Errorf("stopped rv-web: %d revp_route_info series, want 1", n)
	} else if hp := m.labels("revp_route_info", route("rv-web", "shop.test"))["host_port"]; hp != "" {
		t.Errorf("stopped rv-web: host_port %q, want empty (random port, unknown until it starts)", hp)
	}
}

// probeTarget is an HTTP server on addr that counts the connections it
// accepts: where a probe must not go, or, once allowed, must.
type probeTarget struct {
	port     string
	mu       sync.Mutex
	accepted int
	uris     []string
}

func listenProbeTarget(t *testing.T, addr string) *probeTarget {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	p := &probeTarget{}
	_, p.port, _ = net.SplitHostPort(ln.Addr().String())
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.mu.Lock()
			p.uris = append(p.uris, r.RequestURI)
			p.mu.Unlock()
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				p.mu.Lock()
				p.accepted++
				p.mu.Unlock()
			}
		},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

func (p *probeTarget) seen() (int, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted, slices.Clone(p.uris)
}

// TestRevPProbeBackendHostNotAllowed: whoever starts a container must not
// choose where the exporter connects. A flat backend-host naming another
// address (127.0.0.2, where a listener waits on the container's host port)
// is a label problem, and with --revp.probe nothing connects there; once
// the operator allows that host, the probe goes there.
func TestRevPProbeBackendHostNotAllowed(t *testing.T) {
	d := testlab.Shared(t)
	d.Run(t, "rv-other-host", []string{"-p", "127.0.0.1::80",
		"--label", "snadboy.revp.domain=other-host.test",
		"--label", "snadboy.revp.backend-host=127.0.0.2",
		"--label", "snadboy.revp.health-check.path=/healthz"}, "serve", "80")
	hostPort := strings.Split(d.Docker(t, "port", "rv-other-host", "80/tcp"), ":")[1]
	target := listenProbeTarget(t, "127.0.0.2:"+hostPort)
	route := lbl("host", "rvh", "container", "rv-other-host", "port", "80")

	exp := startExporter(t, []config.Host{testlab.Host(t, "rvh", d.Host)}, hostpool.DefaultOptions,
		collector.Options{RevPProbe: true})
	m := exp.scrape(t)
	expect(t, m, "revp_label_errors", lbl("host", "rvh", "container", "rv-other-host", "reason", "backend_host_not_allowed"), 1)
	if info := m.labels("revp_route_info", route); info["host_port"] != hostPort || info["grammar"] != "flat" {
		t.Errorf("revp_route_info %v, want the route on host port %s", info, hostPort)
	}
	if n := m.count("revp_route_probe_success", route); n != 0 {
		t.Errorf("%d revp_route_probe_success series for a route that must not be probed", n)
	}
	if n, uris := target.seen(); n != 0 {
		t.Fatalf("127.0.0.2:%s, named by the label, accepted %d connections (%q)", hostPort, n, uris)
	}

	// The same listener sees the probe once the operator allows the host:
	// the check above could have failed.
	allowed := startExporter(t, []config.Host{testlab.Host(t, "rvh", d.Host)}, hostpool.DefaultOptions,
		collector.Options{RevPProbe: true, RevPAllowedBackendHosts: []string{"127.0.0.2"}})
	m = allowed.scrape(t)
	expect(t, m, "revp_route_probe_success", route, 1)
	if n := m.count("revp_label_errors", lbl("host", "rvh", "container", "rv-other-host")); n != 0 {
		t.Errorf("%d revp_label_errors series for an allowed backend host", n)
	}
	if _, uris := target.seen(); !slices.Equal(uris, []string{"/healthz"}) {
		t.Errorf("allowed backend host got %q, want one /healthz", uris)
	}
}

// TestRevPProbeUDPOnly: a port published over UDP only is not a backend. A
// TCP listener on the same host port number, which may be any other
// service, must see no probe.
func TestRevPProbeUDPOnly(t *testing.T) {
	d := testlab.Shared(t)
	target := listenProbeTarget(t, "127.0.0.1:0")
	d.Run(t, "rv-udp-only", []string{"-p", "127.0.0.1:" + target.port + ":9999/udp",
		"--label", "snadboy.revp.9999.domain=udp-only.test",
		"--label", "snadboy.revp.9999.health=/healthz"}, "serve", "9999")
	if out := d.Docker(t, "port", "rv-udp-only", "9999/udp"); out != "127.0.0.1:"+target.port {
		t.Fatalf("docker port: %q, want 127.0.0.1:%s", out, target.port)
	}
	route := lbl("host", "rvu", "container", "rv-udp-only", "port", "9999")

	exp := startExporter(t, []config.Host{testlab.Host(t, "rvu", d.Host)}, hostpool.DefaultOptions,
		collector.Options{RevPProbe: true})
	m := exp.scrape(t)
	expect(t, m, "revp_label_errors", lbl("host", "rvu", "container", "rv-udp-only", "reason", "port_not_published"), 1)
	if info := m.labels("revp_route_info", route); info == nil || info["host_port"] != "" {
		t.Errorf("revp_route_info %v, want one series with host_port empty", info)
	}
	expect(t, m, "revp_route_up", route, 0)
	if n := m.count("revp_route_probe_success", route); n != 0 {
		t.Errorf("%d revp_route_probe_success series for a UDP-only port", n)
	}
	if n, uris := target.seen(); n != 0 {
		t.Errorf("TCP 127.0.0.1:%s accepted %d connections (%q) for a port published over UDP", target.port, n, uris)
	}
}
