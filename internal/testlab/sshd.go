package testlab

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

const (
	sshdPath         = "/usr/sbin/sshd"
	sshdPrivsepDir   = "/run/sshd" // Debian's sshd refuses to start without it
	sshdReadyTimeout = 20 * time.Second
)

// RequireSSHD skips the test where no OpenSSH server can be run (see
// Require), and fails it in CI (CI=true), where that is a broken setup.
// sshd must run as root to log in as root.
func RequireSSHD(t testing.TB) {
	t.Helper()
	var missing []string
	if _, err := os.Stat(sshdPath); err != nil {
		missing = append(missing, sshdPath+" (openssh-server)")
	}
	if os.Geteuid() != 0 {
		missing = append(missing, "root privileges")
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("integration test needs OpenSSH's sshd and root, missing: %s; run scripts/test-deps.sh as root", strings.Join(missing, ", "))
	}
	t.Skipf("integration test needs OpenSSH's sshd (openssh-server) and root, missing: %s: run scripts/test-deps.sh as root", strings.Join(missing, ", "))
}

// SSHDOptions configures StartSSHD.
type SSHDOptions struct {
	// NoStreamLocal sets AllowStreamLocalForwarding no, as on hosts whose
	// admins forbid socket forwarding: the server refuses direct-streamlocal
	// channels, so a client has to run `docker system dial-stdio` instead.
	NoStreamLocal bool
}

// SSHD is a real OpenSSH server this test started on 127.0.0.1, standing in
// for a Docker host reached over SSH. Its "host" is this machine: the Docker
// sockets of daemons from Start, Shared and StartTLS are reachable through it,
// and so is /usr/bin/docker for `docker system dial-stdio`.
//
// Every key is generated for this server alone and lives in Dir. Only key
// authentication can succeed (PermitRootLogin prohibit-password), but
// password authentication is offered, so a client trying a password gets
// the server's own refusal of it.
type SSHD struct {
	Addr                   string // 127.0.0.1:port
	Port                   int
	User                   string // "root"
	Dir                    string // config, keys, pidfile and log; removed at the end of the test
	ClientKeyFile          string // ed25519 private key in OpenSSH format, no passphrase; its public key is the only authorized one
	EncryptedClientKeyFile string // the same key, encrypted with the passphrase in PassphraseFile
	PassphraseFile         string // the passphrase and a newline
	KnownHostsFile         string // "[127.0.0.1]:port <host key>": the right host key
	WrongKnownHostsFile    string // the same host entry with another key, as after a man-in-the-middle or a reinstall
	HostKeyFingerprint     string // of the host key, "SHA256:..." as ssh-keygen -l and ssh.FingerprintSHA256 print it

	opts SSHDOptions

	proc      // the listening sshd; its mu also guards destroyed
	destroyed bool

	hostKey ssh.PublicKey
}

var (
	serversMu sync.Mutex
	servers   = map[*SSHD]bool{} // sshds whose directory still exists

	// Set once a `sshd -t` has rejected PerSourcePenalties (OpenSSH < 9.8).
	noPerSourcePenalties atomic.Bool
)

// StartSSHD starts an sshd (`sshd -D -e -f <config>`) with its own host
// key, config, pidfile and authorized_keys, on a free port of 127.0.0.1,
// and waits until it sends its SSH banner. t.Cleanup stops it, together with
// every session it is serving, and removes its directory. A system sshd, if
// any, is never touched.
func StartSSHD(t testing.TB, opts SSHDOptions) *SSHD {
	t.Helper()
	RequireSSHD(t)
	s, err := newSSHD(opts)
	if err != nil {
		t.Fatalf("testlab: sshd: %v", err)
	}
	t.Cleanup(func() {
		for _, err := range s.destroy(stopTimeout) {
			t.Logf("testlab: cleaning up sshd %s: %v", s.Dir, err)
		}
	})
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("testlab: %v", err)
		}
		if err := s.configure(port); err != nil {
			t.Fatalf("testlab: sshd: %v", err)
		}
		err = s.start()
		if err == nil {
			return s
		}
		if attempt < 3 && isAddrInUse(err.Error()) {
			t.Logf("testlab: sshd: port %d taken, trying another", port)
			continue
		}
		t.Fatalf("testlab: %v", err)
	}
}

func (s *SSHD) configPath() string { return filepath.Join(s.Dir, "sshd_config") }
func (s *SSHD) logPath() string    { return filepath.Join(s.Dir, "sshd.log") }
func (s *SSHD) pidPath() string    { return filepath.Join(s.Dir, "sshd.pid") }

func newSSHD(opts SSHDOptions) (*SSHD, error) {
	sweepOnce.Do(sweepStale)
	if err := os.MkdirAll(sshdPrivsepDir, 0o755); err != nil {
		return nil, err
	}
	// The dmlab- prefix and the owner file let sweepStale remove this
	// directory, and stop an sshd whose command line names it, after this
	// process died without cleaning up.
	dir, err := os.MkdirTemp("/tmp", "dmlab-sshd-")
	if err != nil {
		return nil, err
	}
	if err := writeOwner(dir, -1); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &SSHD{
		User:                   "root",
		Dir:                    dir,
		ClientKeyFile:          filepath.Join(dir, "client", "id_ed25519"),
		EncryptedClientKeyFile: filepath.Join(dir, "client", "id_ed25519_encrypted"),
		PassphraseFile:         filepath.Join(dir, "client", "passphrase"),
		KnownHostsFile:         filepath.Join(dir, "client", "known_hosts"),
		WrongKnownHostsFile:    filepath.Join(dir, "client", "known_hosts_wrong"),
		opts:                   opts,
	}
	serversMu.Lock()
	servers[s] = true
	serversMu.Unlock()
	if err := s.writeKeys(); err != nil {
		s.destroy(stopTimeout)
		return nil, err
	}
	return s, nil
}

// writeKeys generates the host key, the client key (plain and encrypted)
// and authorized_keys.
func (s *SSHD) writeKeys() error {
	if err := os.Mkdir(filepath.Join(s.Dir, "client"), 0o700); err != nil {
		return err
	}
	hostPub, err := writeEd25519(filepath.Join(s.Dir, "ssh_host_ed25519_key"), "testlab sshd host key", nil)
	if err != nil {
		return err
	}
	s.hostKey = hostPub
	s.HostKeyFingerprint = ssh.FingerprintSHA256(hostPub)
	// A second host key, of a type x/crypto prefers to Ed25519, which the
	// known_hosts files never hold: as on a real server whose known_hosts
	// line has only its Ed25519 key, the client must ask for that one.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	rsaBlock, err := ssh.MarshalPrivateKey(rsaKey, "testlab sshd RSA host key, not in known_hosts")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "ssh_host_rsa_key"), pem.EncodeToMemory(rsaBlock), 0o600); err != nil {
		return err
	}

	_, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	clientPub, err := writeEd25519Key(s.ClientKeyFile, clientPriv, "testlab client key", nil)
	if err != nil {
		return err
	}
	pass := make([]byte, 12)
	if _, err := rand.Read(pass); err != nil {
		return err
	}
	passphrase := []byte("testlab-" + hex.EncodeToString(pass))
	if _, err := writeEd25519Key(s.EncryptedClientKeyFile, clientPriv, "testlab client key (encrypted)", passphrase); err != nil {
		return err
	}
	if err := os.WriteFile(s.PassphraseFile, append(passphrase, '\n'), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.Dir, "authorized_keys"), ssh.MarshalAuthorizedKey(clientPub), 0o600)
}

// writeEd25519 generates a key and writes it as OpenSSH does: the private
// key (0600, as ssh and sshd insist) to path, the public key to path.pub.
func writeEd25519(path, comment string, passphrase []byte) (ssh.PublicKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return writeEd25519Key(path, priv, comment, passphrase)
}

func writeEd25519Key(path string, priv ed25519.PrivateKey, comment string, passphrase []byte) (ssh.PublicKey, error) {
	var block *pem.Block
	var err error
	if passphrase == nil {
		block, err = ssh.MarshalPrivateKey(priv, comment)
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, comment, passphrase)
	}
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		return nil, err
	}
	line := append(bytes.TrimRight(ssh.MarshalAuthorizedKey(pub), "\n"), " "+comment+"\n"...)
	return pub, os.WriteFile(path+".pub", line, 0o644)
}

// configure (re)writes what depends on the port: the config and the
// known_hosts files.
func (s *SSHD) configure(port int) error {
	s.Port = port
	s.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	host := fmt.Sprintf("[127.0.0.1]:%d ", port)
	if err := os.WriteFile(s.KnownHostsFile, append([]byte(host), ssh.MarshalAuthorizedKey(s.hostKey)...), 0o644); err != nil {
		return err
	}
	otherPub, err := writeEd25519(filepath.Join(s.Dir, "other_host_key"), "not this server's host key", nil)
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.WrongKnownHostsFile, append([]byte(host), ssh.MarshalAuthorizedKey(otherPub)...), 0o644); err != nil {
		return err
	}
	for {
		penalties := !noPerSourcePenalties.Load()
		if err := os.WriteFile(s.configPath(), []byte(s.config(penalties)), 0o600); err != nil {
			return err
		}
		out, err := exec.Command(sshdPath, "-t", "-f", s.configPath()).CombinedOutput()
		if err == nil {
			return nil
		}
		if penalties && bytes.Contains(out, []byte("PerSourcePenalties")) {
			noPerSourcePenalties.Store(true)
			continue
		}
		return fmt.Errorf("sshd -t -f %s: %v\n%s", s.configPath(), err, out)
	}
}

func (s *SSHD) config(perSourcePenalties bool) string {
	streamLocal := "yes"
	if s.opts.NoStreamLocal {
		streamLocal = "no"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# testlab sshd: written by internal/testlab/sshd.go for one test
ListenAddress 127.0.0.1:%d
HostKey %s
HostKey %s
PidFile %s
AuthorizedKeysFile %s
LogLevel VERBOSE
# Root by key only, but password authentication stays on: a client that
# tries a password gets the server's own refusal (root has none we know).
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication yes
PermitEmptyPasswords no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowStreamLocalForwarding %s
# Not "no": OpenSSH (seen in 9.2) then also denies direct-streamlocal
# channels, whatever AllowStreamLocalForwarding says. "local" still
# refuses remote (-R) forwarding.
AllowTcpForwarding local
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
PrintMotd no
PrintLastLog no
UseDNS no
# bash sources ~/.bashrc for a command sshd runs unless SHLVL says it is
# nested; root's .bashrc on the test machines (pyenv init and rehash, under
# a lock) takes seconds per session, which would make every dial-stdio
# connection that slow. A Docker host's own shell is its business; the lab's
# is kept out of the way.
SetEnv SHLVL=1
`, s.Port, filepath.Join(s.Dir, "ssh_host_ed25519_key"), filepath.Join(s.Dir, "ssh_host_rsa_key"), s.pidPath(), filepath.Join(s.Dir, "authorized_keys"), streamLocal)
	if perSourcePenalties {
		// OpenSSH >= 9.8 would refuse 127.0.0.1 for a while after failed
		// logins and after our readiness probes (which never authenticate),
		// breaking the tests that follow a negative test.
		b.WriteString("PerSourcePenalties no\n")
	}
	return b.String()
}

// start runs sshd and waits until it answers with an SSH banner.
func (s *SSHD) start() error {
	s.mu.Lock()
	if s.destroyed {
		s.mu.Unlock()
		return fmt.Errorf("sshd %s was already cleaned up", s.Dir)
	}
	if s.cmd != nil {
		s.mu.Unlock()
		return fmt.Errorf("sshd %s is already running (pid %d)", s.Dir, s.cmd.Process.Pid)
	}
	logf, err := os.OpenFile(s.logPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	args := []string{"-D", "-e", "-f", s.configPath()}
	fmt.Fprintf(logf, "=== testlab: starting %s %s\n", sshdPath, strings.Join(args, " "))
	cmd := exec.Command(sshdPath, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = cleanEnv(nil)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // a Ctrl-C meant for `go test` is handled by Main
		Pdeathsig: syscall.SIGTERM, // if this test binary dies without cleanup, sshd goes too
	}
	err = spawn(cmd)
	logf.Close()
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("starting sshd: %w", err)
	}
	exited := s.track(cmd)
	s.mu.Unlock()

	deadline := time.Now().Add(sshdReadyTimeout)
	for {
		err := sshBanner(s.Addr)
		select {
		case <-exited:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			return fmt.Errorf("sshd on %s exited during startup (%v)\n--- %s:\n%s", s.Addr, cmd.ProcessState, s.logPath(), s.Logs())
		default:
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			s.stop(stopTimeout)
			return fmt.Errorf("sshd on %s not ready after %v: %v\n--- %s:\n%s", s.Addr, sshdReadyTimeout, err, s.logPath(), s.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sshBanner connects to addr and reads the server's identification string.
func sshBanner(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	// Identify ourselves, so that sshd logs a plain closed connection rather
	// than a failed key exchange.
	c.Write([]byte("SSH-2.0-testlab_probe\r\n"))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading SSH banner: %w", err)
	}
	if !strings.HasPrefix(line, "SSH-2.0-") {
		return fmt.Errorf("not an SSH banner: %q", line)
	}
	return nil
}

// Logs returns what sshd has logged (LogLevel VERBOSE) across all its starts.
func (s *SSHD) Logs() string { return readLog(s.logPath()) }

// Stop makes the host unreachable over SSH: the port refuses connections,
// and the sessions this sshd is serving (its descendant processes) are
// killed, so clients holding a connection see it drop, as when a machine
// goes down.
func (s *SSHD) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(stopTimeout); err != nil {
		t.Fatalf("testlab: stopping sshd %s: %v", s.Addr, err)
	}
}

// Restart starts sshd again with the same config, keys and port (the
// known_hosts files stay valid), after stopping it if it runs, and waits
// for its banner.
func (s *SSHD) Restart(t testing.TB) {
	t.Helper()
	RequireSSHD(t)
	if s.PID() != 0 {
		s.Stop(t)
	}
	if err := s.start(); err != nil {
		t.Fatalf("testlab: restarting sshd: %v", err)
	}
}

type procID struct {
	pid   int
	start uint64
}
