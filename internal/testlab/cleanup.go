package testlab

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A dockerd leaves a lot behind when it does not shut down cleanly: its
// containerd (started under exec-root), one containerd-shim per container
// (re-parented to init, so not our children any more), the container
// processes themselves, overlay and netns mounts under its directories, and
// bridge interfaces in the host's network namespace. Everything here finds
// those by what is unambiguously ours — our directory in a command line, a
// container ID listed in our data root, a mount under our directory, a bridge
// in our locked address pool — and never by a process name.

// killLeftovers waits briefly for the processes of a stopped daemon to go
// away by themselves, then SIGKILLs what remains.
func killLeftovers(dir string, ids []string) []error {
	deadline := time.Now().Add(3 * time.Second)
	pids := procsOf(dir, ids)
	for len(pids) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		pids = procsOf(dir, ids)
	}
	var errs []error
	if len(pids) > 0 {
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		deadline = time.Now().Add(5 * time.Second)
		for len(pids) > 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			pids = procsOf(dir, ids)
		}
		if len(pids) > 0 {
			errs = append(errs, fmt.Errorf("processes of %s survive SIGKILL: %v", dir, pids))
		}
	}
	removeCgroups(ids)
	return errs
}

// procsOf lists live processes whose command line mentions dir (containerd,
// shims, dockerd itself) or that run in the cgroup of one of our containers.
func procsOf(dir string, ids []string) []int {
	self := os.Getpid()
	seen := map[int]bool{}
	for _, id := range ids {
		for _, h := range []string{"pids", "memory", "freezer", "cpuacct"} {
			b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", h, "docker", id, "cgroup.procs"))
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					seen[pid] = true
				}
			}
		}
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || pid == 1 {
			continue
		}
		if cmdlineMentions(pid, dir) {
			seen[pid] = true
		}
	}
	var pids []int
	for pid := range seen {
		if pid != self && pid != 1 && !isZombieOrGone(pid) {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	return pids
}

func cmdlineMentions(pid int, dir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return false
	}
	s := string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})) + " "
	// "/tmp/dmlab-a-1" must not match "/tmp/dmlab-a-12".
	return strings.Contains(s, dir+"/") || strings.Contains(s, dir+" ")
}

// procStat returns the state letter and start time (clock ticks after boot)
// of pid; the pair identifies a process even after its PID is reused.
func procStat(pid int) (state string, start uint64, ok bool) {
	state, _, start, ok = procStatParent(pid)
	return state, start, ok
}

// procStatParent is procStat with the parent's PID.
func procStatParent(pid int) (state string, ppid int, start uint64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return "", 0, 0, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	start, err2 := strconv.ParseUint(f[19], 10, 64)
	return f[0], ppid, start, err1 == nil && err2 == nil
}

func isZombieOrGone(pid int) bool {
	state, _, ok := procStat(pid)
	return !ok || state == "Z" || state == "X"
}

func containerIDs(dir string) []string {
	entries, _ := os.ReadDir(filepath.Join(dir, "data", "containers"))
	var ids []string
	for _, e := range entries {
		if len(e.Name()) == 64 && strings.Trim(e.Name(), "0123456789abcdef") == "" {
			ids = append(ids, e.Name())
		}
	}
	return ids
}

// removeCgroups removes the (cgroupfs driver, cgroup v1) cgroups of
// containers whose runc never got to delete them.
func removeCgroups(ids []string) {
	hs, _ := os.ReadDir("/sys/fs/cgroup")
	for _, id := range ids {
		for _, h := range hs {
			os.Remove(filepath.Join("/sys/fs/cgroup", h.Name(), "docker", id))
		}
	}
}

// unmountUnder unmounts everything mounted at or below dir, deepest first.
func unmountUnder(dir string) []error {
	var errs []error
	for pass := 0; pass < 3; pass++ {
		mps := mountsUnder(dir)
		if len(mps) == 0 {
			return nil
		}
		errs = errs[:0]
		for _, mp := range mps {
			err := syscall.Unmount(mp, 0)
			if err == syscall.EBUSY {
				err = syscall.Unmount(mp, syscall.MNT_DETACH)
			}
			if err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
				errs = append(errs, fmt.Errorf("unmount %s: %w", mp, err))
			}
		}
	}
	if mps := mountsUnder(dir); len(mps) > 0 {
		errs = append(errs, fmt.Errorf("still mounted under %s: %v", dir, mps))
	}
	return errs
}

func mountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var mps []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMountPath(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			mps = append(mps, mp)
		}
	}
	// Deepest first; for stacked mounts on one point, the same path repeats.
	sort.SliceStable(mps, func(i, j int) bool { return len(mps[i]) > len(mps[j]) })
	return mps
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// deleteBridges removes the bridge interfaces of user-defined networks that
// dockerd leaves in the host namespace when it exits: those named after one
// of ids and any "br-" bridge with an address in pool x, which we hold locked.
func deleteBridges(x int, ids []string) []error {
	ifs, err := net.Interfaces()
	if err != nil {
		return []error{err}
	}
	_, pool, _ := net.ParseCIDR(poolCIDR(x))
	var errs []error
	for _, ifc := range ifs {
		if !strings.HasPrefix(ifc.Name, "br-") {
			continue
		}
		match := false
		for _, id := range ids {
			if len(id) >= 12 && ifc.Name == "br-"+id[:12] {
				match = true
			}
		}
		if addrs, err := ifc.Addrs(); err == nil && !match {
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok && pool.Contains(ipn.IP) {
					match = true
				}
			}
		}
		if match {
			if err := deleteLink(ifc.Index); err != nil && err != syscall.ENODEV {
				errs = append(errs, fmt.Errorf("deleting interface %s: %w", ifc.Name, err))
			}
		}
	}
	return errs
}

// deleteLink sends RTM_DELLINK over rtnetlink (what `ip link del` does),
// so cleanup does not depend on iproute2 being installed.
func deleteLink(index int) error {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	sa := &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}
	if err := syscall.Bind(fd, sa); err != nil {
		return err
	}
	tv := syscall.NsecToTimeval((5 * time.Second).Nanoseconds())
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	msg := make([]byte, syscall.NLMSG_HDRLEN+syscall.SizeofIfInfomsg)
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], syscall.RTM_DELLINK)
	ne.PutUint16(msg[6:], syscall.NLM_F_REQUEST|syscall.NLM_F_ACK)
	ne.PutUint32(msg[8:], 1) // sequence number
	msg[16] = syscall.AF_UNSPEC
	ne.PutUint32(msg[20:], uint32(int32(index)))
	if err := syscall.Sendto(fd, msg, 0, sa); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	n, _, err := syscall.Recvfrom(fd, buf, 0)
	if err != nil {
		return err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Header.Type == syscall.NLMSG_ERROR && len(m.Data) >= 4 {
			if code := int32(ne.Uint32(m.Data[:4])); code != 0 {
				return syscall.Errno(-code)
			}
			return nil
		}
	}
	return errors.New("no netlink acknowledgement")
}

// The owner file lets a later test process recognise a directory whose test
// process died (go test -timeout panics, SIGKILL) and clean it up.

const ownerFile = "owner"

func writeOwner(dir string, x int) error {
	_, start, ok := procStat(os.Getpid())
	if !ok {
		return errors.New("cannot read own /proc/self/stat")
	}
	return os.WriteFile(filepath.Join(dir, ownerFile), fmt.Appendf(nil, "%d %d %d\n", os.Getpid(), start, x), 0o644)
}

var sweepOnce sync.Once

// sweepStale removes the daemons and directories of testlab processes that
// are gone. Directories without an owner file (being created right now, or
// not ours) and those of live processes are left alone.
func sweepStale() {
	dirs, _ := filepath.Glob("/tmp/dmlab-*")
	for _, dir := range dirs {
		if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		var pid, x int
		var start uint64
		if n, _ := fmt.Sscanf(string(b), "%d %d %d", &pid, &start, &x); n != 3 {
			continue
		}
		if _, s, ok := procStat(pid); ok && s == start {
			continue // owner still running
		}
		fmt.Fprintf(os.Stderr, "testlab: removing %s left behind by dead test process %d\n", dir, pid)
		// Its dockerd may still be shutting down after its parent-death signal.
		if b, err := os.ReadFile(filepath.Join(dir, "docker.pid")); err == nil {
			if dpid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && dpid > 1 && cmdlineMentions(dpid, dir) {
				syscall.Kill(dpid, syscall.SIGTERM)
				for i := 0; i < 150 && !isZombieOrGone(dpid); i++ {
					time.Sleep(100 * time.Millisecond)
				}
			}
		}
		killLeftovers(dir, containerIDs(dir))
		unmountUnder(dir)
		if x >= 0 { // -1: not a daemon's directory (the fixture binary's)
			if p, err := lockPool(x); err == nil {
				deleteBridges(x, nil)
				p.release()
			}
		}
		os.RemoveAll(dir)
	}
}
