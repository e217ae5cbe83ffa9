package testlab_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/internal/testlab"
)

func TestMain(m *testing.M) { os.Exit(testlab.Main(m)) }

func inspect(t *testing.T, d *testlab.Daemon, format, id string) string {
	t.Helper()
	return d.Docker(t, "inspect", "--format", format, id)
}

// waitFor polls inspect until it yields want.
func waitFor(t *testing.T, d *testlab.Daemon, format, id, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := inspect(t, d, format, id)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s of %.12s: got %q, want %q after %v", format, id, got, want, timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func TestSharedDaemonFixtures(t *testing.T) {
	t.Parallel()
	d := testlab.Shared(t)
	if v := d.Docker(t, "version", "--format", "{{.Server.Version}}"); v == "" {
		t.Fatal("daemon reports no server version")
	}

	sleeper := d.Run(t, "tl-sleep", nil, "sleep")
	exit3 := d.Run(t, "tl-exit3", nil, "exit", "3")
	sick := d.Run(t, "tl-unhealthy", []string{"--health-cmd", "/fixture healthcheck", "--health-interval", "1s", "-e", "HEALTH=fail"}, "sleep")
	fine := d.Run(t, "tl-healthy", []string{"--health-cmd", "/fixture healthcheck", "--health-interval", "1s"}, "sleep")
	server := d.Run(t, "tl-serve", nil, "serve", "8080")
	writer := d.Run(t, "tl-write", nil, "write", "4194304")

	if got := inspect(t, d, "{{.State.Running}}", sleeper); got != "true" {
		t.Errorf("sleep container running = %s", got)
	}
	if got := d.Docker(t, "wait", exit3); got != "3" {
		t.Errorf("docker wait exit-3 container = %q", got)
	}
	if got := inspect(t, d, "{{.State.ExitCode}}", exit3); got != "3" {
		t.Errorf("exit-3 container ExitCode = %s", got)
	}
	// RunOOM lets the container exit only after Docker's oom event, which
	// makes Docker mark it OOMKilled; the OOM killer's SIGKILL makes 137.
	oom := d.RunOOM(t, "tl-oom", nil)
	if got := inspect(t, d, "{{.State.ExitCode}} {{.State.OOMKilled}}", oom); got != "137 true" {
		t.Errorf("oom container ExitCode, OOMKilled = %s, want 137 true", got)
	}
	waitFor(t, d, "{{.State.Health.Status}}", sick, "unhealthy", 30*time.Second)
	waitFor(t, d, "{{.State.Health.Status}}", fine, "healthy", 30*time.Second)

	// The host reaches containers directly on the user-defined bridge.
	ip := inspect(t, d, `{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}`, server)
	for path, want := range map[string]int{"/": 200, "/metrics": 200, "/fail": 500} {
		if got, err := httpStatus(fmt.Sprintf("http://%s:8080%s", ip, path), 10*time.Second); err != nil || got != want {
			t.Errorf("GET %s on serve container: %d, %v; want %d", path, got, err, want)
		}
	}

	// write: gives the container a non-zero block I/O count.
	deadline := time.Now().Add(15 * time.Second)
	for {
		if strings.Contains(d.Docker(t, "logs", writer), "wrote") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("write container never reported its write; logs:\n%s", d.Docker(t, "logs", writer))
		}
		time.Sleep(200 * time.Millisecond)
	}
	blkio := d.Docker(t, "stats", "--no-stream", "--format", "{{.BlockIO}}", writer)
	if written := strings.TrimSpace(strings.SplitN(blkio, "/", 2)[1]); written == "0B" {
		t.Errorf("write container block I/O = %q, want non-zero writes", blkio)
	}

	// SIGTERM ends the sleeper at once, not after docker stop's grace period,
	// made long here because a loaded daemon took 9s to stop it at once.
	start := time.Now()
	d.Docker(t, "stop", "--time", "60", sleeper)
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("docker stop took %v", took)
	}
	if got := inspect(t, d, "{{.State.ExitCode}}", sleeper); got != "0" {
		t.Errorf("stopped sleeper ExitCode = %s", got)
	}
}

func httpStatus(url string, timeout time.Duration) (int, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := c.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode, nil
		}
		if time.Now().After(deadline) {
			return 0, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestPrivateDaemonStopRestart(t *testing.T) {
	t.Parallel()
	testlab.Require(t)
	var dir string
	var pids []int
	t.Run("lifecycle", func(t *testing.T) {
		d := testlab.Start(t, "restart")
		dir = d.Dir
		created := d.Create(t, "tl-created", nil, "sleep")
		running := d.Run(t, "tl-running", nil, "sleep")
		if got := inspect(t, d, "{{.State.Status}}", created); got != "created" {
			t.Fatalf("created container status = %s", got)
		}
		pid := d.PID()
		pids = append(pids, pid)

		d.Stop(t)
		if d.PID() != 0 {
			t.Errorf("PID() = %d after Stop", d.PID())
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("dockerd pid %d still exists after Stop (kill 0: %v)", pid, err)
		}
		if _, err := os.Stat(strings.TrimPrefix(d.Host, "unix://")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("socket still exists after Stop: %v", err)
		}
		if left := procsMentioning(dir); len(left) > 0 {
			t.Errorf("processes of the stopped daemon still running: %v", left)
		}

		d.Restart(t)
		if d.PID() == 0 || d.PID() == pid {
			t.Errorf("PID() = %d after Restart (was %d)", d.PID(), pid)
		}
		pids = append(pids, d.PID())
		if got := inspect(t, d, "{{.State.Status}}", created); got != "created" {
			t.Errorf("created container after restart: status %s", got)
		}
		if got := inspect(t, d, "{{.State.Status}}", running); got != "exited" {
			t.Errorf("running container after restart: status %s, want exited", got)
		}
		again := d.Run(t, "tl-after-restart", nil, "sleep")
		if got := inspect(t, d, "{{.State.Running}}", again); got != "true" {
			t.Errorf("container started after restart: running = %s", got)
		}
	})
	if dir == "" {
		return // the subtest failed before starting a daemon
	}
	// Start's cleanup has run: nothing of that daemon may be left.
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("daemon directory %s still exists: %v", dir, err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("dockerd pid %d still exists after cleanup", pid)
		}
	}
	if left := procsMentioning(dir); len(left) > 0 {
		t.Errorf("processes of the removed daemon still running: %v", left)
	}
}

// procsMentioning lists live processes whose command line contains dir.
func procsMentioning(dir string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte(dir+"/")) {
			out = append(out, fmt.Sprintf("%d %s", pid, bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
		}
	}
	return out
}

// A dockerd that dies without shutting down leaves containerd, shims and
// container processes behind; Stop must clean those up so the host is
// really down, and Restart must still bring the containers back as exited.
func TestPrivateDaemonCrash(t *testing.T) {
	t.Parallel()
	d := testlab.Start(t, "crash")
	running := d.Run(t, "tl-crash-victim", nil, "sleep")
	ctrPID, _ := strconv.Atoi(inspect(t, d, "{{.State.Pid}}", running))
	if ctrPID <= 0 {
		t.Fatalf("container has no PID")
	}
	if err := syscall.Kill(d.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.Stop(t)
	if left := procsMentioning(d.Dir); len(left) > 0 {
		t.Errorf("processes of the crashed daemon still running: %v", left)
	}
	if alive(ctrPID) {
		t.Errorf("container process %d survived its daemon's crash and Stop", ctrPID)
	}
	d.Restart(t)
	if got := inspect(t, d, "{{.State.Status}}", running); got != "exited" {
		t.Errorf("container after crash and restart: status %s, want exited", got)
	}
	d.Docker(t, "start", running)
	if got := inspect(t, d, "{{.State.Running}}", running); got != "true" {
		t.Errorf("container restarted after crash: running = %s", got)
	}
}

// alive reports whether pid runs; a zombie does not count, as orphans are
// reaped by init, which may take its time.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}
