package testlab

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"
)

// proc is a process a test started (dockerd, sshd, Prometheus,
// Alertmanager): testlab stops it by its PID, never by name.
type proc struct {
	mu     sync.Mutex // guards cmd and exited, and the embedder's own state
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// track records cmd, which spawn started, and reaps it in the background.
// It returns the channel that is closed once cmd has exited. The caller
// holds p.mu, so that no stop sees the process running but not recorded.
func (p *proc) track(cmd *exec.Cmd) chan struct{} {
	exited := make(chan struct{})
	p.cmd, p.exited = cmd, exited
	go func() {
		cmd.Wait()
		close(exited)
	}()
	return exited
}

// PID returns the process's PID, 0 while it is stopped.
func (p *proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// awaitExit waits up to timeout for a process the caller has sent SIGTERM
// to, then calls kill (SIGKILL, to the process or its group) and waits 10 s
// more. ignored says the SIGTERM was ignored; err that even SIGKILL was.
func awaitExit(name string, pid int, exited <-chan struct{}, timeout time.Duration, kill func()) (ignored, err error) {
	select {
	case <-exited:
		return nil, nil
	case <-time.After(timeout):
	}
	ignored = fmt.Errorf("%s pid %d ignored SIGTERM for %v; killed", name, pid, timeout)
	kill()
	select {
	case <-exited:
		return ignored, nil
	case <-time.After(10 * time.Second):
		return ignored, fmt.Errorf("%s pid %d survives SIGKILL", name, pid)
	}
}

// readLog returns a log file's contents, or why it cannot be read.
func readLog(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
