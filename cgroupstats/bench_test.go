package cgroupstats

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/snadboy/docker-monitor/dockerstats"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// BenchmarkRead is one container's sample from the recorded trees: the
// exporter's cost per container and scrape (files on the test's disk, not
// the kernel's cgroupfs: see BenchmarkReadLive for that).
func BenchmarkRead(b *testing.B) {
	for _, name := range trees {
		b.Run(name, func(b *testing.B) {
			tr := loadTree(b, filepath.Join("testdata", name))
			r, err := New(tr.cgroupRoot(), tr.procRoot())
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Read(tr.info.ID, tr.info.PID, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeAPIAnswer is the baseline: what the exporter spends on
// the same sample from the API, decoding Docker's answer alone (without
// the HTTP call, and without the daemon's cost of making it).
func BenchmarkDecodeAPIAnswer(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "v1-cgroupfs", "api-before.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var s dockerstats.Stats
		if err := json.Unmarshal(raw, &s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadLive reads a running container of a real daemon from this
// machine's cgroup tree and /proc: the kernel generates each file on read.
func BenchmarkReadLive(b *testing.B) {
	d := testlab.Shared(b)
	id := d.Run(b, "cgs-bench", nil, "serve", "80")
	pid := livePID(b, d, id)
	r, err := New("/sys/fs/cgroup", "/proc")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Read(id, pid, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAPIStatsLive is the API's one-shot stats call for the same
// kind of container, with the CPU time the daemon and its containerd
// spent on each call (daemon-cpu-ns/op), which reading the files saves.
// Each call waits for the daemon's next one-second sample: run it with
// -benchtime=10x.
func BenchmarkAPIStatsLive(b *testing.B) {
	d := testlab.Shared(b)
	id := d.Run(b, "cgs-bench-api", nil, "serve", "80")
	api := apiClient(d)
	api.raw(b, id) // the daemon's stats collector starts on the first call
	pids := d.ServicePIDs()
	start := cpuTime(b, pids)
	b.ReportAllocs()
	for b.Loop() {
		api.raw(b, id)
	}
	b.ReportMetric(float64(cpuTime(b, pids)-start)/float64(b.N), "daemon-cpu-ns/op")
}

func livePID(b testing.TB, d *testlab.Daemon, id string) int {
	b.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(d.Docker(b, "inspect", "-f", "{{.State.Pid}}", id)))
	if err != nil {
		b.Fatal(err)
	}
	return pid
}

// cpuTime is the user and system time of the processes, in nanoseconds.
func cpuTime(b testing.TB, pids []int) uint64 {
	b.Helper()
	var ticks uint64
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			b.Fatal(err)
		}
		// The fields after the command's closing parenthesis; utime and
		// stime are the 12th and 13th of them.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		for _, v := range f[11:13] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			ticks += n
		}
	}
	return ticks * nanosPerTick
}
