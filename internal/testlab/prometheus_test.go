package testlab_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/internal/testlab"
)

// TestMonitoringServers starts Prometheus and Alertmanager wired together,
// scraping a static exposition whose one series fires a rule at once, and
// checks that the alert reaches a webhook; then that both servers and their
// directories are gone when the (sub)test that started them ends.
func TestMonitoringServers(t *testing.T) {
	testlab.RequirePrometheus(t)
	testlab.RequireAlertmanager(t)
	var pids []int
	var dirs []string
	t.Run("stack", func(t *testing.T) {
		target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, "# TYPE testlab_value gauge\ntestlab_value 1\n")
		}))
		t.Cleanup(target.Close)
		hook := newHookRecorder(t)
		am := testlab.StartAlertmanager(t, `route: {receiver: hook, group_wait: 0s, group_interval: 1s, repeat_interval: 1h}
receivers:
  - name: hook
    webhook_configs: [{url: "`+hook.URL+`", send_resolved: true}]
`)
		rules := "groups:\n  - name: lab\n    rules:\n      - alert: TestlabValue\n        expr: testlab_value == 1\n        labels: {severity: info}\n"
		p := testlab.StartPrometheus(t, testlab.PrometheusConfig{
			// Not whole seconds: Prometheus refuses Go's "1.5s".
			ScrapeInterval: 1500 * time.Millisecond,
			ScrapeTimeout:  1400 * time.Millisecond,
			Targets:        []string{strings.TrimPrefix(target.URL, "http://")},
			Rules:          []byte(rules),
			Alertmanagers:  []string{am.Addr},
		})
		pids, dirs = []int{p.PID(), am.PID()}, []string{p.Dir, am.Dir}
		deadline := time.Now().Add(60 * time.Second)
		for !hook.seen("TestlabValue") {
			if time.Now().After(deadline) {
				t.Fatalf("no TestlabValue alert at the webhook after 60s")
			}
			time.Sleep(200 * time.Millisecond)
		}
		var res struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
			} `json:"result"`
		}
		if err := p.API("query", url.Values{"query": {`up{job="docker-monitor"} == 1`}}, &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Result) != 1 {
			t.Errorf("up{job=docker-monitor} == 1: %v, want one series", res.Result)
		}
		if err := p.API("query", url.Values{"query": {"sum("}}, nil); err == nil || !strings.Contains(err.Error(), "bad_data") {
			t.Errorf("a bad query: %v, want a bad_data error", err)
		}
	})
	for i, pid := range pids {
		if pid == 0 || alive(pid) {
			t.Errorf("server pid %d still running after its test ended", pid)
		}
		if _, err := os.Stat(dirs[i]); !os.IsNotExist(err) {
			t.Errorf("%s still there after its test ended: %v", dirs[i], err)
		}
	}
}

// hookRecorder is an Alertmanager webhook receiver that remembers the
// names of the alerts it was sent.
type hookRecorder struct {
	URL   string
	mu    sync.Mutex
	names map[string]bool
}

func newHookRecorder(t *testing.T) *hookRecorder {
	h := &hookRecorder{names: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
			} `json:"alerts"`
		}
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		for _, a := range msg.Alerts {
			h.names[a.Labels["alertname"]] = true
		}
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

func (h *hookRecorder) seen(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.names[name]
}
