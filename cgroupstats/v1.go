package cgroupstats

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/cgroups/v3/cgroup1"
	v1stats "github.com/containerd/cgroups/v3/cgroup1/stats"

	"github.com/snadboy/docker-monitor/dockerstats"
)

// v1Controllers are the cgroup v1 controllers Docker's stats come from.
var v1Controllers = []string{"cpuacct", "cpu", "memory", "pids", "blkio"}

// v1Tree is a cgroup v1 tree: a directory per hierarchy under its root,
// named after its controllers (/sys/fs/cgroup/memory, cpu,cpuacct).
type v1Tree struct {
	root string
	// dirs names each controller's directory under root. systemd links a
	// co-mounted controller under its own name as well (cpu ->
	// cpu,cpuacct); other setups may not.
	dirs       map[string]string
	subsystems []cgroup1.Subsystem
	// cfq: the kernel has the CFQ scheduler's counters, in every cgroup.
	cfq bool
}

// newV1Tree returns nil if root holds none of the controllers.
func newV1Tree(root string) *v1Tree {
	t := &v1Tree{root: root, dirs: v1Dirs(root)}
	for _, name := range v1Controllers {
		if _, ok := t.dirs[name]; !ok {
			continue
		}
		switch name {
		case "cpuacct":
			t.subsystems = append(t.subsystems, cgroup1.NewCpuacct(root))
		case "cpu":
			t.subsystems = append(t.subsystems, cgroup1.NewCpu(root))
		case "memory":
			// Docker's answer uses none of swap's and kernel memory's 12
			// files, which would double the files read.
			t.subsystems = append(t.subsystems, cgroup1.NewMemory(root, cgroup1.IgnoreModules("memsw", "kmem", "kmem.tcp")))
		case "pids":
			t.subsystems = append(t.subsystems, cgroup1.NewPids(root))
		case "blkio":
			// Read here, not by cgroup1.NewBlkio: its device-name lookup
			// indexes the fields of /proc/partitions unchecked, in a
			// goroutine of its own, where a malformed line would crash the
			// exporter; and Docker's answer has no device names.
			_, err := os.Lstat(filepath.Join(root, t.dirs[name], "blkio.io_serviced_recursive"))
			t.cfq = err == nil
		}
	}
	if len(t.dirs) == 0 {
		return nil
	}
	return t
}

// v1Dirs finds the directory of each of Docker's controllers under root,
// preferring one of the controller's own name.
func v1Dirs(root string) map[string]string {
	entries, _ := os.ReadDir(root) // none: no tree, which New reports
	dirs := map[string]string{}
	for _, e := range entries {
		if st, err := os.Stat(filepath.Join(root, e.Name())); err != nil || !st.IsDir() {
			continue
		}
		for _, c := range strings.Split(e.Name(), ",") {
			if slices.Contains(v1Controllers, c) && (dirs[c] == "" || e.Name() == c) {
				dirs[c] = e.Name()
			}
		}
	}
	return dirs
}

func (t *v1Tree) hierarchy() ([]cgroup1.Subsystem, error) { return t.subsystems, nil }

// dir is the directory of the container's cgroup of a controller.
func (t *v1Tree) dir(controller, group string) string {
	return filepath.Join(t.root, t.dirs[controller], group)
}

// read fills s as Docker 20.10's statsV1 does from the shim's metrics,
// which containerd reads with the same library and error handler.
func (t *v1Tree) read(s *dockerstats.Stats, groups map[string]string) error {
	path := func(n cgroup1.Name) (string, error) {
		p, ok := groups[string(n)]
		if !ok {
			return "", cgroup1.ErrControllerNotActive // skipped by Load
		}
		if d := t.dirs[string(n)]; d != string(n) {
			// The library joins root and the controller's name, then
			// this path: step over to the co-mounted directory.
			return filepath.Join("..", d, p), nil
		}
		return p, nil
	}
	cg, err := cgroup1.Load(path, cgroup1.WithHierarchy(t.hierarchy))
	if errors.Is(err, cgroup1.ErrCgroupDeleted) {
		return fmt.Errorf("%w: %w", ErrGone, err)
	}
	if err != nil {
		return fmt.Errorf("loading cgroup: %w", err)
	}
	m, err := cg.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		return t.removedOr(fmt.Errorf("reading cgroup: %w", err), groups)
	}
	fillV1(s, m)
	if p, ok := groups["blkio"]; ok && t.dirs["blkio"] != "" {
		if s.BlkioStats.IoServiceBytesRecursive, err = readBlkio(t.dir("blkio", p), t.cfq); err != nil {
			return t.removedOr(err, groups)
		}
	}
	return t.stillThere(groups)
}

// removedOr is ErrGone if a read failed because the container's cgroup is
// being removed, else err. The kernel answers ENODEV for the files of a
// cgroup it is tearing down, whose directory may still be there.
func (t *v1Tree) removedOr(err error, groups map[string]string) error {
	if errors.Is(err, syscall.ENODEV) {
		return fmt.Errorf("%w: %w", ErrGone, err)
	}
	if gone := t.stillThere(groups); gone != nil {
		return gone
	}
	return err
}

func fillV1(s *dockerstats.Stats, m *v1stats.Metrics) {
	if m.CPU != nil && m.CPU.Usage != nil && m.CPU.Throttling != nil {
		u, c := m.CPU.Usage, &s.CPUStats
		c.CPUUsage.TotalUsage, c.CPUUsage.UsageInKernelmode, c.CPUUsage.UsageInUsermode = u.Total, u.Kernel, u.User
		th := m.CPU.Throttling
		c.ThrottlingData.Periods, c.ThrottlingData.ThrottledPeriods, c.ThrottlingData.ThrottledTime = th.Periods, th.ThrottledPeriods, th.ThrottledTime
	}
	if mem := m.Memory; mem != nil {
		if mem.Usage != nil {
			s.MemoryStats.Usage, s.MemoryStats.Limit = mem.Usage.Usage, mem.Usage.Limit
		}
		// Docker's answer has both keys on v1; the working set uses the
		// hierarchical one.
		v := &[2]uint64{mem.TotalInactiveFile, mem.InactiveFile}
		s.MemoryStats.Stats.TotalInactiveFile, s.MemoryStats.Stats.InactiveFile = &v[0], &v[1]
	}
	if m.Pids != nil {
		s.PidsStats.Current, s.PidsStats.Limit = m.Pids.Current, m.Pids.Limit
	}
}

// stillThere tells a cgroup removed while it was read, whose files then
// read as missing, hence zero, from a live one.
func (t *v1Tree) stillThere(groups map[string]string) error {
	for _, name := range v1Controllers {
		p, ok := groups[name]
		if !ok || t.dirs[name] == "" {
			continue
		}
		dir := t.dir(name, p)
		if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %s removed", ErrGone, dir)
		}
		return nil
	}
	return nil
}

// readBlkio reads bytes transferred per device and operation as the
// library Docker's shim uses does: the CFQ scheduler's recursive counters
// where the kernel has them and they count anything, else blk-throttle's,
// which count for every scheduler. Ops are spelled as the kernel writes
// them: Read, Write, Sync, Async, Discard, Total.
func readBlkio(dir string, cfq bool) ([]dockerstats.BlkioEntry, error) {
	if cfq {
		e, err := readBlkioFile(filepath.Join(dir, "blkio.io_service_bytes_recursive"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		if len(e) > 0 {
			return e, nil
		}
	}
	e, err := readBlkioFile(filepath.Join(dir, "blkio.throttle.io_service_bytes"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return e, err
}

// readBlkioFile parses lines of "major:minor Op value", skipping the
// closing "Total value".
func readBlkioFile(path string) (out []dockerstats.BlkioEntry, err error) {
	err = withFile(path, maxCgroupFile, func(b []byte) error {
		out, err = parseBlkio(path, b)
		return err
	})
	return out, err
}

func parseBlkio(path string, b []byte) ([]dockerstats.BlkioEntry, error) {
	var out []dockerstats.BlkioEntry
	for n, line := range lines(b) {
		var f [4][]byte
		nf := splitBlkio(line, f[:])
		if nf == 2 && string(f[0]) == "Total" {
			continue
		}
		var e dockerstats.BlkioEntry
		var errs [3]error
		switch nf {
		case 4:
			e.Op = blkioOp(f[2])
			e.Value, errs[2] = strconv.ParseUint(string(f[3]), 10, 64)
		case 3:
			e.Value, errs[2] = strconv.ParseUint(string(f[2]), 10, 64)
		default:
			return nil, fmt.Errorf("%s line %d: malformed: %q", path, n+1, truncate(line))
		}
		e.Major, errs[0] = strconv.ParseUint(string(f[0]), 10, 64)
		e.Minor, errs[1] = strconv.ParseUint(string(f[1]), 10, 64)
		if err := errors.Join(errs[:]...); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n+1, err)
		}
		if out == nil {
			out = make([]dockerstats.BlkioEntry, 0, bytes.Count(b, []byte{'\n'}))
		}
		out = append(out, e)
	}
	return out, nil
}

// splitBlkio splits a line at spaces and colons into f, and returns how
// many fields it has, len(f)+1 for more than fit.
func splitBlkio(line []byte, f [][]byte) int {
	n := 0
	for len(line) > 0 {
		i := bytes.IndexFunc(line, func(r rune) bool { return r != ' ' && r != ':' })
		if i < 0 {
			break
		}
		line = line[i:]
		j := bytes.IndexAny(line, " :")
		if j < 0 {
			j = len(line)
		}
		if n == len(f) {
			return n + 1
		}
		f[n], line, n = line[:j], line[j:], n+1
	}
	return n
}

// blkioOps are the kernel's operation names, shared by every sample
// rather than copied into each.
var blkioOps = map[string]string{"Read": "Read", "Write": "Write", "Sync": "Sync", "Async": "Async", "Discard": "Discard", "Total": "Total"}

func blkioOp(b []byte) string {
	if op, ok := blkioOps[string(b)]; ok {
		return op
	}
	return string(b)
}
