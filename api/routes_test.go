package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/snadboy/docker-monitor/collector"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/revp"
)

func TestRoutesOptions(t *testing.T) {
	opts := DefaultOptions
	opts.AllowedBackendHosts = []string{"NAS.example.com"}
	a, _, _ := restFake(t, hostpool.DefaultOptions, opts)
	var c Container
	restGetJSON(t, a, "/containers/deco/healthy", 200, &c)
	if len(c.Routes) != 1 || c.Routes[0].BackendAddress != "nas.example.com" || c.Routes[0].Backend != "http://nas.example.com:18080/" ||
		len(c.Problems) != 0 || len(c.Routes[0].Problems) != 0 {
		t.Errorf("an allowed backend host: %+v", c)
	}

	opts.RevPPrefix = "other.revp"
	a, _, _ = restFake(t, hostpool.DefaultOptions, opts)
	var routes RouteList
	restGetJSON(t, a, "/routes", 200, &routes)
	if len(routes.Routes) != 0 {
		t.Errorf("another label prefix: %+v", routes)
	}
}

func TestBackendURL(t *testing.T) {
	for _, tc := range []struct {
		addr, port, scheme, path, want string
	}{
		{"127.0.0.1", "8000", "http", "/", "http://127.0.0.1:8000/"},
		{"::1", "8000", "https", "/app", "https://[::1]:8000/app"},
		{"nas", "1", "http", "app", "http://nas:1/app"},
		{"nas", "", "http", "/", ""},
	} {
		r := &revp.TableRoute{Route: revp.Route{BackendProto: tc.scheme, BackendPath: tc.path}, Backend: revp.Backend{Address: tc.addr, HostPort: tc.port}}
		if got := backendURL(r); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc, got, tc.want)
		}
	}
}

// TestRoutesAgreeWithMetrics: /routes and revp_route_info come from one
// table, built the same way; they list the same routes, domains and host
// ports.
func TestRoutesAgreeWithMetrics(t *testing.T) {
	a, _, _ := restFake(t, hostpool.DefaultOptions, DefaultOptions)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	exp, err := collector.New(a.pool, hostpool.NewMetrics(nil), collector.Options{}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(exp.Collector(ctx))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var fromMetrics []string
	for _, mf := range mfs {
		if mf.GetName() != "revp_route_info" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			fromMetrics = append(fromMetrics, fmt.Sprintf("%s/%s:%s %s -> %s", l["host"], l["container"], l["port"], l["domain"], l["host_port"]))
		}
	}
	var routes RouteList
	restGetJSON(t, a, "/routes", 200, &routes)
	var fromAPI []string
	for _, r := range routes.Routes {
		for _, d := range r.Domains {
			fromAPI = append(fromAPI, fmt.Sprintf("%s/%s:%s %s -> %s", r.Host, r.Container, strconv.Itoa(r.Port), d.Name, r.HostPort))
		}
	}
	sort.Strings(fromMetrics)
	sort.Strings(fromAPI)
	if fmt.Sprint(fromAPI) != fmt.Sprint(fromMetrics) || len(fromAPI) == 0 {
		t.Errorf("routes:\napi     %q\nmetrics %q", fromAPI, fromMetrics)
	}
}
