package integration

import (
	"strings"
	"testing"

	"github.com/snadboy/docker-monitor/collector"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// TestRevPRoutes runs containers that carry RevP labels and publish ports on
// loopback, with probing on.
func TestRevPRoutes(t *testing.T) {
	d := testlab.Shared(t)
	exp := startExporter(t, []hostpool.Spec{{Name: "rv", Endpoint: d.Host}}, hostpool.DefaultOptions,
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
	m = exp.scrape(t)
	expect(t, m, "revp_domain_claims", lbl("domain", "shop.test"), 2)

	// Stopping the routed container takes its route down at the next scrape.
	d.Docker(t, "stop", "rv-web")
	m = exp.scrape(t)
	expect(t, m, "revp_route_up", route("rv-web", "shop.test"), 0)
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
