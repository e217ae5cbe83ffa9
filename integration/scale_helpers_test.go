package integration

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// fakeFleetBin is internal/dockerfake/cmd/fakefleet, built once per test
// process.
var fakeFleetBin struct {
	once sync.Once
	path string
	err  error
}

func buildFakeFleet() (string, error) {
	fakeFleetBin.once.Do(func() {
		// `go test` puts its own go first on PATH.
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = "/usr/local/go/bin/go"
		}
		dir, err := os.MkdirTemp("", "dmlab-fakefleet-bin-")
		if err != nil {
			fakeFleetBin.err = err
			return
		}
		registerBenchCleanup(func() { os.RemoveAll(dir) })
		_, file, _, _ := runtime.Caller(0)
		out := filepath.Join(dir, "fakefleet")
		cmd := exec.Command(goTool, "build", "-o", out, "./internal/dockerfake/cmd/fakefleet")
		cmd.Dir = filepath.Dir(filepath.Dir(file))
		if b, err := cmd.CombinedOutput(); err != nil {
			fakeFleetBin.err = fmt.Errorf("go build fakefleet: %v\n%s", err, b)
			return
		}
		fakeFleetBin.path = out
	})
	return fakeFleetBin.path, fakeFleetBin.err
}

// fleetProc is a fakefleet process: the simulated daemons, in a process of
// their own so that the exporter's CPU and memory are its alone.
type fleetProc struct {
	cmd       *exec.Cmd
	dir       string
	hostsFile string
	exited    chan struct{}
	stderr    bytes.Buffer
}

// startFakeFleet runs fakefleet with args and waits until it serves.
func startFakeFleet(args ...string) (*fleetProc, error) {
	bin, err := buildFakeFleet()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "dmlab-fleet-")
	if err != nil {
		return nil, err
	}
	f := &fleetProc{dir: dir, exited: make(chan struct{})}
	f.cmd = exec.Command(bin, append([]string{"-dir", dir}, args...)...)
	f.cmd.Stderr = &f.stderr
	// Should this process die without its cleanups, the fleet goes too.
	f.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdout, err := f.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := f.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	lines := make(chan string)
	go func() {
		defer close(f.exited)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_ = f.cmd.Wait()
	}()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				f.stop()
				return nil, fmt.Errorf("fakefleet exited: %s", f.stderr.String())
			}
			if p, found := strings.CutPrefix(l, "hosts-file "); found {
				f.hostsFile = p
			}
			if l == "ready" {
				go func() {
					for range lines { // nothing more is printed; keep the pipe drained
					}
				}()
				return f, nil
			}
		case <-timeout:
			f.stop()
			return nil, errors.New("fakefleet not ready after 2 minutes")
		}
	}
}

func (f *fleetProc) pid() int { return f.cmd.Process.Pid }

// stop ends the fleet by its PID and removes its directory.
func (f *fleetProc) stop() {
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-f.exited:
	case <-time.After(30 * time.Second):
		_ = f.cmd.Process.Kill()
		<-f.exited
	}
	os.RemoveAll(f.dir)
}

// scaleScrape is one scrape as Prometheus makes it (gzip accepted, a 10 s
// scrape timeout), and what it returned.
type scaleScrape struct {
	dur      time.Duration
	wire     int // bytes on the wire, gzipped
	plain    int // bytes of exposition text
	series   int
	cpuStats int // containers with a CPU usage series: stats read in time
	body     []byte
}

func scrapeScale(ctx context.Context, url string) (scaleScrape, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return scaleScrape{}, err
	}
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return scaleScrape{}, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	s := scaleScrape{dur: time.Since(start), wire: len(raw)}
	if err != nil {
		return s, err
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" {
		return s, fmt.Errorf("scrape: %s, Content-Encoding %q", resp.Status, resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return s, err
	}
	if s.body, err = io.ReadAll(zr); err != nil {
		return s, err
	}
	s.plain = len(s.body)
	s.series = bytes.Count(s.body, []byte("\n")) - bytes.Count(s.body, []byte("\n#")) - boolInt(bytes.HasPrefix(s.body, []byte("#")))
	s.cpuStats = bytes.Count(s.body, []byte("\ndocker_container_cpu_usage_seconds_total{"))
	return s, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// linesWith are the lines of body that start with one of the prefixes, for
// a failure's message.
func linesWith(body []byte, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(string(body), "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
