package testlab

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	spawnOnce sync.Once
	spawnReqs = make(chan spawnReq)
)

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// spawn starts cmd from one OS thread that never exits: Linux delivers the
// parent-death signal when the *thread* that forked the child exits, and Go
// may otherwise retire or reuse the thread that happened to call Start.
func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		go func() {
			// The goroutine never returns, so its locked thread is never
			// retired and no daemon gets an early parent-death signal.
			runtime.LockOSThread()
			for r := range spawnReqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error)
	spawnReqs <- spawnReq{cmd, done}
	return <-done
}

// Docker runs the CLI matching the daemon's version against this daemon only
// (DOCKER_HOST, contexts and the user's CLI config are ignored). It must be
// called from the test's goroutine, as it may call t.Fatalf.
func (d *Daemon) Docker(t testing.TB, args ...string) string {
	t.Helper()
	Require(t)
	out, errOut, err := d.docker(dockerCmdTimeout, args...)
	if err != nil {
		t.Fatalf("testlab: docker %s (daemon %s): %v\n%s", strings.Join(args, " "), d.Name, err, errOut)
	}
	return out
}

// TryDocker is Docker for goroutines other than the test's: it returns the
// error, with the CLI's stderr, instead of failing the test.
func (d *Daemon) TryDocker(args ...string) (string, error) {
	out, errOut, err := d.docker(dockerCmdTimeout, args...)
	if err != nil {
		return out, fmt.Errorf("docker %s (daemon %s): %w: %s", strings.Join(args, " "), d.Name, err, strings.TrimSpace(errOut))
	}
	return out, nil
}

func (d *Daemon) docker(timeout time.Duration, args ...string) (stdout, stderr string, err error) {
	return d.dockerAt(d.Host, timeout, args...)
}

// cleanEnv drops variables that would point the CLI or daemon somewhere else.
func cleanEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH",
			"DOCKER_API_VERSION", "DOCKER_CONFIG", "DOCKER_BUILDKIT", "NOTIFY_SOCKET":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}
