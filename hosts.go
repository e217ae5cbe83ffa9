package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
)

// loadSpecs reads the hosts to watch: the hosts file when there is one,
// else the --docker.host URIs.
func loadSpecs(c *settings) ([]hostpool.Spec, error) {
	var (
		hosts []config.Host
		err   error
	)
	if c.configFile != "" {
		hosts, err = config.Load(c.configFile)
	} else {
		hosts, err = config.FromURIs(c.dockerHosts, c.tls)
	}
	if err != nil {
		return nil, err
	}
	var specs []hostpool.Spec
	for _, h := range hosts {
		if !h.Enabled {
			continue
		}
		specs = append(specs, specFromHost(h))
	}
	if len(specs) == 0 {
		return nil, errors.New("no enabled hosts to watch")
	}
	return specs, nil
}

// specFromHost turns a validated hosts-file entry into what the pool dials.
func specFromHost(h config.Host) hostpool.Spec {
	s := hostpool.Spec{
		Name:        h.Alias,
		Connection:  h.Connection,
		Endpoint:    h.Endpoint,
		BackendHost: h.BackendHost,
		Labels:      h.Labels,
	}
	switch h.Connection {
	case hostpool.Local:
		s.Address = h.Address
	case hostpool.TCP:
		s.Address = net.JoinHostPort(h.Address, strconv.Itoa(h.Port))
		if h.TCP.TLSVerify || h.TCP.CertPath != "" {
			s.TLS = &hostpool.TLSSpec{CertPath: h.TCP.CertPath, ServerName: h.TCP.ServerName, Verify: h.TCP.TLSVerify}
		}
	case hostpool.SSH:
		s.Address = net.JoinHostPort(h.Address, strconv.Itoa(h.Port))
		s.SSH = hostpool.SSHSpec{
			Addr: s.Address, User: h.User, KeyFile: h.SSH.KeyFile, PassphraseFile: h.SSH.PassphraseFile,
			PasswordFile: h.SSH.PasswordFile, Agent: h.SSH.Agent, KnownHosts: h.SSH.KnownHosts,
			HostKeyPolicy: h.SSH.HostKeyPolicy, Timeout: h.SSH.Timeout, Keepalive: h.SSH.Keepalive,
			RemoteSocket: h.SSH.RemoteSocket, Mode: h.SSH.Mode,
		}
	}
	return s
}

// reloader applies a changed hosts file to the running pool. A file that
// does not load leaves the running hosts as they are.
type reloader struct {
	mu      sync.Mutex
	c       *settings
	pool    *hostpool.Pool
	log     *slog.Logger
	success prometheus.Gauge
	when    prometheus.Gauge
}

func newReloader(c *settings, pool *hostpool.Pool, reg prometheus.Registerer, log *slog.Logger) *reloader {
	r := &reloader{c: c, pool: pool, log: log,
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

func (r *reloader) reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	specs, err := loadSpecs(r.c)
	if err == nil {
		err = r.pool.Apply(specs)
	}
	if err != nil {
		r.success.Set(0)
		r.log.Error("reload failed; keeping the running hosts", "err", err)
		return err
	}
	r.success.Set(1)
	r.when.SetToCurrentTime()
	r.log.Info("reloaded hosts", "hosts", len(specs))
	return nil
}

// ServeHTTP is POST /-/reload.
func (r *reloader) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost && req.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "reload with POST", http.StatusMethodNotAllowed)
		return
	}
	if err := r.reload(); err != nil {
		http.Error(w, fmt.Sprintf("reload failed: %v", err), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "Reloaded")
}
