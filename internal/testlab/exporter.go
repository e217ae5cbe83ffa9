package testlab

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ExporterVersion is the version the test build of docker-monitor reports.
const ExporterVersion = "test-version"

var exporterBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// ExporterBinary returns docker-monitor built once per test process, static
// as `make build` builds it, so that it also runs in the FROM scratch image.
func ExporterBinary(t testing.TB) string {
	t.Helper()
	exporterBin.once.Do(func() {
		dir, err := os.MkdirTemp("/tmp", "dmlab-exporter-bin-")
		if err != nil {
			exporterBin.err = err
			return
		}
		writeOwner(dir, -1)
		exporterBin.dir = dir
		exporterBin.path = filepath.Join(dir, "docker-monitor")
		exporterBin.err = buildStatic(".", exporterBin.path,
			"-s -w -X github.com/prometheus/common/version.Version="+ExporterVersion)
	})
	if exporterBin.err != nil {
		t.Fatalf("testlab: building docker-monitor: %v", exporterBin.err)
	}
	return exporterBin.path
}

func removeExporterBinary() {
	if exporterBin.dir != "" {
		os.RemoveAll(exporterBin.dir)
	}
}

// Exporter is a docker-monitor process started by a test.
type Exporter struct {
	URL    string // http://127.0.0.1:port
	PID    int
	cmd    *exec.Cmd
	mu     sync.Mutex
	logs   strings.Builder
	exited chan struct{}
	err    error
}

var listening = regexp.MustCompile(`msg="Listening on" address=(\S+)`)

// LaunchExporter starts the binary on a free loopback port with the given
// flags and extra environment, and waits until it listens. The caller must
// Stop it; StartExporter does that at the end of the test.
func LaunchExporter(bin string, env []string, args ...string) (*Exporter, error) {
	cmd := exec.Command(bin, append([]string{"--web.listen-address=127.0.0.1:0", "--log.format=logfmt"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	e := &Exporter{PID: cmd.Process.Pid, cmd: cmd, exited: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			e.mu.Lock()
			e.logs.WriteString(sc.Text() + "\n")
			e.mu.Unlock()
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		e.err = cmd.Wait()
		close(e.exited)
	}()
	select {
	case a := <-addr:
		e.URL = "http://" + a
		return e, nil
	case <-e.exited:
		return nil, fmt.Errorf("docker-monitor exited: %v\n%s", e.err, e.Logs())
	case <-time.After(30 * time.Second):
		_ = e.Stop()
		return nil, fmt.Errorf("docker-monitor did not listen within 30s:\n%s", e.Logs())
	}
}

// StartExporter is LaunchExporter with the process stopped at the end of t.
func StartExporter(t testing.TB, bin string, env []string, args ...string) *Exporter {
	t.Helper()
	e, err := LaunchExporter(bin, env, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop() })
	return e
}

// Logs returns what the exporter has logged so far.
func (e *Exporter) Logs() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.logs.String()
}

// Stop sends SIGTERM, as a service manager would, and returns the exit
// error (nil for a clean exit); after 30s it kills the process.
func (e *Exporter) Stop() error {
	select {
	case <-e.exited:
		return e.err
	default:
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(30 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.exited
		return fmt.Errorf("docker-monitor ignored SIGTERM for 30s")
	}
	return e.err
}
