package testlab_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/snadboy/docker-monitor/internal/testlab"
)

// requireTool skips without the program, or fails in CI, where a missing
// tool is a broken setup (scripts/test-deps.sh installs them).
func requireTool(t *testing.T, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s missing (Debian package %s): run scripts/test-deps.sh", path, pkg)
	}
	t.Skipf("%s missing (Debian package %s): run scripts/test-deps.sh", path, pkg)
}

// run runs a command with a deadline and returns stdout, stderr and the error.
func run(t *testing.T, stdin string, name string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s timed out: %w", name, err)
	}
	return o.String(), e.String(), err
}

func TestFreePort(t *testing.T) {
	t.Parallel()
	// Whether a port is still free a moment later cannot be tested on a
	// machine shared with other test processes; what FreePort promises
	// beyond that is checked here.
	seen := map[int]bool{}
	for range 50 {
		p := testlab.FreePort(t)
		if seen[p] {
			t.Fatalf("FreePort returned %d twice", p)
		}
		seen[p] = true
		if lo := ephemeralLow(t); lo-10000 >= 1000 && (p < 10000 || p >= lo) {
			t.Errorf("FreePort = %d, want 10000 <= port < the ephemeral range (%d)", p, ephemeralLow(t))
		}
	}
}

func ephemeralLow(t *testing.T) int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Fatal(err)
	}
	lo, err := strconv.Atoi(strings.Fields(string(b))[0])
	if err != nil {
		t.Fatal(err)
	}
	return lo
}

// sshArgs are ssh(1) arguments that use only what the test gives (no user
// config, agent or default keys) and check the host key strictly; a leading
// run of arguments starting with "-" in extra are more options, the rest the
// remote command.
func sshArgs(s *testlab.SSHD, key, knownHosts string, extra ...string) []string {
	var opts []string
	for len(extra) > 0 && strings.HasPrefix(extra[0], "-") {
		opts = append(opts, extra[0])
		if extra[0] == "-o" || extra[0] == "-L" {
			opts = append(opts, extra[1])
			extra = extra[1:]
		}
		extra = extra[1:]
	}
	args := append([]string{
		"-F", "/dev/null",
		"-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=yes",
		"-o", "IdentityAgent=none",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "UserKnownHostsFile=" + knownHosts,
		"-o", "ConnectTimeout=10",
		"-i", key,
		"-p", strconv.Itoa(s.Port),
	}, opts...)
	return append(append(args, s.User+"@127.0.0.1"), extra...)
}

// goSSH logs in with golang.org/x/crypto/ssh, as the exporter does.
func goSSH(s *testlab.SSHD, auth ssh.AuthMethod) (*ssh.Client, error) {
	hk, err := knownhosts.New(s.KnownHostsFile)
	if err != nil {
		return nil, err
	}
	return ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{auth},
		HostKeyCallback: hk,
		// known_hosts holds the Ed25519 key only; the server also has an
		// RSA key, which x/crypto would otherwise ask for first.
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Timeout:           10 * time.Second,
	})
}

func keySigner(t *testing.T, s *testlab.SSHD) ssh.Signer {
	t.Helper()
	b, err := os.ReadFile(s.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

// dialStdio speaks HTTP to the daemon through `docker system dial-stdio` run
// over ssh(1), as `docker -H ssh://` does.
func dialStdio(t *testing.T, s *testlab.SSHD, d *testlab.Daemon) {
	t.Helper()
	out, errOut, err := run(t, "GET /_ping HTTP/1.0\r\n\r\n", "/usr/bin/ssh",
		sshArgs(s, s.ClientKeyFile, s.KnownHostsFile, "/usr/bin/docker", "-H", d.Host, "system", "dial-stdio")...)
	if err != nil || !strings.HasPrefix(out, "HTTP/1.0 200 OK\r\n") || !strings.HasSuffix(out, "\r\n\r\nOK") {
		t.Errorf("GET /_ping through ssh + docker system dial-stdio: %v\n%q\n%s", err, out, errOut)
	}
}

// forward runs `ssh -N -L sock:<daemon socket>` until the end of the test.
func forward(t *testing.T, s *testlab.SSHD, d *testlab.Daemon) (sock string, stderr *testlab.SyncBuffer, exited chan struct{}) {
	t.Helper()
	sock = filepath.Join(t.TempDir(), "fwd.sock")
	remote := strings.TrimPrefix(d.Host, "unix://")
	cmd := exec.Command("/usr/bin/ssh", sshArgs(s, s.ClientKeyFile, s.KnownHostsFile, "-N", "-o", "ExitOnForwardFailure=yes", "-L", sock+":"+remote)...)
	stderr = &testlab.SyncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited = make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return sock, stderr, exited
		}
		select {
		case <-exited:
			t.Fatalf("ssh -L exited: %v\n%s", cmd.ProcessState, stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh -L did not create %s within 10s", sock)
		}
	}
}

func curlUnix(t *testing.T, sock string) (string, string, error) {
	return run(t, "", "/usr/bin/curl", "-sS", "--max-time", "10", "--unix-socket", sock, "http://x/_ping")
}

func TestStartSSHD(t *testing.T) {
	t.Parallel()
	testlab.RequireSSHD(t)
	requireTool(t, "/usr/bin/ssh", "openssh-client")
	requireTool(t, "/usr/bin/ssh-keygen", "openssh-client")
	requireTool(t, "/usr/bin/curl", "curl")
	d := testlab.Shared(t)
	start := time.Now()
	s := testlab.StartSSHD(t, testlab.SSHDOptions{})
	t.Logf("StartSSHD took %v", time.Since(start))

	if s.User != "root" || s.Addr != fmt.Sprintf("127.0.0.1:%d", s.Port) || !strings.HasPrefix(s.HostKeyFingerprint, "SHA256:") {
		t.Errorf("User %q Addr %q Port %d HostKeyFingerprint %q", s.User, s.Addr, s.Port, s.HostKeyFingerprint)
	}
	if out, _, err := run(t, "", "/usr/bin/ssh-keygen", "-l", "-f", s.KnownHostsFile); err != nil || !strings.Contains(out, s.HostKeyFingerprint) {
		t.Errorf("ssh-keygen -l -f KnownHostsFile: %q, %v; want %s", out, err, s.HostKeyFingerprint)
	}
	if out, _, err := run(t, "", "/usr/bin/ssh-keygen", "-l", "-f", s.WrongKnownHostsFile); err != nil || strings.Contains(out, s.HostKeyFingerprint) || !strings.Contains(out, fmt.Sprintf("[127.0.0.1]:%d", s.Port)) {
		t.Errorf("ssh-keygen -l -f WrongKnownHostsFile: %q, %v", out, err)
	}

	// Key login with the right host key.
	if out, errOut, err := run(t, "", "/usr/bin/ssh", sshArgs(s, s.ClientKeyFile, s.KnownHostsFile, "echo", "hello")...); err != nil || out != "hello\n" {
		t.Fatalf("ssh with ClientKeyFile: %q, %v\n%s\n--- sshd log:\n%s", out, err, errOut, s.Logs())
	}
	// The wrong host key is caught by the client.
	if _, errOut, err := run(t, "", "/usr/bin/ssh", sshArgs(s, s.ClientKeyFile, s.WrongKnownHostsFile, "true")...); err == nil || !strings.Contains(errOut, "Host key verification failed") {
		t.Errorf("ssh with WrongKnownHostsFile: %v\n%s", err, errOut)
	}

	// The encrypted key is the same key, behind the passphrase.
	pass, err := os.ReadFile(s.PassphraseFile)
	if err != nil {
		t.Fatal(err)
	}
	plainPub, _, err1 := run(t, "", "/usr/bin/ssh-keygen", "-y", "-f", s.ClientKeyFile)
	encPub, errOut, err2 := run(t, "", "/usr/bin/ssh-keygen", "-y", "-P", strings.TrimRight(string(pass), "\n"), "-f", s.EncryptedClientKeyFile)
	if err1 != nil || err2 != nil || plainPub == "" || fields2(plainPub) != fields2(encPub) {
		t.Errorf("ssh-keygen -y: plain %q (%v), encrypted %q (%v) %s", plainPub, err1, encPub, err2, errOut)
	}
	if _, _, err := run(t, "", "/usr/bin/ssh-keygen", "-y", "-P", "wrong", "-f", s.EncryptedClientKeyFile); err == nil {
		t.Error("ssh-keygen -y accepted the encrypted key with a wrong passphrase")
	}
	encKey, err := os.ReadFile(s.EncryptedClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ssh.ParsePrivateKey(encKey); err == nil {
		t.Error("EncryptedClientKeyFile parses without a passphrase")
	}
	signer, err := ssh.ParsePrivateKeyWithPassphrase(encKey, bytes.TrimRight(pass, "\n"))
	if err != nil {
		t.Fatalf("EncryptedClientKeyFile with PassphraseFile: %v", err)
	}
	c, err := goSSH(s, ssh.PublicKeys(signer))
	if err != nil {
		t.Fatalf("x/crypto/ssh login with the encrypted key: %v", err)
	}
	// Socket forwarding is allowed: a direct-streamlocal channel reaches the daemon.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return c.DialContext(ctx, "unix", strings.TrimPrefix(d.Host, "unix://"))
		},
	}}
	if resp, err := hc.Get("http://docker/_ping"); err != nil {
		t.Errorf("/_ping over a direct-streamlocal channel: %v", err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "OK" {
			t.Errorf("/_ping over a direct-streamlocal channel: %s %q", resp.Status, b)
		}
	}
	hc.CloseIdleConnections()
	c.Close()

	// A password is refused by the server, as a password.
	if c, err := goSSH(s, ssh.Password("not-the-password")); err == nil {
		c.Close()
		t.Error("password login succeeded")
	} else if !strings.Contains(err.Error(), "password") || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Errorf("password login: want the server to refuse a password, got %v", err)
	} else {
		t.Logf("password login: %v", err)
	}

	dialStdio(t, s, d)

	// ssh -L <local socket>:<daemon socket> forwards the API.
	sock, fwdErr, fwdExited := forward(t, s, d)
	if out, errOut, err := curlUnix(t, sock); err != nil || out != "OK" {
		t.Errorf("curl through ssh -L: %q, %v\n%s\n--- ssh:\n%s", out, err, errOut, fwdErr)
	}

	// Stop: the port refuses and the live connection of ssh -L is cut.
	pid := s.PID()
	start = time.Now()
	s.Stop(t)
	t.Logf("Stop took %v", time.Since(start))
	if s.PID() != 0 {
		t.Errorf("PID() = %d after Stop", s.PID())
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("sshd pid %d still exists after Stop", pid)
	}
	if c, err := net.DialTimeout("tcp", s.Addr, 2*time.Second); err == nil {
		c.Close()
		t.Error("the port still accepts connections after Stop")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial after Stop: %v, want connection refused", err)
	}
	select {
	case <-fwdExited:
	case <-time.After(10 * time.Second):
		t.Error("ssh -L still connected 10s after Stop")
	}

	start = time.Now()
	s.Restart(t)
	t.Logf("Restart took %v", time.Since(start))
	if s.PID() == 0 || s.PID() == pid {
		t.Errorf("PID() = %d after Restart (was %d)", s.PID(), pid)
	}
	if out, errOut, err := run(t, "", "/usr/bin/ssh", sshArgs(s, s.ClientKeyFile, s.KnownHostsFile, "true")...); err != nil {
		t.Errorf("ssh after Restart: %q, %v\n%s", out, err, errOut)
	}
	if !strings.Contains(s.Logs(), "Accepted publickey for root") {
		t.Errorf("sshd log lacks the key login:\n%s", s.Logs())
	}
}

func fields2(s string) string {
	f := strings.Fields(s)
	if len(f) < 2 {
		return s
	}
	return f[0] + " " + f[1]
}

func TestStartSSHDNoStreamLocal(t *testing.T) {
	t.Parallel()
	testlab.RequireSSHD(t)
	requireTool(t, "/usr/bin/ssh", "openssh-client")
	requireTool(t, "/usr/bin/curl", "curl")
	d := testlab.Shared(t)
	s := testlab.StartSSHD(t, testlab.SSHDOptions{NoStreamLocal: true})

	// The server refuses the direct-streamlocal channel. OpenSSH says
	// "connect failed" (not "administratively prohibited"), as for a socket
	// that does not exist; only its log tells the two apart.
	c, err := goSSH(s, ssh.PublicKeys(keySigner(t, s)))
	if err != nil {
		t.Fatalf("x/crypto/ssh login: %v\n--- sshd log:\n%s", err, s.Logs())
	}
	conn, err := c.Dial("unix", strings.TrimPrefix(d.Host, "unix://"))
	var oce *ssh.OpenChannelError
	if err == nil {
		conn.Close()
		t.Error("direct-streamlocal channel opened despite NoStreamLocal")
	} else if !errors.As(err, &oce) {
		t.Errorf("direct-streamlocal with NoStreamLocal: %v, want an OpenChannelError", err)
	} else {
		t.Logf("direct-streamlocal with NoStreamLocal: %v", err)
	}
	c.Close()

	// ssh -L: the local socket exists, but what goes through it is refused.
	sock, fwdErr, _ := forward(t, s, d)
	if out, errOut, err := curlUnix(t, sock); err == nil || out == "OK" {
		t.Errorf("curl through ssh -L with NoStreamLocal: %q, %v %s", out, err, errOut)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(fwdErr.String(), "open failed") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(fwdErr.String(), "open failed") {
		t.Errorf("ssh -L stderr lacks the server's refusal:\n%s", fwdErr)
	}
	if !strings.Contains(s.Logs(), "refused streamlocal port forward") {
		t.Errorf("sshd log lacks the refusal:\n%s", s.Logs())
	}

	// dial-stdio, the fallback, works.
	dialStdio(t, s, d)
}

func TestStartHang(t *testing.T) {
	t.Parallel()
	var addr string
	t.Run("hang", func(t *testing.T) {
		addr = testlab.StartHang(t)
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("GET /_ping HTTP/1.0\r\n\r\n")); err != nil {
			t.Errorf("write: %v", err)
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := c.Read(make([]byte, 1))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("read from the hanging host: %d bytes, %v; want a timeout", n, err)
		}
		// An SSH client waits for the banner until its own deadline. (Note
		// that ssh.ClientConfig.Timeout covers only the TCP connect: with
		// ssh.Dial alone this would wait forever.)
		raw, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		start := time.Now()
		raw.SetDeadline(start.Add(300 * time.Millisecond))
		_, _, _, err = ssh.NewClientConn(raw, addr, &ssh.ClientConfig{User: "root", HostKeyCallback: ssh.InsecureIgnoreHostKey()})
		if !errors.As(err, &ne) || !ne.Timeout() || time.Since(start) < 250*time.Millisecond {
			t.Errorf("SSH handshake with the hanging host: %v after %v; want a timeout", err, time.Since(start))
		}
	})
	// Cleanup closed the listener.
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		c.Close()
		t.Error("the hanging host still accepts connections after its test ended")
	}
}

const crashHelperEnv = "TESTLAB_SSHD_CRASH_HELPER"

// TestSSHDCrashHelper is the victim of TestSSHDAfterCrash: it starts an sshd
// and a session through it, reports them, and waits to be killed.
func TestSSHDCrashHelper(t *testing.T) {
	switch os.Getenv(crashHelperEnv) {
	case "victim":
		s := testlab.StartSSHD(t, testlab.SSHDOptions{})
		// ssh(1) is started without any cleanup, as by a test that dies. Its
		// stdin is a FIFO it holds both ends of, so it gets no EOF when this
		// process dies and stays connected until someone kills it.
		fifo := filepath.Join(s.Dir, "stdin.fifo")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		in, err := os.OpenFile(fifo, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("/usr/bin/ssh", sshArgs(s, s.ClientKeyFile, s.KnownHostsFile, "echo $$; exec cat")...)
		cmd.Stdin = in
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatalf("remote pid: %v", err)
		}
		fmt.Printf("VICTIM dir=%s sshd=%d ssh=%d remote=%s\n", s.Dir, s.PID(), cmd.Process.Pid, strings.TrimSpace(line))
		time.Sleep(time.Minute)
	case "sweeper":
		testlab.StartSSHD(t, testlab.SSHDOptions{}) // its first use of testlab sweeps
	default:
		t.Skip("helper process of TestSSHDAfterCrash")
	}
}

// A test process that is killed leaves no sshd, no session and no
// directory behind once the next test process has started.
func TestSSHDAfterCrash(t *testing.T) {
	t.Parallel()
	testlab.RequireSSHD(t)
	requireTool(t, "/usr/bin/ssh", "openssh-client")
	victim := exec.Command(os.Args[0], "-test.run=^TestSSHDCrashHelper$", "-test.v")
	victim.Env = append(os.Environ(), crashHelperEnv+"=victim")
	out, err := victim.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	victim.Stderr = &stderr
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "VICTIM ") {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	var report string
	select {
	case report = <-lines:
	case <-time.After(60 * time.Second):
	}
	victim.Process.Kill()
	victim.Wait()
	if report == "" {
		t.Fatalf("victim reported nothing\n%s", stderr.String())
	}
	var dir string
	var sshdPID, sshPID, remotePID int
	if n, _ := fmt.Sscanf(report, "VICTIM dir=%s sshd=%d ssh=%d remote=%d", &dir, &sshdPID, &sshPID, &remotePID); n != 4 {
		t.Fatalf("bad report %q", report)
	}
	t.Logf("victim: %s", report)

	// Parent-death signal: the listener goes with the test process.
	waitGone(t, "sshd listener", sshdPID, 5*time.Second)

	sweeper := exec.Command(os.Args[0], "-test.run=^TestSSHDCrashHelper$")
	sweeper.Env = append(os.Environ(), crashHelperEnv+"=sweeper")
	start := time.Now()
	if b, err := sweeper.CombinedOutput(); err != nil {
		t.Fatalf("sweeper: %v\n%s", err, b)
	} else {
		t.Logf("sweeper took %v:\n%s", time.Since(start), b)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists after the sweep: %v", dir, err)
	}
	waitGone(t, "ssh client of the dead test", sshPID, 5*time.Second)
	waitGone(t, "remote command of its session", remotePID, 5*time.Second)
	if left := procsMentioning(dir); len(left) > 0 {
		t.Errorf("processes still mention %s: %v", dir, left)
	}
}

func waitGone(t *testing.T, what string, pid int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for alive(pid) {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			t.Errorf("%s (pid %d, %q) still running after %v", what, pid, bytes.ReplaceAll(b, []byte{0}, []byte{' '}), timeout)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
