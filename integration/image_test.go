package integration

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/snadboy/docker-monitor/internal/testlab"
)

const (
	imageTag  = "docker-monitor:test"
	imageUser = 65534
	imageHome = "/home/docker-monitor" // docs/docker.md names it
)

// buildImage builds the image from the repository's Dockerfile and the files
// its .dockerignore lets through, around a static binary (offline: FROM
// scratch), as `make docker` does.
func buildImage(t *testing.T, d *testlab.Daemon) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	buildCtx := t.TempDir()
	bin, err := os.ReadFile(testlab.ExporterBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(buildCtx, "docker-monitor"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"Dockerfile", ".dockerignore", "image/rootfs.tar"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(buildCtx, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d.Docker(t, "build", "-q", "-t", imageTag, buildCtx)
	return imageTag
}

// TestDockerImage builds the image, runs it as its non-root user with the
// daemon's socket mounted read-only, and scrapes it.
func TestDockerImage(t *testing.T) {
	d := testlab.Shared(t)
	image := buildImage(t, d)

	sock, gid := socketGroup(t, d)
	d.Docker(t, "run", "-d", "--name", "img-exporter", "--network", d.Network(t),
		"-v", sock+":/var/run/docker.sock:ro", "--group-add", gid,
		"-p", "127.0.0.1::9742", image)
	t.Cleanup(func() { d.Docker(t, "rm", "-f", "img-exporter") })

	if user := d.Docker(t, "inspect", "--format", "{{.Config.User}}", "img-exporter"); user != "65534:65534" {
		t.Errorf("image runs as %q, want the non-root 65534:65534", user)
	}
	addr := d.Docker(t, "port", "img-exporter", "9742/tcp")
	addr = strings.Fields(addr)[0]
	waitForMetrics(t, d, "img-exporter", "http://"+addr+"/metrics", "the exporter to report its host and itself", func(m metrics) bool {
		return m.matches("docker_host_up", lbl("host", "local"), 1) &&
			m.matches("docker_container_state", lbl("host", "local", "name", "img-exporter", "state", "running"), 1)
	})
	checkImageFiles(t, d, image)
}

// socketGroup is the daemon's socket and its group, which --group-add
// gives the image's unprivileged user.
func socketGroup(t *testing.T, d *testlab.Daemon) (sock, gid string) {
	t.Helper()
	sock = strings.TrimPrefix(d.Host, "unix://")
	var st syscall.Stat_t
	if err := syscall.Stat(sock, &st); err != nil {
		t.Fatal(err)
	}
	return sock, fmt.Sprint(st.Gid)
}

// checkImageFiles checks what ~/.ssh/known_hosts, the default, relies on:
// a HOME that is the user's own, and the passwd line that agrees with it.
func checkImageFiles(t *testing.T, d *testlab.Daemon, image string) {
	t.Helper()
	if env := d.Docker(t, "image", "inspect", "--format", "{{json .Config.Env}}", image); !strings.Contains(env, `"HOME=`+imageHome+`"`) {
		t.Errorf("image environment %s, want HOME=%s", env, imageHome)
	}
	d.Docker(t, "create", "--name", "img-files", image)
	t.Cleanup(func() { d.Docker(t, "rm", "-f", "img-files") })
	export := filepath.Join(t.TempDir(), "fs.tar")
	d.Docker(t, "export", "-o", export, "img-files")
	f, err := os.Open(export)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]struct {
		uid  int
		mode os.FileMode
	}{
		strings.TrimPrefix(imageHome, "/"):           {imageUser, os.ModeDir | 0o700},
		strings.TrimPrefix(imageHome, "/") + "/.ssh": {imageUser, os.ModeDir | 0o700},
		"etc/passwd": {0, 0o644},
		"etc/group":  {0, 0o644},
	}
	var passwd string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		w, ok := want[name]
		if !ok {
			continue
		}
		delete(want, name)
		if h.Uid != w.uid || h.Gid != w.uid || h.FileInfo().Mode() != w.mode {
			t.Errorf("/%s: %d:%d %v, want %d:%d %v", name, h.Uid, h.Gid, h.FileInfo().Mode(), w.uid, w.uid, w.mode)
		}
		if name == "etc/passwd" {
			b, _ := io.ReadAll(tr)
			passwd = string(b)
		}
	}
	for name := range want {
		t.Errorf("image has no /%s", name)
	}
	if line := fmt.Sprintf("\nnobody:x:%d:%d:nobody:%s:", imageUser, imageUser, imageHome); !strings.Contains("\n"+passwd, line) {
		t.Errorf("/etc/passwd lacks %q:\n%s", line[1:], passwd)
	}
}

// TestDockerImageRootfs checks that image/rootfs.tar is what
// image/mkrootfs.go writes, so that its reviewed source is what ships.
func TestDockerImageRootfs(t *testing.T) {
	out := filepath.Join(t.TempDir(), "rootfs.tar")
	cmd := exec.Command("go", "run", "mkrootfs.go", "-o", out)
	cmd.Dir = filepath.Join("..", "image")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run image/mkrootfs.go: %v\n%s", err, b)
	}
	got, err := os.ReadFile(filepath.Join("..", "image", "rootfs.tar"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("image/rootfs.tar differs from what image/mkrootfs.go writes: run `go run image/mkrootfs.go -o image/rootfs.tar`")
	}
}

// sshSetup is the Docker host's side of docs/docker.md's SSH example: the
// files in /etc/docker-monitor and the mounts that hand them to the image.
type sshSetup struct {
	dir      string // stands for /etc/docker-monitor on the Docker host
	sshd     *testlab.SSHD
	remote   *testlab.Daemon
	hostsYML string
}

// hostsFile writes a hosts file like the docs' (key_file next to it, no
// known_hosts: the default one under the image's HOME), plus extra, which
// is indented as the ssh: block's contents.
func (s *sshSetup) hostsFile(t *testing.T, extra string) {
	t.Helper()
	y := fmt.Sprintf(`defaults:
  user: root
  key_file: id_ed25519
hosts:
  remote:
    hostname: 127.0.0.1
    port: %d
    ssh:
      remote_socket: %s
%s`, s.sshd.Port, sock(s.remote), extra)
	if err := os.WriteFile(s.hostsYML, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
}

// installKey puts the client key at /etc/docker-monitor/id_ed25519 with the
// given owner and mode, as `install -o -g -m` does.
func (s *sshSetup) installKey(t *testing.T, uid int, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(s.sshd.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(s.dir, "id_ed25519")
	os.Remove(key)
	if err := os.WriteFile(key, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(key, uid, uid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(key, mode); err != nil {
		t.Fatal(err)
	}
}

// mounts are the -v flags of the docs' `docker run` line; without
// known_hosts when knownHosts is false.
func (s *sshSetup) mounts(knownHosts bool) []string {
	v := []string{
		"-v", s.hostsYML + ":/etc/docker-monitor/hosts.yml:ro",
		"-v", filepath.Join(s.dir, "id_ed25519") + ":/etc/docker-monitor/id_ed25519:ro",
	}
	if knownHosts {
		v = append(v, "-v", filepath.Join(s.dir, "known_hosts")+":"+imageHome+"/.ssh/known_hosts:ro")
	}
	return v
}

// TestDockerImageSSH runs the image as docs/docker.md says to watch hosts
// over SSH: hosts file, known_hosts at the image's ~/.ssh/known_hosts and a
// key that the image's user owns, all mounted read-only. The hosts file
// names no known_hosts, so the default under the image's HOME is the one
// that must be used. --network host (instead of the docs' -p) lets the
// container reach the test's sshd on loopback.
func TestDockerImageSSH(t *testing.T) {
	d := testlab.Shared(t)
	s := &sshSetup{dir: t.TempDir()}
	s.remote = testlab.Start(t, "img-ssh")
	s.sshd = testlab.StartSSHD(t, testlab.SSHDOptions{})
	s.remote.Run(t, "img-via-ssh", nil)
	image := buildImage(t, d)

	s.hostsYML = filepath.Join(s.dir, "hosts.yml")
	s.hostsFile(t, "")
	kh, err := os.ReadFile(s.sshd.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "known_hosts"), kh, 0o644); err != nil {
		t.Fatal(err)
	}
	s.installKey(t, imageUser, 0o400)

	run := func(t *testing.T, name string, dockerArgs ...string) string {
		t.Helper()
		port := testlab.FreePort(t)
		args := append([]string{"run", "-d", "--name", name, "--network", "host"}, dockerArgs...)
		args = append(args, image, "--config.file=/etc/docker-monitor/hosts.yml",
			fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
		d.Docker(t, args...)
		t.Cleanup(func() { d.Docker(t, "rm", "-f", name) })
		return fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	}

	t.Run("documented", func(t *testing.T) {
		url := run(t, "img-ssh-exporter", s.mounts(true)...)
		waitForMetrics(t, d, "img-ssh-exporter", url, "the SSH host up with its container", func(m metrics) bool {
			return m.matches("docker_host_up", lbl("host", "remote"), 1) &&
				m.matches("docker_container_state", lbl("host", "remote", "name", "img-via-ssh", "state", "running"), 1)
		})
	})

	// accept-new records the key in ~/.ssh, which the user must own (the old
	// image's HOME of / had it try to create /.ssh). A new named volume
	// there starts as a copy of the image's ~/.ssh, owner included, so the
	// recorded keys outlive the container, as the docs suggest.
	t.Run("accept-new", func(t *testing.T) {
		s.hostsFile(t, "      host_key_policy: accept-new\n")
		t.Cleanup(func() { s.hostsFile(t, "") })
		t.Cleanup(func() { d.Docker(t, "volume", "rm", "-f", "img-ssh-known-hosts") })
		url := run(t, "img-ssh-accept-new", append(s.mounts(false), "-v", "img-ssh-known-hosts:"+imageHome+"/.ssh")...)
		waitForMetrics(t, d, "img-ssh-accept-new", url, "the SSH host up, its key recorded", func(m metrics) bool {
			return m.matches("docker_host_up", lbl("host", "remote"), 1)
		})
		if logs := containerLogs(t, d, "img-ssh-accept-new"); !strings.Contains(logs, "known_hosts="+imageHome+"/.ssh/known_hosts") {
			t.Errorf("no log line says the key was recorded in %s/.ssh/known_hosts:\n%s", imageHome, logs)
		}
	})

	// HOME=/ is the old image's: the default known_hosts is then /.ssh's,
	// which does not exist, and strict refuses the host however well
	// known_hosts is mounted where the docs say.
	t.Run("old HOME", func(t *testing.T) {
		url := run(t, "img-ssh-old-home", append(s.mounts(true), "-e", "HOME=/")...)
		m := waitForMetrics(t, d, "img-ssh-old-home", url, "the SSH host refused for its key", func(m metrics) bool {
			return m.atLeast("docker_monitor_connection_errors_total", lbl("host", "remote", "reason", "host_key"), 1)
		})
		expect(t, m, "docker_host_up", lbl("host", "remote"), 0)
		if logs := containerLogs(t, d, "img-ssh-old-home"); !strings.Contains(logs, "known_hosts=/.ssh/known_hosts") {
			t.Errorf("no log line names /.ssh/known_hosts:\n%s", logs)
		}
	})

	// A key copied as root keeps root's 0600: the image's user cannot read
	// it, and the hosts file is refused before anything is dialled, at
	// start and by --config.check alike.
	t.Run("root key", func(t *testing.T) {
		s.installKey(t, 0, 0o600)
		t.Cleanup(func() { s.installKey(t, imageUser, 0o400) })
		for _, check := range []string{"", "--config.check"} {
			name, args := "img-ssh-root-key", []string{"--config.file=/etc/docker-monitor/hosts.yml",
				fmt.Sprintf("--web.listen-address=127.0.0.1:%d", testlab.FreePort(t))}
			what := "at start"
			if check != "" {
				name, args, what = name+"-check", append(args, check), check
			}
			d.Docker(t, append(append(append([]string{"run", "-d", "--name", name, "--network", "host"}, s.mounts(true)...), image), args...)...)
			t.Cleanup(func() { d.Docker(t, "rm", "-f", name) })
			if code := d.Docker(t, "wait", name); code != "1" {
				t.Errorf("%s: exited %s with root's 0600 key, want 1", what, code)
			}
			if logs := containerLogs(t, d, name); !strings.Contains(logs, "key_file: permission denied") {
				t.Errorf("%s: does not say key_file: permission denied:\n%s", what, logs)
			}
		}
	})
}

// waitForMetrics scrapes url until cond holds, and fails early, with the
// logs, if the container stops.
func waitForMetrics(t *testing.T, d *testlab.Daemon, container, url, what string, cond func(metrics) bool) metrics {
	t.Helper()
	var last string
	deadline := time.Now().Add(60 * time.Second)
	for {
		m, body := tryScrape(url)
		if body != "" {
			last = body
		}
		if m != nil && cond(m) {
			return m
		}
		if m == nil && d.Docker(t, "inspect", "--format", "{{.State.Running}}", container) != "true" {
			t.Fatalf("container %s stopped before %s; logs:\n%s", container, what, containerLogs(t, d, container))
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s; last scrape:\n%s\nlogs:\n%s", what, last, containerLogs(t, d, container))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// tryScrape returns nil while the exporter does not answer yet.
func tryScrape(url string) (metrics, string) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, string(b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	m, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		return nil, string(b)
	}
	return m, string(b)
}

// containerLogs reads the container's json-file log, stderr included, which
// `docker logs` would print on a stderr that Daemon.Docker does not return.
func containerLogs(t *testing.T, d *testlab.Daemon, container string) string {
	t.Helper()
	path := d.Docker(t, "inspect", "--format", "{{.LogPath}}", container)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	var b strings.Builder
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l struct{ Log string }
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			b.WriteString(l.Log)
		}
	}
	return b.String()
}

// TestDockerImageCgroupStats runs the image as docs/scaling.md says, with
// the host's cgroup tree and /proc mounted read-only and the host's cgroup
// namespace: its containers' stats come from the files, as the unprivileged
// user. Without the mounts, auto finds the files are not the daemon's and
// asks the daemon.
func TestDockerImageCgroupStats(t *testing.T) {
	d := testlab.Shared(t)
	image := buildImage(t, d)
	sock, gid := socketGroup(t, d)
	d.Run(t, "img-cg-target", nil)
	for _, tc := range []struct {
		name, source string
		args         []string
	}{
		{"img-cg-mounts", "cgroup", []string{"-v", "/sys/fs/cgroup:/host/sys/fs/cgroup:ro", "-v", "/proc:/host/proc:ro", "--cgroupns=host"}},
		{"img-cg-none", "api", nil},
	} {
		args := append([]string{"run", "-d", "--name", tc.name, "--network", d.Network(t),
			"-v", sock + ":/var/run/docker.sock:ro", "--group-add", gid, "-p", "127.0.0.1::9742"}, tc.args...)
		args = append(args, image)
		if tc.args != nil {
			args = append(args, "--stats.cgroup-root=/host/sys/fs/cgroup", "--stats.proc-root=/host/proc")
		}
		d.Docker(t, args...)
		t.Cleanup(func() { d.Docker(t, "rm", "-f", tc.name) })
		addr := strings.Fields(d.Docker(t, "port", tc.name, "9742/tcp"))[0]
		other := map[string]string{"cgroup": "api", "api": "cgroup"}[tc.source]
		m := waitForMetrics(t, d, tc.name, "http://"+addr+"/metrics", "stats of img-cg-target from "+tc.source, func(m metrics) bool {
			return m.count("docker_container_cpu_usage_seconds_total", lbl("host", "local", "name", "img-cg-target")) == 1 &&
				m.atLeast("docker_monitor_stats_reads_total", lbl("host", "local", "source", tc.source), 4)
		})
		// auto reads the files of at most 3 containers before it gives up on them.
		if v, _ := m.get("docker_monitor_stats_reads_total", lbl("host", "local", "source", other)); tc.source == "cgroup" && v != 0 {
			t.Errorf("%s: %v samples from the %s with the mounts", tc.name, v, other)
		}
		want := map[string]string{"cgroup": "reading resource stats from the cgroup files", "api": "reading resource stats from the daemon"}[tc.source]
		if logs := containerLogs(t, d, tc.name); !strings.Contains(logs, want) {
			t.Errorf("%s: no log line says where stats come from:\n%s", tc.name, logs)
		}
	}
}
