package hostpool

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// readyMarker is what the remote shell prints before it starts dial-stdio.
// Waiting for it makes the slow part of a session, the remote user's shell
// start-up (a .bashrc that runs pyenv or nvm takes seconds), part of the
// dial, which net/http lets finish and pools even when the request that
// asked for it has gone: a scrape that gives up leaves a connection for the
// next one instead of a wasted session. Anything the shell start-up writes
// to stdout before it is skipped, too, where it would corrupt the stream.
const readyMarker = "docker-monitor: dial-stdio\n"

// dialStdio runs `docker system dial-stdio` on the remote and uses its
// stdin and stdout as the connection. refused, in mode auto, is the
// streamlocal refusal that led here (else nil): a session that ends without
// a byte reports it, with what dial-stdio said.
func (d *sshDialer) dialStdio(ctx context.Context, c *ssh.Client, refused error) (net.Conn, error) {
	// net/http dials under a context that no request cancels: the wait for
	// a session and for the remote shell needs a bound of its own.
	ctx, cancel := context.WithTimeout(ctx, d.spec.Timeout)
	defer cancel()
	select {
	case d.stdioSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("ssh %s: all %d dial-stdio sessions busy: %w", d.addr, cap(d.stdioSlots), ctx.Err())
	}
	sess, err := c.NewSession()
	if err != nil {
		<-d.stdioSlots
		var oce *ssh.OpenChannelError
		if !errors.As(err, &oce) {
			d.reset(c)
		}
		return nil, fmt.Errorf("ssh %s: session: %w", d.addr, err)
	}
	sc, err := d.startStdio(ctx, c, sess)
	if err != nil {
		sess.Close()
		return nil, err
	}
	if d.spec.Mode == "auto" {
		// A session that ends before a byte is no reason to stay off
		// streamlocal (see useStreamlocal).
		sc.onEmpty = d.stdioFailed
	}
	if refused != nil {
		sc.refused = refused
		sc.onData = func() { d.stdioWorks(c) }
	}
	return sc, nil
}

// startStdio starts dial-stdio in sess, which holds a slot of stdioSlots,
// and waits for the remote shell to be ready.
func (d *sshDialer) startStdio(ctx context.Context, c *ssh.Client, sess *ssh.Session) (*stdioConn, error) {
	stdin, err := sess.StdinPipe()
	if err != nil {
		<-d.stdioSlots
		return nil, err
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		<-d.stdioSlots
		return nil, err
	}
	stderr := &tailBuffer{max: 1024}
	sess.Stderr = stderr
	cmd := "docker system dial-stdio"
	if d.spec.RemoteSocket != "/var/run/docker.sock" {
		cmd = "docker -H " + shellQuote("unix://"+d.spec.RemoteSocket) + " system dial-stdio"
	}
	if err := sess.Start("echo " + shellQuote(strings.TrimSuffix(readyMarker, "\n")) + "; exec " + cmd); err != nil {
		<-d.stdioSlots
		return nil, fmt.Errorf("ssh %s: %s: %w", d.addr, cmd, err)
	}
	// The slot is held until the server has ended the session, not until
	// we close it: OpenSSH counts a session against MaxSessions (10) until
	// its command exits, so sessions closed early still count for as long.
	// Counted this way, new dials wait for a slot instead of being refused.
	exited := make(chan struct{})
	go func() {
		_ = sess.Wait()
		close(exited)
		<-d.stdioSlots
	}()
	r := bufio.NewReader(stdout)
	ready := make(chan error, 1)
	go func() { ready <- skipToMarker(r) }()
	select {
	case err = <-ready:
	case <-ctx.Done():
		err = fmt.Errorf("remote shell not ready: %w", ctx.Err())
	}
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %s: %w: %s", d.addr, cmd, err, strings.TrimSpace(stderr.String()))
	}
	return &stdioConn{sess: sess, r: r, w: stdin, local: c.LocalAddr(), remote: c.RemoteAddr(),
		stderr: stderr, exited: exited, socket: d.spec.RemoteSocket}, nil
}

// skipToMarker reads up to and including readyMarker, at most 64 KiB.
func skipToMarker(r *bufio.Reader) error {
	var seen []byte
	for len(seen) < 64<<10 {
		b, err := r.ReadByte()
		if err != nil {
			return fmt.Errorf("remote shell ended before starting dial-stdio: %w", err)
		}
		seen = append(seen, b)
		if bytes.HasSuffix(seen, []byte(readyMarker)) {
			return nil
		}
	}
	return errors.New("remote shell wrote 64 KiB before starting dial-stdio")
}

// shellQuote quotes s as one word for a POSIX shell (the remote user's
// login shell runs the command).
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// stdioConn is a net.Conn over a remote command's stdin and stdout.
type stdioConn struct {
	sess          *ssh.Session
	r             io.Reader
	w             io.WriteCloser
	local, remote net.Addr
	once          sync.Once
	stderr        *tailBuffer
	exited        chan struct{} // closed when the command has ended
	socket        string
	gotData       atomic.Bool
	// onEmpty, in mode auto, runs when the stream ends before a byte.
	// After a refused streamlocal channel, onData runs at the first byte
	// (dial-stdio works, so forwarding is what the server forbids), and
	// refused is the error for a stream that ends before one (dial-stdio
	// could not reach the socket either: it is missing).
	refused         error
	onData, onEmpty func()
	dataOnce        sync.Once
}

// stdioWait bounds the wait for dial-stdio's exit and last words once its
// output has ended.
const stdioWait = 2 * time.Second

func (c *stdioConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.gotData.Store(true)
		if c.onData != nil {
			c.dataOnce.Do(c.onData)
		}
		return n, err
	}
	if err == nil || c.gotData.Load() {
		return n, err
	}
	// The command ended before answering: say what it said, so that a
	// missing socket reads as one rather than as a connection reset.
	select {
	case <-c.exited:
	case <-time.After(stdioWait):
	}
	said := strings.TrimSpace(c.stderr.String())
	if said == "" {
		said = "no output"
	}
	if c.onEmpty != nil {
		c.onEmpty()
	}
	if c.refused != nil {
		return 0, fmt.Errorf("%w; `docker system dial-stdio` could not reach it either: %s", c.refused, said)
	}
	return 0, fmt.Errorf("remote socket %s: `docker system dial-stdio` ended without answering: %s: %w", c.socket, said, syscall.ECONNREFUSED)
}

func (c *stdioConn) Write(p []byte) (int, error) { return c.w.Write(p) }

// Close ends the session. The remote command is also sent SIGKILL, so that
// the server frees the session at once rather than when the command would
// have noticed; OpenSSH honours that only for sessions of a non-root user.
func (c *stdioConn) Close() error {
	c.once.Do(func() {
		select {
		case <-c.exited:
		default:
			_ = c.sess.Signal(ssh.SIGKILL)
		}
		c.w.Close()
		c.sess.Close()
	})
	return nil
}
func (c *stdioConn) LocalAddr() net.Addr              { return c.local }
func (c *stdioConn) RemoteAddr() net.Addr             { return c.remote }
func (c *stdioConn) SetDeadline(time.Time) error      { return nil }
func (c *stdioConn) SetReadDeadline(time.Time) error  { return nil }
func (c *stdioConn) SetWriteDeadline(time.Time) error { return nil }

// tailBuffer keeps the last max bytes written to it: a remote command's
// stderr, for an error message, however much it writes.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.ToValidUTF8(string(t.b), "?")
}
