package hostpool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHSpec says how to reach a daemon over SSH.
type SSHSpec struct {
	Addr           string // host:port
	User           string
	KeyFile        string
	PassphraseFile string
	PasswordFile   string
	Agent          bool
	KnownHosts     string
	HostKeyPolicy  string // strict, accept-new, insecure
	Timeout        time.Duration
	Keepalive      time.Duration
	RemoteSocket   string
	Mode           string // auto, streamlocal, dial-stdio
}

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
	spec SSHSpec
	log  *slog.Logger

	mu       sync.Mutex
	client   *ssh.Client
	stdio    bool // streamlocal was refused; use dial-stdio from now on
	stopKeep chan struct{}
	// stdioSlots bounds dial-stdio sessions: OpenSSH allows 10 per
	// connection (MaxSessions), and each API connection is one session.
	stdioSlots chan struct{}
	// lastRejected is the fingerprint last refused, so that a host
	// retried every few seconds logs its key problem once, not per try.
	// Its own lock: the host key check runs while mu is held.
	rejectMu     sync.Mutex
	lastRejected string
}

func newSSHDialer(spec SSHSpec, log *slog.Logger) *sshDialer {
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
	return &sshDialer{spec: spec, log: log, stdio: spec.Mode == "dial-stdio", stdioSlots: make(chan struct{}, 9)}
}

// dial opens one connection to the remote Docker socket.
func (d *sshDialer) dial(ctx context.Context) (net.Conn, error) {
	c, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	stdio := d.stdio
	d.mu.Unlock()
	if !stdio {
		conn, err := c.DialContext(ctx, "unix", d.spec.RemoteSocket)
		if err == nil {
			return conn, nil
		}
		var oce *ssh.OpenChannelError
		if !errors.As(err, &oce) || d.spec.Mode != "auto" {
			d.reset(c)
			return nil, fmt.Errorf("ssh %s: open %s: %w", d.spec.Addr, d.spec.RemoteSocket, err)
		}
		d.log.Info("SSH server refuses socket forwarding; using `docker system dial-stdio` on the remote", "reason", oce.Message)
		d.mu.Lock()
		d.stdio = true
		d.mu.Unlock()
	}
	select {
	case d.stdioSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	conn, err := d.dialStdio(c)
	if err != nil {
		<-d.stdioSlots
		return nil, err
	}
	return conn, nil
}

// connect returns the live SSH connection, dialling one if needed.
func (d *sshDialer) connect(ctx context.Context) (*ssh.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.client != nil {
		return d.client, nil
	}
	cfg, err := d.clientConfig()
	if err != nil {
		return nil, err
	}
	nd := net.Dialer{Timeout: d.spec.Timeout}
	raw, err := nd.DialContext(ctx, "tcp", d.spec.Addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	} else if d.spec.Timeout > 0 {
		_ = raw.SetDeadline(time.Now().Add(d.spec.Timeout))
	}
	sc, chans, reqs, err := ssh.NewClientConn(raw, d.spec.Addr, cfg)
	if err != nil {
		raw.Close()
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
			d.log.Warn("SSH keepalive failed; reconnecting", "addr", d.spec.Addr)
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
	}
}

func (d *sshDialer) close() {
	d.mu.Lock()
	c := d.client
	d.mu.Unlock()
	d.reset(c)
}

func (d *sshDialer) clientConfig() (*ssh.ClientConfig, error) {
	var auth []ssh.AuthMethod
	if d.spec.KeyFile != "" {
		signer, err := loadKey(d.spec.KeyFile, d.spec.PassphraseFile)
		if err != nil {
			return nil, err
		}
		auth = append(auth, ssh.PublicKeys(signer))
	}
	if d.spec.Agent {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return nil, errors.New("ssh agent requested but SSH_AUTH_SOCK is not set")
		}
		auth = append(auth, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
			conn, err := net.Dial("unix", sock)
			if err != nil {
				return nil, fmt.Errorf("ssh agent: %w", err)
			}
			return agent.NewClient(conn).Signers()
		}))
	}
	if d.spec.PasswordFile != "" {
		b, err := os.ReadFile(d.spec.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("read password_file: %w", err)
		}
		pw := strings.TrimRight(string(b), "\r\n")
		auth = append(auth, ssh.Password(pw))
	}
	hk, err := d.hostKeyCallback()
	if err != nil {
		return nil, err
	}
	return &ssh.ClientConfig{User: d.spec.User, Auth: auth, HostKeyCallback: hk, Timeout: d.spec.Timeout}, nil
}

func loadKey(keyFile, passphraseFile string) (ssh.Signer, error) {
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("read key_file: %w", err)
	}
	if passphraseFile == "" {
		s, err := ssh.ParsePrivateKey(key)
		if err != nil {
			// Never echo the key: the parse error text is generic.
			return nil, fmt.Errorf("parse key_file %s: %w", keyFile, err)
		}
		return s, nil
	}
	pass, err := os.ReadFile(passphraseFile)
	if err != nil {
		return nil, fmt.Errorf("read passphrase_file: %w", err)
	}
	s, err := ssh.ParsePrivateKeyWithPassphrase(key, []byte(strings.TrimRight(string(pass), "\r\n")))
	if err != nil {
		return nil, fmt.Errorf("decrypt key_file %s with passphrase_file: %w", keyFile, ErrAuth)
	}
	return s, nil
}

func (d *sshDialer) hostKeyCallback() (ssh.HostKeyCallback, error) {
	if d.spec.HostKeyPolicy == "insecure" {
		return ssh.InsecureIgnoreHostKey(), nil //nolint:gosec // explicit opt-in, warned about
	}
	path := d.spec.KnownHosts
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && d.spec.HostKeyPolicy == "accept-new" {
		if f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
			f.Close()
		}
	}
	check, err := knownhosts.New(path)
	if err != nil {
		return nil, fmt.Errorf("known_hosts %s: %w", path, err)
	}
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := check(hostname, remote, key)
		var ke *knownhosts.KeyError
		if err == nil || !errors.As(err, &ke) {
			return err
		}
		fp := ssh.FingerprintSHA256(key)
		d.rejectMu.Lock()
		first := d.lastRejected != fp
		d.lastRejected = fp
		d.rejectMu.Unlock()
		logErr := func(msg string, args ...any) {
			if first {
				d.log.Error(msg, args...)
			}
		}
		if len(ke.Want) > 0 {
			logErr("SSH host key MISMATCH: the host presents a different key than known_hosts records. "+
				"If the host was reinstalled, remove its line from known_hosts (ssh-keygen -R) and reconnect; otherwise someone may be impersonating it",
				"addr", d.spec.Addr, "known_hosts", path, "presented", fp)
			return fmt.Errorf("%w: key %s for %s does not match %s", ErrHostKey, fp, hostname, path)
		}
		if d.spec.HostKeyPolicy == "accept-new" {
			line := knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key)
			f, werr := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o600)
			if werr == nil {
				_, werr = fmt.Fprintln(f, line)
				f.Close()
			}
			if werr != nil {
				return fmt.Errorf("record new host key in %s: %w", path, werr)
			}
			d.log.Info("recorded new SSH host key (host_key_policy: accept-new)", "addr", d.spec.Addr, "key", fp, "known_hosts", path)
			return nil
		}
		logErr("SSH host key unknown: add it to known_hosts (ssh-keyscan -p PORT HOST >> known_hosts, after checking the fingerprint) or set host_key_policy: accept-new",
			"addr", d.spec.Addr, "known_hosts", path, "presented", fp)
		return fmt.Errorf("%w: no key for %s in %s (presented %s)", ErrHostKey, hostname, path, fp)
	}, nil
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

// dialStdio runs `docker system dial-stdio` on the remote and uses its
// stdin and stdout as the connection.
func (d *sshDialer) dialStdio(c *ssh.Client) (net.Conn, error) {
	sess, err := c.NewSession()
	if err != nil {
		d.reset(c)
		return nil, fmt.Errorf("ssh %s: session: %w", d.spec.Addr, err)
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		return nil, err
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		sess.Close()
		return nil, err
	}
	cmd := "docker system dial-stdio"
	if d.spec.RemoteSocket != "/var/run/docker.sock" {
		cmd = "docker -H unix://" + d.spec.RemoteSocket + " system dial-stdio"
	}
	if err := sess.Start(cmd); err != nil {
		sess.Close()
		return nil, fmt.Errorf("ssh %s: %s: %w", d.spec.Addr, cmd, err)
	}
	return &stdioConn{sess: sess, r: stdout, w: stdin, local: c.LocalAddr(), remote: c.RemoteAddr(),
		release: func() { <-d.stdioSlots }}, nil
}

// stdioConn is a net.Conn over a remote command's stdin and stdout.
type stdioConn struct {
	sess          *ssh.Session
	r             io.Reader
	w             io.WriteCloser
	local, remote net.Addr
	once          sync.Once
	release       func()
}

func (c *stdioConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *stdioConn) Write(p []byte) (int, error) { return c.w.Write(p) }
func (c *stdioConn) Close() error {
	c.once.Do(func() {
		c.w.Close()
		c.sess.Close()
		c.release()
	})
	return nil
}
func (c *stdioConn) LocalAddr() net.Addr              { return c.local }
func (c *stdioConn) RemoteAddr() net.Addr             { return c.remote }
func (c *stdioConn) SetDeadline(time.Time) error      { return nil }
func (c *stdioConn) SetReadDeadline(time.Time) error  { return nil }
func (c *stdioConn) SetWriteDeadline(time.Time) error { return nil }
