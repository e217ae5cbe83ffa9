package testlab

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// The monitoring stack of an end-to-end test is the real thing: the
// Prometheus and Alertmanager that Debian ships, as users run them. Each
// instance gets a /tmp/dmlab-* directory with an owner file, so that
// sweepStale removes what a dead test process left, and it names that
// directory on its command line (config and storage paths), so that
// killLeftovers finds it by directory, never by process name.

const (
	prometheusPath   = "/usr/bin/prometheus"
	alertmanagerPath = "/usr/bin/prometheus-alertmanager" // Debian's name for alertmanager

	monitorReadyTimeout = 60 * time.Second // the test machines are small and loaded
	monitorStopTimeout  = 20 * time.Second
	monitorLogTail      = 60 // lines of a server's log shown when a test fails
)

// RequirePrometheus skips the test without Prometheus (Debian package
// prometheus) or root, and fails it in CI (CI=true), where that is a broken
// setup, as Require does for dockerd.
func RequirePrometheus(t testing.TB) {
	t.Helper()
	requireMonitorTool(t, prometheusPath, "prometheus")
}

// RequireAlertmanager is RequirePrometheus for Alertmanager (Debian package
// prometheus-alertmanager).
func RequireAlertmanager(t testing.TB) {
	t.Helper()
	requireMonitorTool(t, alertmanagerPath, "prometheus-alertmanager")
}

func requireMonitorTool(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("test needs %s (Debian package %s); install it as root: apt-get install %s", path, pkg, pkg)
	}
	t.Skipf("test needs %s (Debian package %s): apt-get install %s", path, pkg, pkg)
}

// PrometheusConfig configures StartPrometheus. Zero durations take the
// defaults of an end-to-end test: every second, so alerts fire in seconds.
// A scrape of docker-monitor that needs container stats wants a longer
// timeout: Docker 20.10 answers a stats call after about a second.
type PrometheusConfig struct {
	Job                string        // job name of the scrape config; default "docker-monitor"
	Targets            []string      // host:port of each exporter to scrape
	ScrapeInterval     time.Duration // default 1s
	ScrapeTimeout      time.Duration // default 900ms
	EvaluationInterval time.Duration // default 1s
	Rules              []byte        // one rule file's contents; none if empty
	Alertmanagers      []string      // host:port of each Alertmanager to send alerts to
}

// Prometheus is a Prometheus server this test started on 127.0.0.1.
type Prometheus struct {
	URL  string // http://127.0.0.1:port
	Addr string // 127.0.0.1:port
	Dir  string // config, rules, TSDB and log; removed at the end of the test
	*monitorServer
}

// StartPrometheus starts Prometheus with cfg on a free loopback port and
// its own TSDB, and waits until /-/ready answers 200. t.Cleanup stops it (by
// PID) and removes its directory, after showing its log if t failed.
func StartPrometheus(t testing.TB, cfg PrometheusConfig) *Prometheus {
	t.Helper()
	RequirePrometheus(t)
	s := startMonitorServer(t, "prometheus", prometheusPath, func(dir, addr string) ([]string, error) {
		if err := writePrometheusConfig(dir, cfg); err != nil {
			return nil, err
		}
		return []string{
			"--config.file=" + filepath.Join(dir, "prometheus.yml"),
			"--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr,
		}, nil
	})
	return &Prometheus{URL: "http://" + s.Addr, Addr: s.Addr, Dir: s.Dir, monitorServer: s}
}

type promConfig struct {
	Global        promGlobal     `yaml:"global"`
	RuleFiles     []string       `yaml:"rule_files,omitempty"`
	Alerting      *promAlerting  `yaml:"alerting,omitempty"`
	ScrapeConfigs []promScrapeCf `yaml:"scrape_configs"`
}

type promGlobal struct {
	ScrapeInterval     string `yaml:"scrape_interval"`
	ScrapeTimeout      string `yaml:"scrape_timeout"`
	EvaluationInterval string `yaml:"evaluation_interval"`
}

type promAlerting struct {
	Alertmanagers []promStatic `yaml:"alertmanagers"`
}

type promScrapeCf struct {
	JobName       string          `yaml:"job_name"`
	StaticConfigs []promTargetSet `yaml:"static_configs"`
}

type promStatic struct {
	StaticConfigs []promTargetSet `yaml:"static_configs"`
}

type promTargetSet struct {
	Targets []string `yaml:"targets"`
}

func writePrometheusConfig(dir string, cfg PrometheusConfig) error {
	// Prometheus' own format: "1s900ms", where Go would write "1.9s".
	dur := func(d, def time.Duration) string {
		if d <= 0 {
			d = def
		}
		return model.Duration(d).String()
	}
	c := promConfig{
		Global: promGlobal{
			ScrapeInterval:     dur(cfg.ScrapeInterval, time.Second),
			ScrapeTimeout:      dur(cfg.ScrapeTimeout, 900*time.Millisecond),
			EvaluationInterval: dur(cfg.EvaluationInterval, time.Second),
		},
		ScrapeConfigs: []promScrapeCf{{JobName: cfg.Job, StaticConfigs: []promTargetSet{{Targets: cfg.Targets}}}},
	}
	if c.ScrapeConfigs[0].JobName == "" {
		c.ScrapeConfigs[0].JobName = "docker-monitor"
	}
	if len(cfg.Rules) > 0 {
		rules := filepath.Join(dir, "rules.yml")
		if err := os.WriteFile(rules, cfg.Rules, 0o644); err != nil {
			return err
		}
		c.RuleFiles = []string{rules}
	}
	if len(cfg.Alertmanagers) > 0 {
		c.Alerting = &promAlerting{Alertmanagers: []promStatic{{StaticConfigs: []promTargetSet{{Targets: cfg.Alertmanagers}}}}}
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "prometheus.yml"), b, 0o644)
}

// API calls GET /api/v1/<path> of Prometheus (or Alertmanager's /api/v2
// when path starts with "/") and decodes the answer's data into out. An
// answer with status "error" is returned as an error with its message.
func (s *monitorServer) API(path string, params url.Values, out any) error {
	u := "http://" + s.Addr + "/api/v1/" + path
	if strings.HasPrefix(path, "/") {
		u = "http://" + s.Addr + path
	}
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if strings.HasPrefix(path, "/") { // Alertmanager's v2 API has no envelope
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s: %s", u, resp.Status, body)
		}
		return json.Unmarshal(body, out)
	}
	var env struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("GET %s: %s: %v: %.200s", u, resp.Status, err, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("GET %s: %s: %s: %s", u, resp.Status, env.ErrorType, env.Error)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(env.Data, out)
}

// monitorServer is one Prometheus or Alertmanager process: started in its
// own process group with a parent-death signal, as dockerd is, and stopped by
// its PID only.
type monitorServer struct {
	Name string
	Addr string
	Dir  string

	proc
}

// configure writes the server's files into dir for the address addr and
// returns its arguments.
type configure func(dir, addr string) ([]string, error)

func startMonitorServer(t testing.TB, name, bin string, conf configure) *monitorServer {
	t.Helper()
	sweepOnce.Do(sweepStale)
	dir, err := os.MkdirTemp("/tmp", "dmlab-"+name+"-")
	if err != nil {
		t.Fatalf("testlab: %v", err)
	}
	s := &monitorServer{Name: name, Dir: dir}
	t.Cleanup(func() { s.destroy(t) })
	if err := writeOwner(dir, -1); err != nil {
		t.Fatalf("testlab: %v", err)
	}
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("testlab: %v", err)
		}
		s.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		args, err := conf(dir, s.Addr)
		if err != nil {
			t.Fatalf("testlab: %s: %v", name, err)
		}
		err = s.start(bin, args)
		if err == nil {
			return s
		}
		// Another test process may bind the port between FreePort's check
		// and ours: try another, as StartSSHD does.
		if attempt < 3 && isAddrInUse(err.Error()) {
			t.Logf("testlab: %s: port %d taken, trying another", name, port)
			continue
		}
		t.Fatalf("testlab: %v", err)
	}
}

func (s *monitorServer) logPath() string { return filepath.Join(s.Dir, s.Name+".log") }

// start runs the server and waits until it is ready.
func (s *monitorServer) start(bin string, args []string) error {
	logf, err := os.OpenFile(s.logPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== testlab: starting %s %s\n", bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = cleanEnv(nil)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // a Ctrl-C meant for `go test` is handled by Main
		Pdeathsig: syscall.SIGTERM, // if this test binary dies without cleanup, the server goes too
	}
	err = spawn(cmd)
	logf.Close()
	if err != nil {
		return fmt.Errorf("starting %s: %w", s.Name, err)
	}
	s.mu.Lock()
	exited := s.track(cmd)
	s.mu.Unlock()
	return s.waitReady(exited)
}

// waitReady polls /-/ready, which both servers answer with 200 once they
// have loaded their configuration and opened their storage.
func (s *monitorServer) waitReady(exited chan struct{}) error {
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(monitorReadyTimeout)
	for {
		resp, err := c.Get("http://" + s.Addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/-/ready: %s", resp.Status)
		}
		select {
		case <-exited:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			return fmt.Errorf("%s on %s exited during startup\n--- %s:\n%s", s.Name, s.Addr, s.logPath(), s.LogTail())
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("%s on %s not ready after %v: %v\n--- %s:\n%s", s.Name, s.Addr, monitorReadyTimeout, err, s.logPath(), s.LogTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Logs returns everything the server has logged.
func (s *monitorServer) Logs() string { return readLog(s.logPath()) }

// LogTail returns the last lines of the server's log.
func (s *monitorServer) LogTail() string {
	lines := strings.Split(strings.TrimRight(s.Logs(), "\n"), "\n")
	if len(lines) > monitorLogTail {
		lines = lines[len(lines)-monitorLogTail:]
	}
	return strings.Join(lines, "\n")
}

// stop sends SIGTERM to the process we started (its own process group, which
// holds nothing else) and SIGKILL after monitorStopTimeout.
func (s *monitorServer) stop() error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	pid := cmd.Process.Pid
	syscall.Kill(-pid, syscall.SIGTERM)
	ignored, err := awaitExit(s.Name, pid, exited, monitorStopTimeout, func() { syscall.Kill(-pid, syscall.SIGKILL) })
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.cmd = nil
	s.mu.Unlock()
	return ignored
}

// destroy stops the server, shows its log if the test failed, and removes
// its directory.
func (s *monitorServer) destroy(t testing.TB) {
	if err := s.stop(); err != nil {
		t.Logf("testlab: stopping %s: %v", s.Name, err)
	}
	if t.Failed() {
		t.Logf("testlab: %s on %s, end of %s:\n%s", s.Name, s.Addr, s.logPath(), s.LogTail())
	}
	for _, err := range killLeftovers(s.Dir, nil) {
		t.Logf("testlab: %s: %v", s.Name, err)
	}
	if err := os.RemoveAll(s.Dir); err != nil {
		t.Logf("testlab: removing %s: %v", s.Dir, err)
	}
}
