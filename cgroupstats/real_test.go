package cgroupstats

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/dockerstats"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

var record = flag.Bool("record", false, "re-record testdata/v1-cgroupfs from a real container (cgroup v1 hosts only)")

func TestMain(m *testing.M) { os.Exit(testlab.Main(m)) }

// realContainer is a fixture container and what it exercises.
type realContainer struct {
	name, why string
	args      []string
	cmd       []string
	hostNet   bool
}

var realContainers = []realContainer{
	{name: "cgs-limits", why: "memory, CPU and PIDs limits, CPU throttling",
		args: []string{"--cpus", "0.5", "--memory", "64m", "--pids-limit", "50"}, cmd: []string{"cpu"}},
	{name: "cgs-web", why: "network traffic on eth0", args: []string{"-p", "127.0.0.1::80"}, cmd: []string{"serve", "80"}},
	{name: "cgs-write", why: "block I/O", cmd: []string{"write", "1048576"}},
	{name: "cgs-hostnet", why: "host network: no networks", hostNet: true},
}

// TestReadMatchesDockerAPI reads running containers of a real Docker 20.10
// through its stats call, the cgroup files, and the stats call again, and
// checks every field Docker reports: counters read from the files lie
// between the two API reads, gauges within the drift between them, limits
// and the interfaces and devices listed are equal.
func TestReadMatchesDockerAPI(t *testing.T) {
	d := testlab.Shared(t)
	r, err := New("/sys/fs/cgroup", "/proc")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cgroup v%d", r.Version())
	ids := map[string]string{}
	for _, c := range realContainers {
		if c.hostNet { // not d.Run, which attaches its own network: Docker refuses two
			ids[c.name] = strings.TrimSpace(d.Docker(t, append([]string{"run", "-d", "--name", c.name, "--network", "host", d.Image(t)}, c.cmd...)...))
			t.Cleanup(func() { _, _ = d.TryDocker("rm", "-f", c.name) })
			continue
		}
		ids[c.name] = d.Run(t, c.name, c.args, c.cmd...)
	}
	makeTraffic(t, d, "cgs-web", 20)
	waitLog(t, d, "cgs-write", "wrote")
	api := apiClient(d)
	for _, c := range realContainers {
		t.Run(c.name, func(t *testing.T) {
			id := ids[c.name]
			pid, err := strconv.Atoi(strings.TrimSpace(d.Docker(t, "inspect", "-f", "{{.State.Pid}}", id)))
			if err != nil {
				t.Fatal(err)
			}
			before := api.stats(t, id)
			got, err := r.Read(id, pid, c.hostNet)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			after := api.stats(t, id)
			for _, p := range compareStats(before, got, after) {
				t.Errorf("%s (%s): %s", c.name, c.why, p)
			}
			logSample(t, got)
			if c.hostNet && got.Networks != nil {
				t.Errorf("%s: networks %v; Docker reports none for the host's network", c.name, got.Networks)
			}
			if c.name == "cgs-web" && got.Networks["eth0"].RxBytes == 0 {
				t.Errorf("%s: no bytes received on eth0: %v", c.name, got.Networks)
			}
			if *record && c.name == "cgs-web" {
				// Some block I/O too; "write" then sleeps, as a second process.
				d.Docker(t, "exec", "-d", id, "/fixture", "write", "65536")
				for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
					if _, w := api.stats(t, id).BlockIO(); w > 0 || time.Now().After(deadline) {
						break
					}
				}
				recordV1(t, d, api, id, pid)
			}
		})
	}
}

func logSample(t *testing.T, s *dockerstats.Stats) {
	t.Helper()
	rx, tx := s.NetworkTotals()
	rd, wr := s.BlockIO()
	t.Logf("cpu %dns throttled %d/%d, memory %d/%d, pids %d/%d, net rx %d tx %d, blkio read %d write %d",
		s.CPUStats.CPUUsage.TotalUsage, s.CPUStats.ThrottlingData.ThrottledPeriods, s.CPUStats.ThrottlingData.Periods,
		s.MemoryStats.Usage, s.MemoryStats.Limit, s.PidsStats.Current, s.PidsStats.Limit, rx, tx, rd, wr)
}

// makeTraffic sends n HTTP requests to a container's published port 80 on
// loopback; the daemon's proxy forwards them to its eth0.
func makeTraffic(t *testing.T, d *testlab.Daemon, name string, n int) {
	t.Helper()
	addr := strings.Split(strings.TrimSpace(d.Docker(t, "port", name, "80/tcp")), "\n")[0]
	c := &http.Client{Timeout: 5 * time.Second}
	for i := 0; i < n; i++ {
		var resp *http.Response
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if resp, err = c.Get("http://" + addr + "/"); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Fatalf("request %d to %s: %v", i, name, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func waitLog(t *testing.T, d *testlab.Daemon, name, want string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if strings.Contains(d.Docker(t, "logs", name), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never logged %q", name, want)
		}
	}
}

// dockerAPI is a bare client of the daemon's socket: the raw answer is
// decoded into the same model the exporter decodes it into.
type dockerAPI struct{ c *http.Client }

func apiClient(d *testlab.Daemon) dockerAPI {
	sock := strings.TrimPrefix(d.Host, "unix://")
	return dockerAPI{&http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", sock)
		},
	}}}
}

// raw returns one one-shot stats answer, as the exporter asks for it.
func (a dockerAPI) raw(t testing.TB, id string) []byte {
	t.Helper()
	resp, err := a.c.Get("http://docker/containers/" + id + "/stats?stream=false&one-shot=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("stats %.12s: %s %v: %s", id, resp.Status, err, b)
	}
	return b
}

func (a dockerAPI) stats(t testing.TB, id string) *dockerstats.Stats {
	t.Helper()
	var s dockerstats.Stats
	if err := json.Unmarshal(a.raw(t, id), &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// v1Files are the files of a container's v1 cgroup the reader reads.
var v1Files = map[string][]string{
	"cpuacct": {"cpuacct.stat", "cpuacct.usage", "cpuacct.usage_percpu"},
	"cpu":     {"cpu.stat"},
	"memory": {"memory.stat", "memory.oom_control", "memory.usage_in_bytes", "memory.max_usage_in_bytes",
		"memory.limit_in_bytes", "memory.failcnt"},
	"pids":  {"pids.current", "pids.max"},
	"blkio": {"blkio.throttle.io_service_bytes", "blkio.throttle.io_serviced"},
}

// recordV1 copies what Read reads of a running container into
// testdata/v1-cgroupfs, between two API answers kept alongside, which the
// golden test checks the tree's reading against.
func recordV1(t *testing.T, d *testlab.Daemon, api dockerAPI, id string, pid int) {
	t.Helper()
	dir := filepath.Join("testdata", "v1-cgroupfs")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	before := api.raw(t, id)
	cgFile := fmt.Sprintf("/proc/%d/cgroup", pid)
	copyInto(t, dir, cgFile)
	copyInto(t, dir, fmt.Sprintf("/proc/%d/net/dev", pid))
	copyInto(t, dir, "/proc/stat")
	copyInto(t, dir, "/proc/meminfo")
	b, err := os.ReadFile(cgFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		for _, ctrl := range strings.Split(f[1], ",") {
			for _, name := range v1Files[ctrl] {
				copyInto(t, dir, filepath.Join("/sys/fs/cgroup", ctrl, f[2], name))
			}
		}
	}
	after := api.raw(t, id)
	meta, _ := json.MarshalIndent(treeInfo{ID: id, PID: pid, Docker: strings.TrimSpace(d.Docker(t, "version", "-f", "{{.Server.Version}}")),
		Recorded: time.Now().UTC().Format(time.RFC3339)}, "", "  ")
	for name, b := range map[string][]byte{"container.json": meta, "api-before.json": before, "api-after.json": after} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("recorded %s", dir)
}

func copyInto(t *testing.T, dir, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, path)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// treeInfo is testdata/<tree>/container.json: what to read the tree with.
type treeInfo struct {
	ID       string `json:"id"`
	PID      int    `json:"pid"`
	Docker   string `json:"docker,omitempty"`
	Recorded string `json:"recorded,omitempty"`
}
