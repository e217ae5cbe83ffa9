package testlab

import (
	"os"
	"path/filepath"
	"testing"
)

// Alertmanager is an Alertmanager this test started on 127.0.0.1, without
// clustering.
type Alertmanager struct {
	URL  string // http://127.0.0.1:port
	Addr string // 127.0.0.1:port, what Prometheus' alerting config names
	Dir  string // config, storage and log; removed at the end of the test
	*monitorServer
}

// StartAlertmanager starts Alertmanager with the configuration cfgYAML on a
// free loopback port and its own storage, and waits until /-/ready answers
// 200. t.Cleanup stops it (by PID) and removes its directory, after showing
// its log if t failed. Use API("/api/v2/...") for its own API.
func StartAlertmanager(t testing.TB, cfgYAML string) *Alertmanager {
	t.Helper()
	RequireAlertmanager(t)
	s := startMonitorServer(t, "alertmanager", alertmanagerPath, func(dir, addr string) ([]string, error) {
		cfg := filepath.Join(dir, "alertmanager.yml")
		if err := os.WriteFile(cfg, []byte(cfgYAML), 0o644); err != nil {
			return nil, err
		}
		return []string{
			"--config.file=" + cfg,
			"--storage.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr,
			// Empty: no gossip. The default binds 0.0.0.0:9094, which would
			// leave loopback and clash with any other Alertmanager.
			"--cluster.listen-address=",
		}, nil
	})
	return &Alertmanager{URL: "http://" + s.Addr, Addr: s.Addr, Dir: s.Dir, monitorServer: s}
}
