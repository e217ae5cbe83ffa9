// Package testlab runs real, throw-away Docker daemons for integration tests.
//
// The exporter's behaviour that matters most (hosts going away and coming
// back, OOM kills, health checks, restart counts) cannot be faked convincingly
// with a mock of the Docker API, and the test machines cannot pull images.
// So each test binary starts its own dockerd processes, isolated by data root,
// exec root, socket and address pool, and runs containers from an image built
// FROM scratch around one static fixture binary (see ./fixture).
//
// Packages that use Shared must call Main from TestMain, so that the shared
// daemon is torn down once every test is done.
package testlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	dockerdPath = "/usr/sbin/dockerd"
	dockerPath  = "/usr/bin/docker" // the 20.10 CLI matching dockerd; /usr/local/bin/docker may be another version

	readyTimeout     = 60 * time.Second
	stopTimeout      = 30 * time.Second
	mainStopTimeout  = 20 * time.Second
	dockerCmdTimeout = 2 * time.Minute
)

// Require skips the test where no daemon can be run, so that a plain
// `go test ./...` on a laptop stays green; in CI a missing daemon is a broken
// setup and must fail loudly instead.
func Require(t testing.TB) {
	t.Helper()
	var missing []string
	for _, p := range []string{dockerdPath, dockerPath} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if os.Geteuid() != 0 {
		missing = append(missing, "root privileges")
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("integration test needs dockerd (docker.io) and root, missing: %s; run scripts/test-deps.sh as root", strings.Join(missing, ", "))
	}
	t.Skipf("integration test needs dockerd (docker.io) and root: run `make test`")
}

// Daemon is a dockerd this test binary started, with its own data root, exec root, pidfile and socket.
type Daemon struct {
	Name string
	Host string // e.g. "unix:///tmp/dmlab-xxxx/d.sock" — DOCKER_HOST style
	Dir  string

	pool *addrPool // held from creation until destroy, across Stop/Restart

	extraArgs []string // appended to dockerd's arguments on every start (StartTLS's TCP listener)

	setupMu sync.Mutex // serialises Image and Network

	proc         // dockerd; its mu also guards the fields below
	imageReady   bool
	networkReady bool
	networkIDs   map[string]bool
	destroyed    bool
}

var (
	mainActive atomic.Bool

	registryMu sync.Mutex
	registry   = map[*Daemon]bool{} // daemons whose directory still exists

	sharedMu  sync.Mutex
	sharedD   *Daemon
	sharedErr string
)

// Shared returns the daemon shared by every test in this test binary, started on first use (sync.Once).
// Starting a dockerd costs a few seconds; tests that only need containers
// should share one and use distinct container names; a test that stops or
// restarts its daemon needs its own, from Start.
func Shared(t testing.TB) *Daemon {
	t.Helper()
	Require(t)
	if !mainActive.Load() {
		t.Fatalf("testlab.Shared needs `func TestMain(m *testing.M) { os.Exit(testlab.Main(m)) }` in this package, or the shared dockerd would outlive the test binary")
	}
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedD == nil && sharedErr == "" {
		d, err := newDaemon("shared")
		if err == nil {
			if err = d.start(); err != nil {
				d.destroy(mainStopTimeout)
			}
		}
		if err != nil {
			sharedErr = err.Error()
		} else {
			sharedD = d
		}
	}
	if sharedErr != "" {
		t.Fatalf("testlab: shared daemon: %s", sharedErr)
	}
	return sharedD
}

// Start starts a private daemon for one test; t.Cleanup stops it and removes its directory.
// Use it when a test stops, restarts or otherwise disturbs the daemon.
func Start(t testing.TB, name string) *Daemon {
	t.Helper()
	Require(t)
	d, err := newDaemon(name)
	if err != nil {
		t.Fatalf("testlab: %v", err)
	}
	t.Cleanup(func() {
		for _, err := range d.destroy(stopTimeout) {
			t.Logf("testlab: cleaning up daemon %s: %v", d.Name, err)
		}
	})
	if err := d.start(); err != nil {
		t.Fatalf("testlab: %v", err)
	}
	return d
}

// Main wraps testing.M.Run for TestMain: runs the tests, then stops every daemon still running that this process started (by PID, SIGTERM then SIGKILL after 20s) and removes their directories; returns the exit code.
// An interrupted run (SIGINT/SIGTERM) cleans up the same way before exiting;
// if the process dies without that, the daemons get SIGTERM from the kernel
// (parent-death signal) and the next testlab run removes what is left.
func Main(m *testing.M) int {
	mainActive.Store(true)
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig, ok := <-sigc
		if !ok {
			return
		}
		fmt.Fprintf(os.Stderr, "testlab: %v: stopping test daemons\n", sig)
		destroyAll()
		os.Exit(1)
	}()
	code := m.Run()
	signal.Stop(sigc)
	close(sigc)
	destroyAll()
	return code
}

func destroyAll() {
	destroyEach(&registryMu, registry, func(d *Daemon) []error { return d.destroy(mainStopTimeout) },
		func(d *Daemon) string { return "daemon " + d.Name })
	destroyServers() // sshd instances (sshd.go)
	removeFixtureBinary()
	removeExporterBinary()
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

func newDaemon(name string) (*Daemon, error) {
	sweepOnce.Do(sweepStale)
	short := unsafeName.ReplaceAllString(name, "_")
	if len(short) > 16 { // unix socket paths must stay short
		short = short[:16]
	}
	dir, err := os.MkdirTemp("/tmp", "dmlab-"+short+"-")
	if err != nil {
		return nil, err
	}
	blkioOnce.Do(func() { enableBlkioAccounting(dir) })
	pool, err := acquirePool()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := writeOwner(dir, pool.x); err != nil {
		pool.release()
		os.RemoveAll(dir)
		return nil, err
	}
	d := &Daemon{
		Name:       name,
		Host:       "unix://" + filepath.Join(dir, "d.sock"),
		Dir:        dir,
		pool:       pool,
		networkIDs: map[string]bool{},
	}
	registryMu.Lock()
	registry[d] = true
	registryMu.Unlock()
	return d, nil
}

func (d *Daemon) socketPath() string { return filepath.Join(d.Dir, "d.sock") }
func (d *Daemon) logPath() string    { return filepath.Join(d.Dir, "dockerd.log") }

func (d *Daemon) args() []string {
	return append([]string{
		"--data-root", filepath.Join(d.Dir, "data"),
		"--exec-root", filepath.Join(d.Dir, "exec"),
		"--pidfile", filepath.Join(d.Dir, "docker.pid"),
		"-H", d.Host,
		"--bridge", "none", // a daemon with a default bridge would fight the others over docker0
		"--iptables=false",
		"--ip-masq=false",
		"--ip6tables=false",
		"--default-address-pool", "base=" + d.pool.cidr() + ",size=24",
		"--shutdown-timeout", "2",
		"--log-level", "warn",
	}, d.extraArgs...)
}

// start runs dockerd and waits until it answers /_ping.
func (d *Daemon) start() error {
	d.mu.Lock()
	if d.destroyed {
		d.mu.Unlock()
		return fmt.Errorf("daemon %s was already cleaned up", d.Name)
	}
	if d.cmd != nil {
		d.mu.Unlock()
		return fmt.Errorf("daemon %s is already running (pid %d)", d.Name, d.cmd.Process.Pid)
	}
	logf, err := os.OpenFile(d.logPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		d.mu.Unlock()
		return err
	}
	fmt.Fprintf(logf, "=== testlab: starting %s %s\n", dockerdPath, strings.Join(d.args(), " "))
	cmd := exec.Command(dockerdPath, d.args()...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = cleanEnv(nil)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // a Ctrl-C meant for `go test` is handled by Main, not by dockerd directly
		Pdeathsig: syscall.SIGTERM, // if this test binary dies without cleanup, dockerd shuts down too
	}
	err = spawn(cmd)
	logf.Close()
	if err != nil {
		d.mu.Unlock()
		return fmt.Errorf("starting dockerd: %w", err)
	}
	exited := d.track(cmd)
	d.mu.Unlock()

	deadline := time.Now().Add(readyTimeout)
	for {
		if err := d.ping(); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("dockerd %s not ready after %v: %v\n--- tail of %s:\n%s", d.Name, readyTimeout, err, d.logPath(), d.logTail())
		}
		select {
		case <-exited:
			d.mu.Lock()
			d.cmd = nil
			d.mu.Unlock()
			return fmt.Errorf("dockerd %s exited during startup (%v)\n--- tail of %s:\n%s", d.Name, cmd.ProcessState, d.logPath(), d.logTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (d *Daemon) ping() error {
	c := &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var dl net.Dialer
				return dl.DialContext(ctx, "unix", d.socketPath())
			},
			DisableKeepAlives: true,
		},
	}
	resp, err := c.Get("http://docker/_ping")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	if resp.StatusCode != http.StatusOK || string(body) != "OK" {
		return fmt.Errorf("/_ping: %s %q", resp.Status, body)
	}
	return nil
}

func (d *Daemon) logTail() string {
	b, err := os.ReadFile(d.logPath())
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// Stop makes the host "go down": the daemon, its containerd and the
// containers' shims are gone and the socket no longer exists.
func (d *Daemon) Stop(t testing.TB) {
	t.Helper()
	Require(t)
	if err := d.stop(stopTimeout); err != nil {
		t.Fatalf("testlab: stopping daemon %s: %v", d.Name, err)
	}
}

// stop SIGTERMs the dockerd we started (never any other process by name),
// escalates to SIGKILL after timeout, then removes whatever of it is left.
func (d *Daemon) stop(timeout time.Duration) error {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.mu.Unlock()
	var errs []error
	if cmd != nil {
		cmd.Process.Signal(syscall.SIGTERM)
		ignored, err := awaitExit("dockerd", cmd.Process.Pid, exited, timeout, func() { cmd.Process.Kill() })
		if err != nil {
			return err
		}
		errs = append(errs, ignored)
		d.mu.Lock()
		d.cmd = nil
		d.imageReady, d.networkReady = false, false
		d.mu.Unlock()
	}
	errs = append(errs, killLeftovers(d.Dir, containerIDs(d.Dir))...)
	// After a crash these would be stale: the socket would still make the
	// "host" look present, and a reused PID in a pidfile makes the next
	// dockerd refuse to start, or wait for a containerd that is not there.
	for _, f := range []string{d.socketPath(), filepath.Join(d.Dir, "docker.pid"), filepath.Join(d.Dir, "exec", "containerd", "containerd.pid")} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, unmountUnder(d.Dir)...)
	return errors.Join(errs...)
}

// Restart brings a stopped "host" back with the same data root, socket and
// address pool, so its containers, images and networks are still there.
func (d *Daemon) Restart(t testing.TB) {
	t.Helper()
	Require(t)
	if d.PID() != 0 {
		d.Stop(t)
	}
	if err := d.start(); err != nil {
		t.Fatalf("testlab: restarting daemon %s: %v", d.Name, err)
	}
}

func (d *Daemon) running() bool { return d.PID() != 0 }

// ServicePIDs are dockerd and the containerd processes below it (containerd
// and the shims that read cgroup stats for dockerd), not the containers'
// own: what the daemon spends on serving its clients.
func (d *Daemon) ServicePIDs() []int {
	root := d.PID()
	if root == 0 {
		return nil
	}
	pids := []int{root}
	for _, p := range descendants(root) {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.pid))
		if strings.HasPrefix(string(comm), "containerd") {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

// destroy stops the daemon and removes every trace of it: processes,
// mounts, bridge interfaces, its directory and its address-pool lock.
func (d *Daemon) destroy(timeout time.Duration) []error {
	d.mu.Lock()
	if d.destroyed {
		d.mu.Unlock()
		return nil
	}
	d.destroyed = true
	d.mu.Unlock()
	registryMu.Lock()
	delete(registry, d)
	registryMu.Unlock()

	var errs []error
	if d.running() {
		// Networks created by tests directly, not only via Network().
		if out, _, err := d.docker(10*time.Second, "network", "ls", "-q", "--no-trunc", "--filter", "type=custom"); err == nil {
			d.mu.Lock()
			for _, id := range strings.Fields(out) {
				d.networkIDs[id] = true
			}
			d.mu.Unlock()
		}
	}
	if err := d.stop(timeout); err != nil {
		errs = append(errs, err)
	}
	d.mu.Lock()
	ids := make([]string, 0, len(d.networkIDs))
	for id := range d.networkIDs {
		ids = append(ids, id)
	}
	d.mu.Unlock()
	errs = append(errs, deleteBridges(d.pool.x, ids)...)
	errs = append(errs, unmountUnder(d.Dir)...)
	if err := os.RemoveAll(d.Dir); err != nil {
		errs = append(errs, err)
	}
	d.pool.release()
	return errs
}

// destroyEach destroys every item of a registry at once, reporting errors on
// stderr: they run at the end of the test binary, where no t is left.
func destroyEach[T comparable](mu *sync.Mutex, registry map[T]bool, destroy func(T) []error, name func(T) string) {
	mu.Lock()
	items := make([]T, 0, len(registry))
	for it := range registry {
		items = append(items, it)
	}
	mu.Unlock()
	var wg sync.WaitGroup
	for _, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, err := range destroy(it) {
				fmt.Fprintf(os.Stderr, "testlab: cleaning up %s: %v\n", name(it), err)
			}
		}()
	}
	wg.Wait()
}
