package testlab

import (
	"net"
	"sync"
	"testing"
)

// StartHang plays a host that hangs: a TCP listener on 127.0.0.1 that
// accepts every connection and then neither reads nor writes, holding it open
// until the end of the test. A TLS handshake, an SSH banner exchange or an
// HTTP request to it waits forever, which is what a wedged daemon or a
// half-dead machine behind a live network stack looks like; only the
// client's own timeouts end the wait. Returns the address (127.0.0.1:port).
func StartHang(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testlab: %v", err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return // the listener was closed by cleanup
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done // no Accept after this
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}
