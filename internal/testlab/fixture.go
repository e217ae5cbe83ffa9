package testlab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	fixtureImage = "docker-monitor-fixture:test"
	networkName  = "dmlab"
	fixturePkg   = "./internal/testlab/fixture"
)

// No registry can be reached from the test machines, so the test image is
// built locally FROM scratch around the fixture binary, which also stands in
// for /bin/sh so that Docker's `sh -c` health checks work.
const dockerfile = `FROM scratch
COPY fixture /fixture
COPY sh /bin/sh
ENTRYPOINT ["/fixture"]
`

var fixtureBin struct {
	mu   sync.Mutex
	dir  string
	path string
	err  error
}

// FixtureBinary returns the path of the static fixture binary, compiled once per test process with CGO_ENABLED=0 `go build` of ./internal/testlab/fixture (locate the module root via `go env GOMOD` or runtime.Caller).
// It is static so that it runs in an image with no libc at all.
func FixtureBinary(t testing.TB) string {
	t.Helper()
	fixtureBin.mu.Lock()
	defer fixtureBin.mu.Unlock()
	if fixtureBin.path == "" && fixtureBin.err == nil {
		fixtureBin.path, fixtureBin.err = buildFixture()
	}
	if fixtureBin.err != nil {
		t.Fatalf("testlab: building fixture binary: %v", fixtureBin.err)
	}
	return fixtureBin.path
}

func buildFixture() (string, error) {
	dir, err := os.MkdirTemp("/tmp", "dmlab-fixture-bin-")
	if err != nil {
		return "", err
	}
	fixtureBin.dir = dir
	writeOwner(dir, -1) // lets a later run remove it if this process dies before Main cleans up
	out := filepath.Join(dir, "fixture")
	return out, buildStatic(fixturePkg, out, "-s -w")
}

// buildStatic compiles a package of this module into a static binary.
func buildStatic(pkg, out, ldflags string) error {
	goTool, err := findGo()
	if err != nil {
		return err
	}
	root, err := moduleRoot(goTool)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-ldflags="+ldflags, "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s in %s: %v\n%s", pkg, root, err, b)
	}
	return nil
}

func findGo() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	// `go test` puts its own go on PATH; this covers a test binary run by hand.
	for _, p := range []string{"/usr/local/go/bin/go"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no go tool in PATH or /usr/local/go")
}

// moduleRoot prefers this source file's location (the test binary was built
// from it, so it is the right checkout) and falls back to `go env GOMOD` run
// from the working directory, which go test sets to the package directory.
func moduleRoot(goTool string) (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		root := filepath.Join(filepath.Dir(file), "..", "..")
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			return filepath.Clean(root), nil
		}
	}
	out, err := exec.Command(goTool, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("cannot locate the module root: not inside a module")
	}
	return filepath.Dir(gomod), nil
}

func removeFixtureBinary() {
	fixtureBin.mu.Lock()
	defer fixtureBin.mu.Unlock()
	if fixtureBin.dir != "" {
		os.RemoveAll(fixtureBin.dir)
		fixtureBin.dir, fixtureBin.path, fixtureBin.err = "", "", nil
	}
}

// Image returns the fixture image's reference, building it on first use.
// After Restart the daemon keeps its images, so it is only rebuilt if missing.
func (d *Daemon) Image(t testing.TB) string {
	t.Helper()
	Require(t)
	d.setupMu.Lock() // parallel tests on a shared daemon must not build twice
	defer d.setupMu.Unlock()
	d.mu.Lock()
	ready := d.imageReady
	d.mu.Unlock()
	if ready {
		return fixtureImage
	}
	if _, _, err := d.docker(30*time.Second, "image", "inspect", "--format", "{{.Id}}", fixtureImage); err != nil {
		bin := FixtureBinary(t)
		ctxDir, err := os.MkdirTemp(d.Dir, "build-")
		if err != nil {
			t.Fatalf("testlab: %v", err)
		}
		defer os.RemoveAll(ctxDir)
		for _, name := range []string{"fixture", "sh"} {
			if err := copyFile(bin, filepath.Join(ctxDir, name), 0o755); err != nil {
				t.Fatalf("testlab: %v", err)
			}
		}
		if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
			t.Fatalf("testlab: %v", err)
		}
		d.Docker(t, "build", "-q", "-t", fixtureImage, ctxDir)
	}
	d.mu.Lock()
	d.imageReady = true
	d.mu.Unlock()
	return fixtureImage
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}

// Network returns the user-defined bridge network every container of d runs
// on: all test daemons use --bridge none, so there is no default bridge.
func (d *Daemon) Network(t testing.TB) string {
	t.Helper()
	Require(t)
	d.setupMu.Lock() // two parallel creates of one name: the second one fails
	defer d.setupMu.Unlock()
	d.mu.Lock()
	ready := d.networkReady
	d.mu.Unlock()
	if ready {
		return networkName
	}
	id, _, err := d.docker(30*time.Second, "network", "inspect", "--format", "{{.Id}}", networkName)
	if err != nil {
		id = d.Docker(t, "network", "create", "--driver", "bridge", networkName)
	}
	d.mu.Lock()
	d.networkReady = true
	d.networkIDs[id] = true
	d.mu.Unlock()
	return networkName
}

// Run starts a detached container on d's network from the fixture image: `docker run -d --name name --network <net> <dockerArgs...> <image> <cmd...>`; returns the full container ID. t.Cleanup removes it (`rm -f`, errors ignored when the daemon is gone).
func (d *Daemon) Run(t testing.TB, name string, dockerArgs []string, cmd ...string) string {
	t.Helper()
	return d.container(t, "run", name, dockerArgs, cmd)
}

// RunOOM starts a container of the fixture's oom mode under an 8 MiB limit
// and returns its ID once the kernel's OOM killer has ended it (exit code
// 137). It lets the container exit only after Docker's oom event: until then
// the container's PID 1 outlives the OOM kills of its children, so the cgroup
// whose OOM notifications containerd reads still exists. Docker 20.10 records
// State.OOMKilled at the exit only if the oom event came first, so that is
// true as well.
func (d *Daemon) RunOOM(t testing.TB, name string, dockerArgs []string) string {
	t.Helper()
	id := d.Run(t, name, append([]string{"--memory", "8m", "--memory-swap", "8m"}, dockerArgs...), "oom")
	const timeout = time.Minute
	for deadline := time.Now().Add(timeout); ; time.Sleep(250 * time.Millisecond) {
		// --until a second ahead, as it has a resolution of seconds.
		out := d.Docker(t, "events", "--since", "0", "--until", strconv.FormatInt(time.Now().Unix()+1, 10),
			"--filter", "container="+id, "--filter", "event=oom", "--format", "{{.Action}}")
		if strings.Contains(out, "oom") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("testlab: no oom event for %s after %v; logs:\n%s", name, timeout, d.Docker(t, "logs", id))
		}
	}
	d.Docker(t, "kill", "--signal", "USR1", id) // the fixture's cue to be OOM-killed itself
	d.Docker(t, "wait", id)
	return id
}

// Create is like Run but `docker create` (the container stays in state "created").
func (d *Daemon) Create(t testing.TB, name string, dockerArgs []string, cmd ...string) string {
	t.Helper()
	return d.container(t, "create", name, dockerArgs, cmd)
}

func (d *Daemon) container(t testing.TB, verb, name string, dockerArgs, cmd []string) string {
	t.Helper()
	Require(t)
	image, network := d.Image(t), d.Network(t)
	args := []string{verb}
	if verb == "run" {
		args = append(args, "-d")
	}
	args = append(args, "--name", name, "--network", network)
	args = append(args, dockerArgs...)
	args = append(args, image)
	args = append(args, cmd...)
	out := d.Docker(t, args...)
	// The ID is the last line; warnings may come before it.
	lines := strings.Split(out, "\n")
	id := strings.TrimSpace(lines[len(lines)-1])
	if len(id) != 64 {
		t.Fatalf("testlab: docker %s %s: unexpected output %q", verb, name, out)
	}
	t.Cleanup(func() {
		if d.running() {
			d.docker(30*time.Second, "rm", "-f", "-v", id)
		}
	})
	return id
}
