package cgroupstats

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/snadboy/docker-monitor/dockerstats"
)

// FuzzParsers feeds arbitrary bytes to this package's own parsers, seeded
// with the recorded files: errors are fine, panics are not.
func FuzzParsers(f *testing.F) {
	tr := loadTree(f, filepath.Join("testdata", "v1-cgroupfs"))
	for _, p := range []string{tr.proc("net/dev"), filepath.Join(tr.procRoot(), "stat"), filepath.Join(tr.procRoot(), "meminfo"),
		tr.cg("blkio", "blkio.throttle.io_service_bytes")} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("h\nh\n eth0: 1 2\ncpu  1\n254:0 Read\nMemTotal: x kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		nets, err := parseNetDev("net/dev", b)
		if err == nil {
			checkNets(t, nets)
		}
		_, _ = parseBlkio("blkio", b)
		_, _ = parseMemTotal("meminfo", b)
		_, _, _ = scanProcStat("stat", bufio.NewReaderSize(bytes.NewReader(b), 4096))
	})
}

func checkNets(t *testing.T, nets map[string]dockerstats.NetworkStats) {
	if nets != nil && len(nets) == 0 {
		t.Error("an empty, non-nil map of networks")
	}
	for name := range nets {
		if kernelOnlyInterfaces[name] || name == "" {
			t.Errorf("interface %q listed", name)
		}
	}
}
