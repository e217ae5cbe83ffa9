package collector

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/snadboy/docker-monitor/hostpool"
)

// revpViews builds two hosts whose containers carry RevP labels, with the
// given published ports, as the cache would hold them.
func revpViews(published map[string][]string, backend string) []*hostView {
	web := &hostpool.Container{Name: "web", State: "running", Published: published, Labels: map[string]string{
		"snadboy.revp.80.domain":   "shop.example.com,www.shop.example.com:noredirect",
		"snadboy.revp.80.health":   "/healthz",
		"snadboy.revp.80.https":    "maybe",
		"snadboy.revp.9000.domain": "admin.example.com",
	}}
	stopped := &hostpool.Container{Name: "old-web", State: "exited", Published: published, Labels: map[string]string{
		"snadboy.revp.80.domain": "shop.example.com",
	}}
	other := &hostpool.Container{Name: "api", State: "running", Published: map[string][]string{"8080/tcp": {"18080"}}, Labels: map[string]string{
		"snadboy.revp.domain":         "api.example.com",
		"snadboy.revp.container-port": "8080",
		"snadboy.revp.80.domain":      "api2.example.com",
	}}
	return []*hostView{
		{host: &hostpool.Host{Name: "h1", BackendHost: backend}, up: true, snap: hostpool.Snapshot{Synced: true, Containers: []*hostpool.Container{stopped, web}}},
		{host: &hostpool.Host{Name: "h2", BackendHost: backend}, up: true, snap: hostpool.Snapshot{Synced: true, Containers: []*hostpool.Container{other}}},
		{host: &hostpool.Host{Name: "down", BackendHost: backend}, up: false, snap: hostpool.Snapshot{Synced: true, Containers: []*hostpool.Container{web}}},
	}
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
