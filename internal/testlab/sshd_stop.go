package testlab

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"syscall"
	"time"
)

// stop signals only the sshd we started and processes descending from it.
func (s *SSHD) stop(timeout time.Duration) error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	pid := cmd.Process.Pid
	var errs []error
	// Freeze the tree before walking it: a stopped sshd accepts no new
	// connection and a stopped session forks nothing, so no process escapes
	// between the walk and the kill (children of a killed process would be
	// re-parented to init and lost to the walk).
	syscall.Kill(pid, syscall.SIGSTOP)
	seen := map[int]procID{}
	for range 20 {
		grew := false
		for _, p := range descendants(pid) {
			if _, ok := seen[p.pid]; !ok {
				seen[p.pid] = p
				syscall.Kill(p.pid, syscall.SIGSTOP)
				grew = true
			}
		}
		if !grew {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, p := range seen {
		if sameProc(p) {
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Process.Signal(syscall.SIGCONT)
	ignored, err := awaitExit("sshd", pid, exited, timeout, func() { cmd.Process.Kill() })
	if err != nil {
		return err
	}
	errs = append(errs, ignored)
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left []int
		for _, p := range seen {
			if sameProc(p) {
				left = append(left, p.pid)
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			sort.Ints(left)
			errs = append(errs, fmt.Errorf("sessions of sshd pid %d survive SIGKILL: %v", pid, left))
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.mu.Lock()
	s.cmd = nil
	s.mu.Unlock()
	if err := os.Remove(s.pidPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// sameProc reports whether p still runs (not a zombie) and is the process
// we saw, not another one that got its PID.
func sameProc(p procID) bool {
	state, start, ok := procStat(p.pid)
	return ok && start == p.start && state != "Z" && state != "X"
}

// descendants lists the live processes below pid.
func descendants(pid int) []procID {
	children := map[int][]procID{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, ppid, start, ok := procStatParent(p)
		if !ok || state == "Z" || state == "X" {
			continue
		}
		children[ppid] = append(children[ppid], procID{p, start})
	}
	var out []procID
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
	}
	return out
}

// destroy stops sshd and removes its directory.
func (s *SSHD) destroy(timeout time.Duration) []error {
	s.mu.Lock()
	if s.destroyed {
		s.mu.Unlock()
		return nil
	}
	s.destroyed = true
	s.mu.Unlock()
	serversMu.Lock()
	delete(servers, s)
	serversMu.Unlock()
	var errs []error
	if err := s.stop(timeout); err != nil {
		errs = append(errs, err)
	}
	// Clients the test ran with our key files (ssh -i <Dir>/...) and forgot.
	errs = append(errs, killLeftovers(s.Dir, nil)...)
	if err := os.RemoveAll(s.Dir); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// destroyServers stops every sshd still running at the end of Main.
func destroyServers() {
	destroyEach(&serversMu, servers, func(s *SSHD) []error { return s.destroy(mainStopTimeout) },
		func(s *SSHD) string { return "sshd " + s.Dir })
}
