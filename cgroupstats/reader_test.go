package cgroupstats

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/dockerstats"
)

var update = flag.Bool("update", false, "rewrite the golden files testdata/*.golden.json")

// trees are the file trees under testdata (see testdata/README.md).
var trees = []string{"v1-cgroupfs", "v2-systemd", "v2-cgroupfs"}

// tree is a copy of a testdata tree: its roots and its container.
type tree struct {
	dir   string
	info  treeInfo
	group string // the container's cgroup path, in each v1 controller or the v2 hierarchy
	v1    bool
}

func loadTree(t testing.TB, dir string) tree {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "container.json"))
	if err != nil {
		t.Fatal(err)
	}
	tr := tree{dir: dir}
	if err := json.Unmarshal(b, &tr.info); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	cg, err := os.ReadFile(tr.proc("cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(cg), "\n")
	tr.group = line[strings.LastIndexByte(line, ':')+1:]
	_, err = os.Stat(filepath.Join(dir, "sys/fs/cgroup/cgroup.controllers"))
	tr.v1 = err != nil
	return tr
}

func (tr tree) cgroupRoot() string { return filepath.Join(tr.dir, "sys/fs/cgroup") }
func (tr tree) procRoot() string   { return filepath.Join(tr.dir, "proc") }

// proc is a file of the container's process.
func (tr tree) proc(rel string) string {
	return filepath.Join(tr.procRoot(), strconv.Itoa(tr.info.PID), rel)
}

// cg is a file of the container's cgroup; ctrl is ignored on v2.
func (tr tree) cg(ctrl, file string) string {
	if !tr.v1 {
		ctrl = ""
	}
	return filepath.Join(tr.cgroupRoot(), ctrl, tr.group, file)
}

func (tr tree) read(hostNetwork bool) (*dockerstats.Stats, error) {
	r, err := New(tr.cgroupRoot(), tr.procRoot())
	if err != nil {
		return nil, err
	}
	return r.Read(tr.info.ID, tr.info.PID, hostNetwork)
}

// TestGolden reads each tree and compares the sample with
// testdata/<tree>.golden.json, or rewrites it with -update.
func TestGolden(t *testing.T) {
	for _, name := range trees {
		t.Run(name, func(t *testing.T) {
			tr := loadTree(t, filepath.Join("testdata", name))
			r, err := New(tr.cgroupRoot(), tr.procRoot())
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 1, false: 2}[tr.v1]; r.Version() != want {
				t.Errorf("Version() = %d, want %d", r.Version(), want)
			}
			before := time.Now()
			s, err := r.Read(tr.info.ID, tr.info.PID, false)
			if err != nil {
				t.Fatal(err)
			}
			if s.Read.Before(before) || s.Read.After(time.Now()) {
				t.Errorf("read time %v is not the time of the read", s.Read)
			}
			s.Read = time.Time{}
			got, err := json.MarshalIndent(s, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("sample differs from %s (rerun with -update if intended):\n%s", golden, got)
			}
			hs, err := r.Read(tr.info.ID, tr.info.PID, true)
			if err != nil || hs.Networks != nil {
				t.Errorf("host network: networks %v, err %v; want none", hs.Networks, err)
			}
		})
	}
}

// TestRecordedTreeMatchesAPI checks the reading of the recorded v1 tree
// against Docker's own answers, recorded just before and after its files.
func TestRecordedTreeMatchesAPI(t *testing.T) {
	dir := filepath.Join("testdata", "v1-cgroupfs")
	got, err := loadTree(t, dir).read(false)
	if err != nil {
		t.Fatal(err)
	}
	var api [2]dockerstats.Stats
	for i, name := range []string{"api-before.json", "api-after.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &api[i]); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for _, p := range compareStats(&api[0], got, &api[1]) {
		t.Error(p)
	}
}

// copyTree copies a testdata tree into a temporary directory to break.
func copyTree(t *testing.T, name string) tree {
	t.Helper()
	src, dst := filepath.Join("testdata", name), t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return loadTree(t, dst)
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}

func TestNewNeitherVersion(t *testing.T) {
	dir := t.TempDir()
	_, err := New(dir, "testdata/v1-cgroupfs/proc")
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("New(empty dir) = %v, want an error naming %s", err, dir)
	}
	if _, err := New("testdata/v1-cgroupfs/sys/fs/cgroup", filepath.Join(dir, "nothing")); err == nil {
		t.Error("New with no proc filesystem: no error")
	}
}

func TestReadBadArguments(t *testing.T) {
	tr := loadTree(t, filepath.Join("testdata", "v1-cgroupfs"))
	r, err := New(tr.cgroupRoot(), tr.procRoot())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id  string
		pid int
	}{{"", tr.info.PID}, {tr.info.ID[:12], tr.info.PID}, {strings.ToUpper(tr.info.ID), tr.info.PID},
		{"../../../../etc/passwd" + tr.info.ID[22:], tr.info.PID}, {tr.info.ID, 0}, {tr.info.ID, -1}} {
		if _, err := r.Read(c.id, c.pid, false); err == nil || errors.Is(err, ErrGone) {
			t.Errorf("Read(%q, %d) = %v, want an error", c.id, c.pid, err)
		}
	}
}

func TestErrGoneIsNotRunning(t *testing.T) {
	if !errors.Is(ErrGone, dockerstats.ErrNotRunning) {
		t.Error("ErrGone does not wrap dockerstats.ErrNotRunning, which the stats rounds count as churn")
	}
}

// TestConcurrentReads shares one Reader between goroutines, as a stats
// round does (run with -race).
func TestConcurrentReads(t *testing.T) {
	for _, name := range trees {
		tr := loadTree(t, filepath.Join("testdata", name))
		r, err := New(tr.cgroupRoot(), tr.procRoot())
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 8)
		for range cap(errs) {
			go func() {
				var err error
				for range 20 {
					if _, err = r.Read(tr.info.ID, tr.info.PID, false); err != nil {
						break
					}
				}
				errs <- err
			}()
		}
		for range cap(errs) {
			if err := <-errs; err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}
