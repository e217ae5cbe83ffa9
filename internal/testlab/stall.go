package testlab

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// StallProxy plays the network between the exporter and a daemon reached
// over TCP: it forwards every connection to the daemon's unix socket. Stall
// makes the connections that carry an event stream at that moment stop
// delivering the daemon's bytes while staying open; every other connection,
// and every one opened later, works as before. That is a half-open stream
// (a NAT or firewall that dropped the flow without a reset): no read error
// ever comes, and the daemon itself answers.
type StallProxy struct {
	Addr string // 127.0.0.1:port, for tcp://

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
	pipes []*pipe
}

type pipe struct {
	events, silenced atomic.Bool
}

// StartStallProxy forwards to d until the end of the test.
func StartStallProxy(t testing.TB, d *Daemon) *StallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testlab: %v", err)
	}
	p := &StallProxy{Addr: ln.Addr().String()}
	sock := strings.TrimPrefix(d.Host, "unix://")
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by cleanup
			}
			up, err := net.Dial("unix", sock)
			if err != nil {
				c.Close()
				continue
			}
			p.track(c, up)
			p.wg.Add(1)
			go p.pipe(c, up)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// Stall silences the event streams open now.
func (p *StallProxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pp := range p.pipes {
		if pp.events.Load() {
			pp.silenced.Store(true)
		}
	}
}

func (p *StallProxy) track(cs ...net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, cs...)
	p.mu.Unlock()
}

// pipe copies both ways. A connection becomes an event stream's when the
// client asks it for /events; once stalled, what the daemon sends on it is
// read and dropped, so the daemon never blocks and the client never hears.
func (p *StallProxy) pipe(c, up net.Conn) {
	defer p.wg.Done()
	pp := &pipe{}
	p.mu.Lock()
	p.pipes = append(p.pipes, pp)
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if bytes.Contains(buf[:n], []byte("/events?")) || bytes.Contains(buf[:n], []byte("/events ")) {
					pp.events.Store(true)
				}
				if _, werr := up.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		up.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := up.Read(buf)
		if n > 0 && !pp.silenced.Load() {
			if _, werr := c.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	c.Close()
}
