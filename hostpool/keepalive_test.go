package hostpool

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/config"
)

// freezer forwards TCP to a server until frozen; from then on it keeps the
// connections open and passes nothing, as a host that vanished (power cut,
// network gone) and sent no FIN.
type freezer struct {
	addr   string
	frozen atomic.Bool
}

func startFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f := &freezer{addr: ln.Addr().String()}
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if err != nil {
				dst.Close()
				return
			}
			if !f.frozen.Load() {
				if _, err := dst.Write(buf[:n]); err != nil {
					src.Close()
					return
				}
			}
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); s.Close() })
			go pipe(s, c)
			go pipe(c, s)
		}
	}()
	return f
}

// A connection whose far end goes silent is noticed by the keepalive and
// dropped, so that the next dial starts a new one.
func TestSSHKeepaliveDropsSilentConnection(t *testing.T) {
	k := testKeys()
	srv := startServer(t, k.ed)
	f := startFreezer(t, srv.addr)
	d, logs := testDialer(t, f.addr, config.SSH{KnownHosts: writeKnownHosts(t, f.addr, k.ed)})
	d.spec.Keepalive = 100 * time.Millisecond
	if err := connect(t, d); err != nil {
		t.Fatalf("connect: %v", err)
	}
	d.mu.Lock()
	first := d.client
	d.mu.Unlock()

	f.frozen.Store(true)
	deadline := time.Now().Add(10 * time.Second)
	for {
		d.mu.Lock()
		dropped := d.client == nil
		d.mu.Unlock()
		if dropped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("silent connection still in use after 10s; logs:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "SSH keepalive failed") {
		t.Errorf("no keepalive warning logged:\n%s", logs)
	}

	f.frozen.Store(false)
	if err := connect(t, d); err != nil {
		t.Fatalf("redial after the host came back: %v", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.client == nil || d.client == first {
		t.Errorf("no new connection after the keepalive dropped the old one")
	}
}
