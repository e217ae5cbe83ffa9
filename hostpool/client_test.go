package hostpool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/snadboy/docker-monitor/internal/testlab"
)

func TestEndpoint(t *testing.T) {
	for path, want := range map[string]string{
		"/v1.41/_ping":                  "ping",
		"/_ping":                        "ping",
		"/v1.41/events":                 "events",
		"/v1.41/info":                   "info",
		"/v1.41/version":                "version",
		"/v1.41/containers/json":        "containers_list",
		"/v1.41/containers/abc123/json": "container_inspect",
		"/v1.41/containers/abc/stats":   "container_stats",
		"/v1.41/images/json":            "images_list",
		"/v1.41/containers/abc/logs":    "other",
		"/":                             "other",
	} {
		if got := Endpoint(path); got != want {
			t.Errorf("Endpoint(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestNormalizeAction(t *testing.T) {
	for in, want := range map[string]string{
		"start":                          "start",
		"health_status: healthy":         "health_status",
		"exec_create: /bin/sh -c rm -rf": "exec_create",
		" die ":                          "die",
	} {
		if got := NormalizeAction(in); got != want {
			t.Errorf("NormalizeAction(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReason(t *testing.T) {
	dir := t.TempDir()
	_, noSocket := net.Dial("unix", filepath.Join(dir, "absent.sock"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, refused := net.Dial("tcp", addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{noSocket, "refused"},
		{refused, "refused"},
		{fmt.Errorf("host x: ping: %w", ctx.Err()), "timeout"},
		{fmt.Errorf("stream: %w", io.ErrUnexpectedEOF), "reset"},
		{fmt.Errorf("inspect: %w", cerrdefs.ErrNotFound), "api"},
		{&net.DNSError{Err: "no such host", Name: "nowhere.invalid"}, "unreachable"},
		{os.ErrPermission, "permission"},
		{errors.New("something else"), "other"},
	} {
		if got := Reason(tc.err); got != tc.want {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// The moby client replaces a failed dial with a message naming the socket
// it builds URLs for; errors must name the host's alias and real endpoint,
// and say what happened.
func TestCallErrorNamesHost(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, tc := range []struct {
		uri, reason string
		want        []string
	}{
		{"tcp://" + addr, "refused", []string{"host t (tcp://" + addr + "): ping: ", "connection refused"}},
		{"unix:///nonexistent/docker.sock", "refused", []string{"host t (unix:///nonexistent/docker.sock): ping: ",
			"dial unix /nonexistent/docker.sock: connect: no such file or directory"}},
	} {
		h := newHost(testlab.Host(t, "t", tc.uri), DefaultOptions, NewMetrics(nil), newFeed(0), discardLogger())
		_, err := h.Ping(context.Background())
		if err == nil {
			t.Fatalf("%s: ping succeeded", tc.uri)
		}
		if got := Reason(err); got != tc.reason {
			t.Errorf("%s: reason = %q, want %q (err: %v)", tc.uri, got, tc.reason, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.uri, err, w)
			}
		}
		for _, bad := range []string{"/var/run/docker.sock", "Cannot connect", "%2F"} {
			if strings.Contains(err.Error(), bad) {
				t.Errorf("%s: error %q names %q", tc.uri, err, bad)
			}
		}
		h.close()
	}
}

type blockingRoundTripper struct{ release chan struct{} }

func (b blockingRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	select {
	case <-b.release:
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
}

// Requests queued behind a host that does not answer wait for that host's
// slots, not the pool's, so another host still gets through.
func TestStuckHostLeavesPoolSlots(t *testing.T) {
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "h"}, []string{"host", "endpoint"})
	pool := make(chan struct{}, 2)
	var closed atomic.Bool
	stuck := &timedTransport{base: blockingRoundTripper{make(chan struct{})}, hist: hist, host: "stuck",
		slots: make(chan struct{}, 1), pool: pool, closed: &closed}
	fine := make(chan struct{})
	close(fine)
	other := &timedTransport{base: blockingRoundTripper{fine}, hist: hist, host: "other",
		slots: make(chan struct{}, 1), pool: pool, closed: &closed}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 3 {
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://stuck/v1.41/containers/x/stats", nil)
			_, _ = stuck.RoundTrip(req)
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them queue
	octx, ocancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ocancel()
	req, _ := http.NewRequestWithContext(octx, http.MethodGet, "http://other/v1.41/_ping", nil)
	if _, err := other.RoundTrip(req); err != nil {
		t.Fatalf("other host's request: %v (the stuck host holds the shared pool)", err)
	}
}

func TestCPULimit(t *testing.T) {
	for _, tc := range []struct {
		nano, quota, period int64
		want                float64
	}{
		{0, 0, 0, 0},               // no limit
		{1_500_000_000, 0, 0, 1.5}, // --cpus 1.5
		{0, 50_000, 100_000, 0.5},  // --cpu-quota 50000 --cpu-period 100000
		{0, 25_000, 0, 0.25},       // quota with the kernel's default period
		{0, -1, 100_000, 0},        // -1 is unlimited
	} {
		if got := cpuLimit(tc.nano, tc.quota, tc.period); got != tc.want {
			t.Errorf("cpuLimit(%d, %d, %d) = %v, want %v", tc.nano, tc.quota, tc.period, got, tc.want)
		}
	}
}
