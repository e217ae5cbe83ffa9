package cgroupstats

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/snadboy/docker-monitor/dockerstats"
)

// outcome checks what Read made of a broken tree.
type outcome func(t *testing.T, s *dockerstats.Stats, err error)

func gone(t *testing.T, _ *dockerstats.Stats, err error) {
	t.Helper()
	if !errors.Is(err, ErrGone) {
		t.Errorf("err = %v, want ErrGone", err)
	}
}

func otherNamespace(t *testing.T, _ *dockerstats.Stats, err error) {
	t.Helper()
	if !errors.Is(err, errCgroupNS) || !strings.Contains(err.Error(), "--cgroupns=host") {
		t.Errorf("err = %v, want the --cgroupns=host advice", err)
	}
}

// fails wants an error that is not churn and says what is wrong.
func fails(substr string) outcome {
	return func(t *testing.T, _ *dockerstats.Stats, err error) {
		t.Helper()
		if err == nil || errors.Is(err, ErrGone) || !strings.Contains(err.Error(), substr) {
			t.Errorf("err = %v, want an error containing %q", err, substr)
		}
	}
}

// reads wants a sample, checked by check: a missing file reads as zero,
// as it does for the library in Docker's shim.
func reads(check func(s *dockerstats.Stats) bool) outcome {
	return func(t *testing.T, s *dockerstats.Stats, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("err = %v, want a sample", err)
		}
		if !check(s) {
			t.Errorf("unexpected sample %+v", s)
		}
	}
}

type badTree struct {
	name, tree string
	mutate     func(t *testing.T, tr tree)
	want       outcome
}

const fiftyKiB = 50 << 10

var badTrees = []badTree{
	// The process and its cgroup.
	{"process gone", "v1-cgroupfs", func(t *testing.T, tr tree) { remove(t, tr.proc("")) }, gone},
	{"pid reused by another process", "v1-cgroupfs", func(t *testing.T, tr tree) {
		write(t, tr.proc("cgroup"), "4:memory:/user.slice/user-1000.slice\n2:cpuacct:/user.slice\n1:cpu:/user.slice\n")
	}, gone},
	{"pid reused, v2", "v2-systemd", func(t *testing.T, tr tree) { write(t, tr.proc("cgroup"), "0::/init.scope\n") }, gone},
	{"cgroup removed", "v1-cgroupfs", func(t *testing.T, tr tree) {
		for _, c := range v1Controllers {
			remove(t, tr.cg(c, ""))
		}
	}, gone},
	{"cgroup removed while read", "v1-cgroupfs", func(t *testing.T, tr tree) { remove(t, tr.cg("cpuacct", "")) }, gone},
	{"cgroup removed, v2", "v2-cgroupfs", func(t *testing.T, tr tree) { remove(t, tr.cg("", "")) }, gone},
	{"exiting process's deleted cgroup", "v2-cgroupfs", func(t *testing.T, tr tree) {
		write(t, tr.proc("cgroup"), "0::"+tr.group+" (deleted)\n")
	}, gone},
	{"network namespace gone", "v1-cgroupfs", func(t *testing.T, tr tree) { remove(t, tr.proc("net")) }, gone},
	{"cgroup namespace: relative path", "v2-systemd", func(t *testing.T, tr tree) {
		write(t, tr.proc("cgroup"), "0::/../../system.slice/docker-"+tr.info.ID+".scope\n")
	}, otherNamespace},
	{"cgroup namespace: own root", "v2-cgroupfs", func(t *testing.T, tr tree) { write(t, tr.proc("cgroup"), "0::/\n") }, otherNamespace},
	{"cgroup namespace, v1", "v1-cgroupfs", func(t *testing.T, tr tree) {
		write(t, tr.proc("cgroup"), "4:memory:/..\n2:cpuacct:/..\n")
	}, otherNamespace},
	{"nested cgroup of the container", "v2-cgroupfs", func(t *testing.T, tr tree) {
		write(t, tr.proc("cgroup"), "0::"+tr.group+"/init.scope\n")
	}, reads(func(s *dockerstats.Stats) bool { return s.MemoryStats.Usage == 5914624 })},
	{"unused v1 hierarchies anywhere", "v1-cgroupfs", func(t *testing.T, tr tree) {
		write(t, tr.proc("cgroup"), "12:misc:/\n11:name=systemd:/elsewhere\n4:memory:"+tr.group+"\n0::/\n")
	}, reads(func(s *dockerstats.Stats) bool { return s.MemoryStats.Usage > 0 && s.CPUStats.CPUUsage.TotalUsage == 0 })},
	{"co-mounted cpu,cpuacct", "v1-cgroupfs", func(t *testing.T, tr tree) { comount(t, tr, false) }, cpuAsRecorded},
	{"co-mounted cpu,cpuacct, linked by name", "v1-cgroupfs", func(t *testing.T, tr tree) { comount(t, tr, true) }, cpuAsRecorded},
	{"no v1 controller of Docker's", "v1-cgroupfs", func(t *testing.T, tr tree) {
		write(t, tr.proc("cgroup"), "9:name=systemd:"+tr.group+"\n")
	}, fails("no cgroup v1 hierarchy")},
	{"escaping cgroup path", "v1-cgroupfs", func(t *testing.T, tr tree) {
		write(t, tr.proc("cgroup"), "4:memory:"+tr.group+"/../../../../etc\n")
	}, fails("malformed cgroup path")},
	{"garbage /proc/pid/cgroup", "v1-cgroupfs", func(t *testing.T, tr tree) { write(t, tr.proc("cgroup"), "garbage\n") }, fails("cgroup")},
	{"empty /proc/pid/cgroup", "v2-systemd", func(t *testing.T, tr tree) { write(t, tr.proc("cgroup"), "") }, fails("no cgroup v2 hierarchy")},

	// Missing files read as zero, as in Docker's answer.
	{"no cpu.stat", "v1-cgroupfs", func(t *testing.T, tr tree) { remove(t, tr.cg("cpu", "cpu.stat")) },
		reads(func(s *dockerstats.Stats) bool {
			return s.CPUStats.CPUUsage.TotalUsage > 0 && s.CPUStats.ThrottlingData.Periods == 0
		})},
	{"no memory.stat", "v1-cgroupfs", func(t *testing.T, tr tree) { remove(t, tr.cg("memory", "memory.stat")) },
		reads(func(s *dockerstats.Stats) bool { return s.MemoryStats.Stats.TotalInactiveFile == nil })},
	{"no blkio files", "v1-cgroupfs", func(t *testing.T, tr tree) {
		remove(t, tr.cg("blkio", "blkio.throttle.io_service_bytes"))
	}, reads(func(s *dockerstats.Stats) bool { return s.BlkioStats.IoServiceBytesRecursive == nil })},
	{"no pids.max, v2", "v2-systemd", func(t *testing.T, tr tree) { remove(t, tr.cg("", "pids.max")) },
		reads(func(s *dockerstats.Stats) bool { return s.PidsStats.Current == 7 && s.PidsStats.Limit == 0 })},

	// Garbage and truncation.
	{"garbage cpuacct.usage", "v1-cgroupfs", func(t *testing.T, tr tree) { write(t, tr.cg("cpuacct", "cpuacct.usage"), "lots\n") }, fails("lots")},
	{"garbage memory.stat", "v1-cgroupfs", func(t *testing.T, tr tree) {
		write(t, tr.cg("memory", "memory.stat"), "total_inactive_file\n")
	}, fails("reading cgroup")},
	{"truncated blkio line", "v1-cgroupfs", func(t *testing.T, tr tree) {
		write(t, tr.cg("blkio", "blkio.throttle.io_service_bytes"), "254:0 Read 0\n254:0 Wri")
	}, fails("line 2")},
	{"garbage blkio device", "v1-cgroupfs", func(t *testing.T, tr tree) {
		write(t, tr.cg("blkio", "blkio.throttle.io_service_bytes"), "x:0 Read 1\n")
	}, fails("line 1")},
	{"huge blkio file", "v1-cgroupfs", func(t *testing.T, tr tree) {
		write(t, tr.cg("blkio", "blkio.throttle.io_service_bytes"), strings.Repeat("254:0 Read 1\n", 2*maxCgroupFile/13))
	}, fails("too large")},
	{"truncated net/dev line", "v1-cgroupfs", func(t *testing.T, tr tree) {
		write(t, tr.proc("net/dev"), "h\nh\n  eth0:    4360      34    0")
	}, fails("3 fields, want 16")},
	{"net/dev line without a name", "v1-cgroupfs", func(t *testing.T, tr tree) { write(t, tr.proc("net/dev"), "h\nh\n   \n") }, fails("malformed")},
	{"net/dev with garbage counters", "v1-cgroupfs", func(t *testing.T, tr tree) {
		write(t, tr.proc("net/dev"), "h\nh\neth0: "+strings.Repeat("1 ", 15)+"x\n")
	}, fails("field 16")},
	{"net/dev with extra counters", "v1-cgroupfs", func(t *testing.T, tr tree) {
		write(t, tr.proc("net/dev"), "h\nh\neth0: "+strings.Repeat("1 ", 17)+"\n")
	}, fails("more than 16")},
	{"huge net/dev", "v1-cgroupfs", func(t *testing.T, tr tree) {
		write(t, tr.proc("net/dev"), "h\nh\n"+strings.Repeat("x", 6*fiftyKiB))
	}, fails("too large")},
	{"net/dev is a FIFO", "v1-cgroupfs", func(t *testing.T, tr tree) {
		remove(t, tr.proc("net/dev"))
		if err := syscall.Mkfifo(tr.proc("net/dev"), 0o644); err != nil {
			t.Fatal(err)
		}
	}, reads(func(s *dockerstats.Stats) bool { return s.Networks == nil })},
	{"net/dev is endless", "v1-cgroupfs", func(t *testing.T, tr tree) {
		remove(t, tr.proc("net/dev"))
		if err := os.Symlink("/dev/zero", tr.proc("net/dev")); err != nil {
			t.Fatal(err)
		}
	}, fails("too large")},
	{"only kernel interfaces", "v1-cgroupfs", func(t *testing.T, tr tree) {
		write(t, tr.proc("net/dev"), "h\nh\nlo: "+strings.Repeat("1 ", 16)+"\nsit0: "+strings.Repeat("0 ", 16)+"\n")
	}, reads(func(s *dockerstats.Stats) bool { return s.Networks == nil })},
	{"no /proc/stat", "v1-cgroupfs", func(t *testing.T, tr tree) { remove(t, filepath.Join(tr.procRoot(), "stat")) }, fails("stat")},
	{"garbage /proc/stat", "v1-cgroupfs", func(t *testing.T, tr tree) {
		write(t, filepath.Join(tr.procRoot(), "stat"), "cpu  1 2 3 x 5 6 7\ncpu0 1\n")
	}, fails("field 4")},
	{"short cpu line", "v1-cgroupfs", func(t *testing.T, tr tree) {
		write(t, filepath.Join(tr.procRoot(), "stat"), "cpu  1 2 3\ncpu0 1\n")
	}, fails("3 fields, want 7")},
	{"no cpuN lines", "v1-cgroupfs", func(t *testing.T, tr tree) {
		write(t, filepath.Join(tr.procRoot(), "stat"), "cpu  1 2 3 4 5 6 7\nintr 1\n")
	}, fails("no cpu lines")},
	{"odd cpu line", "v1-cgroupfs", func(t *testing.T, tr tree) {
		write(t, filepath.Join(tr.procRoot(), "stat"), "cpu  1 2 3 4 5 6 7\ncpux 1\n")
	}, fails("malformed")},
	{"endless cpu line", "v1-cgroupfs", func(t *testing.T, tr tree) {
		write(t, filepath.Join(tr.procRoot(), "stat"), "cpu  1 2 3 4 5 6 7 "+strings.Repeat("8 ", fiftyKiB))
	}, fails("buffer full")},
	{"garbage cpu.stat, v2", "v2-systemd", func(t *testing.T, tr tree) { write(t, tr.cg("", "cpu.stat"), "usage_usec\n") }, fails("cpu.stat")},
	{"empty line in cpu.pressure, v2", "v2-systemd", func(t *testing.T, tr tree) {
		write(t, tr.cg("", "cpu.pressure"), "\n")
	}, fails("malformed cgroup file")},
	{"garbage memory.current, v2, read as zero like Docker", "v2-systemd", func(t *testing.T, tr tree) {
		write(t, tr.cg("", "memory.current"), "many\n")
	}, reads(func(s *dockerstats.Stats) bool { return s.MemoryStats.Usage == 0 && s.MemoryStats.Limit == 268435456 })},
	{"garbage io.stat, v2", "v2-systemd", func(t *testing.T, tr tree) { write(t, tr.cg("", "io.stat"), "8:x rbytes=1\n8:1 =\n") },
		reads(func(s *dockerstats.Stats) bool { return s.BlkioStats.IoServiceBytesRecursive == nil })},
}

// comount moves the recorded tree's cpu and cpuacct hierarchies into one,
// as mounting them together makes them, optionally with systemd's links.
func comount(t *testing.T, tr tree, links bool) {
	t.Helper()
	both := filepath.Join(tr.cgroupRoot(), "cpu,cpuacct")
	if err := os.MkdirAll(filepath.Join(both, tr.group), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"cpu", "cpuacct"} {
		files, err := os.ReadDir(tr.cg(c, ""))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.Rename(tr.cg(c, f.Name()), filepath.Join(both, tr.group, f.Name())); err != nil {
				t.Fatal(err)
			}
		}
		remove(t, filepath.Join(tr.cgroupRoot(), c))
		if links {
			if err := os.Symlink("cpu,cpuacct", filepath.Join(tr.cgroupRoot(), c)); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(t, tr.proc("cgroup"), "4:memory:"+tr.group+"\n2:cpu,cpuacct:"+tr.group+"\n")
}

// cpuAsRecorded wants the CPU counters of the unbroken recorded tree.
func cpuAsRecorded(t *testing.T, s *dockerstats.Stats, err error) {
	t.Helper()
	want, werr := loadTree(t, filepath.Join("testdata", "v1-cgroupfs")).read(false)
	if err != nil || werr != nil {
		t.Fatalf("err = %v (unbroken tree: %v), want a sample", err, werr)
	}
	if s.CPUStats != want.CPUStats || s.CPUStats.CPUUsage.TotalUsage == 0 {
		t.Errorf("cpu stats %+v, want %+v", s.CPUStats, want.CPUStats)
	}
}

// TestBadTrees reads broken copies of the testdata trees: never a panic,
// churn is ErrGone, everything else an error that says what is wrong.
func TestBadTrees(t *testing.T) {
	for _, c := range badTrees {
		t.Run(c.name, func(t *testing.T) {
			tr := copyTree(t, c.tree)
			c.mutate(t, tr)
			s, err := tr.read(false)
			c.want(t, s, err)
		})
	}
}
