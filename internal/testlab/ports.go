package testlab

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
)

// Servers that stand in for remote hosts (a TLS dockerd, an sshd) must be
// told their port up front and keep it across Stop/Restart, because the
// client under test was configured with it. A port from `:0` would be taken
// from the kernel's ephemeral range, where any outgoing connection of any
// process may grab it while our server is stopped. So ports are picked at
// random below that range, where only servers that bind a fixed port live;
// one this process handed out is never handed out again. Another test
// process picking the same port between our check and the server's bind is
// still possible, so the starters retry on "address already in use".

var (
	portMu     sync.Mutex
	portsGiven = map[int]bool{}
)

const portFloor = 10000

// FreePort returns a loopback TCP port nothing listens on right now, chosen
// below the kernel's ephemeral port range so that no outgoing connection or
// `:0` listener can occupy it between this call and the server's bind, or
// while that server is stopped for a while. Never the same port twice in one
// test process.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatalf("testlab: %v", err)
	}
	return p
}

func freePort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	lo, hi := portFloor, ephemeralLow()
	if hi-lo < 1000 {
		// A host with an unusually wide ephemeral range: fall back to the kernel's choice.
		for range 100 {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return 0, err
			}
			p := ln.Addr().(*net.TCPAddr).Port
			ln.Close()
			if !portsGiven[p] {
				portsGiven[p] = true
				return p, nil
			}
		}
		return 0, errors.New("no free loopback port")
	}
	for range 500 {
		p := lo + rand.IntN(hi-lo)
		if portsGiven[p] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		portsGiven[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("no free loopback port in %d-%d after 500 tries", lo, hi-1)
}

// ephemeralLow returns the first port of net.ipv4.ip_local_port_range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	var lo, hi int
	if n, _ := fmt.Sscanf(strings.TrimSpace(string(b)), "%d %d", &lo, &hi); n != 2 {
		return 32768
	}
	return lo
}

// isAddrInUse reports whether a server's log or error says its port was
// taken, so that the starter can try another.
func isAddrInUse(s string) bool {
	return strings.Contains(strings.ToLower(s), "address already in use")
}
