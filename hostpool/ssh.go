package hostpool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/snadboy/docker-monitor/config"
)

// ErrHostKey marks a host key that known_hosts rejects (or lacks, under the
// strict policy).
var ErrHostKey = errors.New("host key verification failed")

// ErrAuth marks an SSH server that accepted none of our credentials.
var ErrAuth = errors.New("ssh authentication failed")

// sshDialer keeps one SSH connection per host and opens a channel per
// Docker API connection: to the remote socket (direct-streamlocal), or,
// where the server forbids that, through `docker system dial-stdio` as
// `docker -H ssh://` does.
type sshDialer struct {
	spec config.SSH
	addr string // host:port
	user string
	log  *slog.Logger

	mu     sync.Mutex
	client *ssh.Client
	// stdio: in mode auto, streamlocal was refused and dial-stdio worked
	// instead, at stdioSince. See useStreamlocal for why it does not last.
	stdio       bool
	stdioSince  time.Time
	stdioLogged bool
	stopKeep    chan struct{}
	// stdioSlots bounds dial-stdio sessions: OpenSSH allows 10 per
	// connection (MaxSessions), and each API connection is one session.
	stdioSlots chan struct{}
	// lastRejected is the fingerprint last refused, so that a host
	// retried every few seconds logs its key problem once, not per try.
	// Its own lock: the host key check runs while mu is held.
	rejectMu     sync.Mutex
	lastRejected string
}

func newSSHDialer(h config.Host, timeout time.Duration, log *slog.Logger) *sshDialer {
	spec := h.SSH
	if spec.Timeout <= 0 {
		spec.Timeout = timeout
	}
	if spec.RemoteSocket == "" {
		spec.RemoteSocket = "/var/run/docker.sock"
	}
	if spec.Mode == "" {
		spec.Mode = "auto"
	}
	if spec.HostKeyPolicy == "" {
		spec.HostKeyPolicy = "strict"
	}
	if spec.HostKeyPolicy == "insecure" {
		log.Warn("SSH host key verification is off (host_key_policy: insecure): anyone between here and the host can impersonate it")
	}
	return &sshDialer{spec: spec, addr: h.DialAddr(), user: h.User, log: log, stdioSlots: make(chan struct{}, 9)}
}

// stdioRetry is how long mode auto keeps using dial-stdio before it tries
// streamlocal again.
var stdioRetry = 5 * time.Minute

// dial opens one connection to the remote Docker socket.
func (d *sshDialer) dial(ctx context.Context) (net.Conn, error) {
	c, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	if !d.useStreamlocal() {
		return d.dialStdio(ctx, c, nil)
	}
	conn, err := c.DialContext(ctx, "unix", d.spec.RemoteSocket)
	if err == nil {
		return conn, nil
	}
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) {
		// Not a refusal by the server: the SSH connection itself is broken.
		d.reset(c)
		return nil, fmt.Errorf("ssh %s: open remote socket %s: %w", d.addr, d.spec.RemoteSocket, err)
	}
	// OpenSSH refuses the channel in the same words whether the socket is
	// missing (dockerd down or restarting) or the server forbids socket
	// forwarding, so the error says both.
	openErr := fmt.Errorf("ssh %s: remote socket %s: the server refused a channel to it (the socket is missing, or the server forbids socket forwarding): %w",
		d.addr, d.spec.RemoteSocket, err)
	if d.spec.Mode != "auto" {
		return nil, openErr
	}
	// dial-stdio tells the two apart: it works where forwarding is
	// forbidden, and fails where the socket is missing. Until its first
	// answer proves it (stdioConn.onData), nothing is claimed.
	conn, serr := d.dialStdio(ctx, c, openErr)
	if serr != nil {
		return nil, fmt.Errorf("%w (dial-stdio fallback failed too: %v)", openErr, serr)
	}
	return conn, nil
}

// stdioWorks records that dial-stdio answered where streamlocal was
// refused: the server forbids socket forwarding, and mode auto uses
// dial-stdio for a while (see useStreamlocal).
func (d *sshDialer) stdioWorks(c *ssh.Client) {
	d.mu.Lock()
	first := !d.stdioLogged
	if d.client == c {
		d.stdio, d.stdioSince, d.stdioLogged = true, time.Now(), true
	}
	d.mu.Unlock()
	msg := "SSH server refuses socket forwarding; using `docker system dial-stdio` on the remote"
	if first {
		d.log.Info(msg, "addr", d.addr)
	} else {
		d.log.Debug(msg, "addr", d.addr)
	}
}

// useStreamlocal says whether to open the remote socket with
// direct-streamlocal rather than dial-stdio.
//
// In mode auto the switch to dial-stdio must not be for good. OpenSSH
// answers a refused direct-streamlocal the same way ("open failed",
// administratively prohibited) whether the server forbids forwarding or the
// remote socket is just missing because dockerd is restarting, so a refusal
// proves nothing lasting. The choice therefore ends with the SSH connection
// (reset), with a dial-stdio session that ends before answering (the
// daemon is unreachable that way too; see stdioConn), and after stdioRetry,
// so a host whose daemon was briefly down gets back to streamlocal, which
// needs no docker CLI on the remote and is not bounded by MaxSessions. On a
// server that does forbid forwarding, all this costs one refused channel
// open now and then.
func (d *sshDialer) useStreamlocal() bool {
	switch d.spec.Mode {
	case "dial-stdio":
		return false
	case "streamlocal":
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stdio && time.Since(d.stdioSince) >= stdioRetry {
		d.stdio = false
	}
	return !d.stdio
}

// stdioFailed drops the auto-mode choice of dial-stdio.
func (d *sshDialer) stdioFailed() {
	d.mu.Lock()
	d.stdio = false
	d.mu.Unlock()
}

// connect returns the live SSH connection, dialling one if needed.
func (d *sshDialer) connect(ctx context.Context) (*ssh.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.client != nil {
		return d.client, nil
	}
	cfg, done, err := d.clientConfig()
	if err != nil {
		return nil, err
	}
	// The agent's connection is needed until the handshake has signed.
	defer done()
	nd := net.Dialer{Timeout: d.spec.Timeout}
	raw, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	} else if d.spec.Timeout > 0 {
		_ = raw.SetDeadline(time.Now().Add(d.spec.Timeout))
	}
	sc, chans, reqs, err := ssh.NewClientConn(raw, d.addr, cfg)
	if err != nil {
		raw.Close()
		var ane *ssh.AlgorithmNegotiationError
		if errors.As(err, &ane) && ane.What == "host key" && len(cfg.HostKeyAlgorithms) > 0 {
			// Offering only the key types known_hosts records (see
			// knownHostKeyAlgorithms) turns a host that now has other keys
			// into a failed negotiation: it is a host key mismatch.
			if d.firstRejection("types:" + strings.Join(ane.RequestedAlgorithms, ",")) {
				d.log.Error("SSH host key MISMATCH: the host offers no key of a type known_hosts records for it. "+
					"If the host was reinstalled, remove its line from known_hosts (ssh-keygen -R) and reconnect; otherwise someone may be impersonating it",
					"addr", d.addr, "known_hosts", d.spec.KnownHosts, "recorded", cfg.HostKeyAlgorithms, "offered", ane.RequestedAlgorithms)
			}
			return nil, fmt.Errorf("%w: %s offers no host key of a type %s records for it (offered %s)",
				ErrHostKey, d.addr, d.spec.KnownHosts, strings.Join(ane.RequestedAlgorithms, ","))
		}
		return nil, classifySSH(err)
	}
	_ = raw.SetDeadline(time.Time{})
	d.client = ssh.NewClient(sc, chans, reqs)
	d.stopKeep = make(chan struct{})
	go d.keepalive(d.client, d.stopKeep)
	return d.client, nil
}

// keepalive notices a dead connection (a host that vanished without a FIN)
// and drops it, so the next dial starts afresh.
func (d *sshDialer) keepalive(c *ssh.Client, stop chan struct{}) {
	if d.spec.Keepalive <= 0 {
		return
	}
	t := time.NewTicker(d.spec.Keepalive)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			done := make(chan error, 1)
			go func() {
				_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil {
					continue
				}
			case <-time.After(d.spec.Keepalive):
			case <-stop:
				return
			}
			d.log.Warn("SSH keepalive failed; reconnecting", "addr", d.addr)
			d.reset(c)
			return
		}
	}
}

// reset drops c if it is still the current connection.
func (d *sshDialer) reset(c *ssh.Client) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.client == c && c != nil {
		close(d.stopKeep)
		d.client.Close()
		d.client = nil
		d.stdio = false // a new connection tries streamlocal again (see useStreamlocal)
	}
}

func (d *sshDialer) close() {
	d.mu.Lock()
	c := d.client
	d.mu.Unlock()
	d.reset(c)
}

// clientConfig builds the configuration of one handshake; done closes what
// the handshake borrowed (the agent connection) once it is over.
func (d *sshDialer) clientConfig() (cfg *ssh.ClientConfig, done func(), err error) {
	var (
		auth      []ssh.AuthMethod
		agentMu   sync.Mutex
		agentConn net.Conn
	)
	done = func() {
		agentMu.Lock()
		defer agentMu.Unlock()
		if agentConn != nil {
			agentConn.Close()
		}
	}
	if d.spec.KeyFile != "" {
		signer, err := loadKey(d.spec.KeyFile, d.spec.PassphraseFile)
		if err != nil {
			return nil, done, err
		}
		auth = append(auth, ssh.PublicKeys(signer))
	}
	if d.spec.Agent {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return nil, done, errors.New("ssh agent requested but SSH_AUTH_SOCK is not set")
		}
		auth = append(auth, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
			conn, err := net.Dial("unix", sock)
			if err != nil {
				return nil, fmt.Errorf("ssh agent: %w", err)
			}
			agentMu.Lock()
			if agentConn != nil {
				agentConn.Close()
			}
			agentConn = conn
			agentMu.Unlock()
			return agent.NewClient(conn).Signers()
		}))
	}
	if d.spec.PasswordFile != "" {
		b, err := readSecret("ssh.password_file", d.spec.PasswordFile)
		if err != nil {
			return nil, done, err
		}
		pw := strings.TrimRight(string(b), "\r\n")
		auth = append(auth, ssh.Password(pw))
	}
	hk, algos, err := d.hostKeyCallback()
	if err != nil {
		return nil, done, err
	}
	return &ssh.ClientConfig{User: d.user, Auth: auth, HostKeyCallback: hk, HostKeyAlgorithms: algos, Timeout: d.spec.Timeout}, done, nil
}

func loadKey(keyFile, passphraseFile string) (ssh.Signer, error) {
	key, err := readSecret("key_file", keyFile)
	if err != nil {
		return nil, err
	}
	if passphraseFile == "" {
		s, err := ssh.ParsePrivateKey(key)
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("%w: key_file is encrypted and no ssh.passphrase_file is set", ErrAuth)
		}
		if err != nil {
			// The parse error never quotes the key.
			return nil, fmt.Errorf("%w: key_file: %v", ErrAuth, err)
		}
		return s, nil
	}
	pass, err := readSecret("ssh.passphrase_file", passphraseFile)
	if err != nil {
		return nil, err
	}
	s, err := ssh.ParsePrivateKeyWithPassphrase(key, []byte(strings.TrimRight(string(pass), "\r\n")))
	if err != nil {
		return nil, fmt.Errorf("%w: key_file does not decrypt with ssh.passphrase_file: %v", ErrAuth, err)
	}
	return s, nil
}

// readSecret reads a key, password or passphrase file. Its errors name the
// field, not the path: the docs promise that the value of these fields is
// never repeated, in case a secret was written there instead of a path.
// They are auth errors: the host cannot log in until the file is fixed.
func readSecret(field, path string) ([]byte, error) {
	b, err := config.ReadFile(path, maxCredentialFile)
	if err != nil {
		if cause := errors.Unwrap(err); cause != nil {
			err = cause // ReadFile's error is "PATH: cause"
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrAuth, field, err)
	}
	return b, nil
}

// classifySSH marks handshake failures so that Reason can tell host key
// from authentication problems.
func classifySSH(err error) error {
	switch {
	case errors.Is(err, ErrHostKey):
		return err
	case strings.Contains(err.Error(), "unable to authenticate"), strings.Contains(err.Error(), "no supported methods remain"):
		return fmt.Errorf("%w: %v", ErrAuth, err)
	}
	return err
}
