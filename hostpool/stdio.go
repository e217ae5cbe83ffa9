package hostpool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// dialStdio runs `docker system dial-stdio` on the remote and uses its
// stdin and stdout as the connection.
func (d *sshDialer) dialStdio(ctx context.Context, c *ssh.Client) (net.Conn, error) {
	select {
	case d.stdioSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	conn, err := d.startStdio(c)
	if err != nil {
		<-d.stdioSlots
		return nil, err
	}
	return conn, nil
}

func (d *sshDialer) startStdio(c *ssh.Client) (net.Conn, error) {
	sess, err := c.NewSession()
	if err != nil {
		var oce *ssh.OpenChannelError
		if !errors.As(err, &oce) {
			d.reset(c)
		}
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
		cmd = "docker -H " + shellQuote("unix://"+d.spec.RemoteSocket) + " system dial-stdio"
	}
	if err := sess.Start(cmd); err != nil {
		sess.Close()
		return nil, fmt.Errorf("ssh %s: %s: %w", d.spec.Addr, cmd, err)
	}
	sc := &stdioConn{sess: sess, r: stdout, w: stdin, local: c.LocalAddr(), remote: c.RemoteAddr(),
		release: func() { <-d.stdioSlots }}
	if d.spec.Mode == "auto" {
		sc.empty = d.stdioFailed
	}
	return sc, nil
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
	release       func()
	// empty, if set, is called when the stream ends before yielding a
	// byte: dial-stdio could not reach the daemon (or there is no docker
	// CLI on the remote), so it is no reason to stay off streamlocal.
	empty   func()
	gotData atomic.Bool
}

func (c *stdioConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.gotData.Store(true)
	} else if err != nil && c.empty != nil && !c.gotData.Load() {
		c.empty()
	}
	return n, err
}
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
