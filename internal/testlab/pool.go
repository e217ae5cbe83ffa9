package testlab

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Every test daemon's bridges live in the one host network namespace, so two
// daemons handing out the same subnet would break each other's container
// networking. `go test ./...` runs several package binaries at once, each
// with its own daemons, so the choice must be coordinated across processes:
// each daemon holds an flock on /tmp/.dmlab-pool-X.lock for 172.X.0.0/16
// while it exists (the kernel drops the lock if the process dies), and a pool
// that already has a route (any other Docker's networks) is skipped.
//
// Candidates go from 172.31 down to 172.20, because a stock dockerd hands out
// its default pools from 172.17 upwards.

const (
	poolLow  = 20
	poolHigh = 31
)

type addrPool struct {
	x    int
	lock *os.File
}

func poolCIDR(x int) string { return fmt.Sprintf("172.%d.0.0/16", x) }

func (p *addrPool) cidr() string { return poolCIDR(p.x) }

func (p *addrPool) release() {
	if p != nil && p.lock != nil {
		p.lock.Close() // closing the descriptor drops the flock
		p.lock = nil
	}
}

func acquirePool() (*addrPool, error) {
	routes, err := hostRoutes()
	if err != nil {
		return nil, err
	}
	for x := poolHigh; x >= poolLow; x-- {
		if overlapsAny(x, routes) {
			continue
		}
		if p, err := lockPool(x); err == nil {
			return p, nil
		}
	}
	return nil, fmt.Errorf("no free address pool in 172.%d-%d.0.0/16: all locked by other test daemons or in use by host routes", poolLow, poolHigh)
}

// lockPool takes pool x's lock without waiting. flock locks belong to the open
// file description, so this also excludes other daemons of this process.
func lockPool(x int) (*addrPool, error) {
	f, err := os.OpenFile(fmt.Sprintf("/tmp/.dmlab-pool-%d.lock", x), os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return &addrPool{x: x, lock: f}, nil
}

type route struct{ dst, mask uint32 }

// hostRoutes reads the IPv4 routing table of our network namespace,
// skipping default routes (which overlap everything).
func hostRoutes() ([]route, error) {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rs []route
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 8 {
			continue
		}
		dst, err1 := parseHexAddr(fs[1])
		mask, err2 := parseHexAddr(fs[7])
		if err1 != nil || err2 != nil || mask == 0 {
			continue
		}
		rs = append(rs, route{dst, mask})
	}
	return rs, sc.Err()
}

// parseHexAddr decodes /proc/net/route's hex, which prints the address as a
// host-byte-order integer, into a big-endian uint32 (172.20.0.0 -> 0xAC140000).
func parseHexAddr(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, err
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], uint32(v))
	return binary.BigEndian.Uint32(b[:]), nil
}

func overlapsAny(x int, routes []route) bool {
	netw := uint32(172)<<24 | uint32(x)<<16
	const mask = uint32(0xffff0000)
	for _, r := range routes {
		m := mask & r.mask // the shorter prefix decides
		if netw&m == r.dst&m {
			return true
		}
	}
	return false
}
