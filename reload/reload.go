// Package reload re-reads the hosts to watch and applies them to the running
// pool: on SIGHUP, and on POST /-/reload where the lifecycle API is enabled.
package reload

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
)

// Reloader applies a changed hosts file to the running pool. A file that
// does not load leaves the running hosts as they are; a host in it that
// cannot be set up (a certificate that does not parse) is down with a
// reason, like a daemon that is away, and does not fail the reload.
type Reloader struct {
	mu      sync.Mutex // one reload at a time: SIGHUP and POST may race
	load    func() ([]config.Host, error)
	pool    *hostpool.Pool
	log     *slog.Logger
	success prometheus.Gauge
	when    prometheus.Gauge
}

// New returns a Reloader of pool, which load's hosts are running in now.
func New(load func() ([]config.Host, error), pool *hostpool.Pool, reg prometheus.Registerer, log *slog.Logger) *Reloader {
	r := &Reloader{load: load, pool: pool, log: log,
		success: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "docker_monitor_config_last_reload_successful",
			Help: "1 if the last load of the hosts file succeeded (the running hosts are from it), 0 if it failed (the previous hosts keep running).",
		}),
		when: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "docker_monitor_config_last_reload_success_timestamp_seconds",
			Help: "When the hosts file was last loaded successfully, in seconds since the Unix epoch.",
		}),
	}
	reg.MustRegister(r.success, r.when)
	r.success.Set(1)
	r.when.SetToCurrentTime()
	return r
}

// Reload loads the hosts and applies them. The error is logged here, once.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	hosts, err := r.load()
	if err == nil {
		err = r.pool.Apply(hosts)
	}
	if err != nil {
		r.success.Set(0)
		r.log.Error("reload failed; keeping the running hosts", "err", err)
		return err
	}
	r.success.Set(1)
	r.when.SetToCurrentTime()
	r.log.Info("reloaded hosts", "hosts", len(r.pool.Hosts()))
	return nil
}

// Handler serves POST (or PUT) /-/reload. As in Prometheus, it answers 403
// unless enabled (--web.enable-lifecycle): whoever can reach the listener
// could otherwise make the exporter re-read files and dial hosts at will.
// SIGHUP works either way.
func (r *Reloader) Handler(enabled bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !enabled {
			http.Error(w, "Lifecycle API is not enabled: start with --web.enable-lifecycle, or send SIGHUP", http.StatusForbidden)
			return
		}
		if req.Method != http.MethodPost && req.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "reload with POST", http.StatusMethodNotAllowed)
			return
		}
		if err := r.Reload(); err != nil {
			http.Error(w, fmt.Sprintf("reload failed: %v", err), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "Reloaded")
	})
}
