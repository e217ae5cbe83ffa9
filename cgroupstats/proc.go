package cgroupstats

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strconv"
	"sync"
	"syscall"

	"github.com/snadboy/docker-monitor/dockerstats"
)

// Caps on what is read from one file. The kernel writes these files in a
// few KiB; a file beyond the cap is not one the kernel wrote.
const (
	maxCgroupFile = 1 << 20
	// maxNetDev holds about 2,000 interfaces.
	maxNetDev = 256 << 10
	// maxCPULines bounds /proc/stat's cpu lines: Linux supports 8,192 CPUs.
	maxCPULines = 1 << 14
)

var errTooBig = errors.New("file too large")

// Files are read with plain system calls into pooled buffers: an
// os.File costs two more calls (the poller's fcntl and epoll_ctl) and
// several allocations, for each of the dozen files a sample reads.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// withFile calls parse with the whole content of a file of at most limit
// bytes, in a buffer that is reused once parse returns.
func withFile(path string, limit int, parse func([]byte) error) error {
	fd, err := open(path)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	bp := bufPool.Get().(*[]byte)
	b := (*bp)[:0]
	defer func() {
		if cap(b) <= 64<<10 { // a rare big file does not pin its buffer
			*bp = b[:0]
			bufPool.Put(bp)
		}
	}()
	for {
		if len(b) == cap(b) {
			if len(b) > limit {
				return fmt.Errorf("%s: %w: over %d bytes", path, errTooBig, limit)
			}
			b = append(b, 0)[:len(b)]
		}
		n, err := fdReader(fd).Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return &os.PathError{Op: "read", Path: path, Err: err}
		}
	}
	if len(b) > limit {
		return fmt.Errorf("%s: %w: over %d bytes", path, errTooBig, limit)
	}
	return parse(b)
}

// open opens a file to read. O_NONBLOCK changes nothing for the kernel's
// files, but a FIFO put in their place cannot hang the read.
func open(path string) (int, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

// fdReader reads a file descriptor; io.EOF at its end.
type fdReader int

func (fd fdReader) Read(b []byte) (int, error) {
	for {
		n, err := syscall.Read(int(fd), b)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// lines yields each line of b with its index, without the newline; a
// final newline ends the last line rather than starting an empty one.
func lines(b []byte) iter.Seq2[int, []byte] {
	return func(yield func(int, []byte) bool) {
		for n := 0; len(b) > 0; n++ {
			line, rest, _ := bytes.Cut(b, []byte{'\n'})
			if !yield(n, line) {
				return
			}
			b = rest
		}
	}
}

// truncate keeps an error message about a hostile line short.
func truncate(b []byte) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}

// kernelOnlyInterfaces are not the container's: the loopback, and the
// fallback devices the kernel creates in every network namespace once a
// tunnel module is loaded. Docker's answer lists only the interfaces it
// gave the container.
var kernelOnlyInterfaces = map[string]bool{
	"lo": true, "tunl0": true, "gre0": true, "gretap0": true, "erspan0": true,
	"ip_vti0": true, "ip6_vti0": true, "sit0": true, "ip6tnl0": true, "ip6gre0": true,
}

// readNetDev reads the counters of the network namespace's interfaces from
// /proc/<pid>/net/dev: after two header lines, "name: " and 16 counters,
// receive then transmit, of which Docker reports bytes, packets, errs and
// drop of each. It returns nil when the namespace has no interface of the
// container's. (procfs's parser indexes the 16 fields unchecked.)
func readNetDev(path string) (out map[string]dockerstats.NetworkStats, err error) {
	err = withFile(path, maxNetDev, func(b []byte) error {
		out, err = parseNetDev(path, b)
		return err
	})
	return out, err
}

func parseNetDev(path string, b []byte) (map[string]dockerstats.NetworkStats, error) {
	var out map[string]dockerstats.NetworkStats
	for n, line := range lines(b) {
		if n < 2 {
			continue
		}
		name, counters, ok := bytes.Cut(line, []byte{':'})
		name = bytes.TrimSpace(name)
		if !ok || len(name) == 0 {
			return nil, fmt.Errorf("%s line %d: malformed: %q", path, n+1, truncate(line))
		}
		if kernelOnlyInterfaces[string(name)] {
			continue
		}
		var v [16]uint64
		if err := parseUints(counters, v[:]); err != nil {
			return nil, fmt.Errorf("%s line %d (%s): %w", path, n+1, truncate(name), err)
		}
		if out == nil {
			out = make(map[string]dockerstats.NetworkStats, 1)
		}
		out[string(name)] = dockerstats.NetworkStats{
			RxBytes: v[0], RxPackets: v[1], RxErrors: v[2], RxDropped: v[3],
			TxBytes: v[8], TxPackets: v[9], TxErrors: v[10], TxDropped: v[11],
		}
	}
	return out, nil
}

// parseUints parses exactly len(dst) space-separated decimal fields.
func parseUints(b []byte, dst []uint64) error {
	for i := range dst {
		b = bytes.TrimLeft(b, " \t")
		field := b
		if j := bytes.IndexAny(b, " \t"); j >= 0 {
			field, b = b[:j], b[j:]
		} else {
			b = nil
		}
		if len(field) == 0 {
			return fmt.Errorf("%d fields, want %d", i, len(dst))
		}
		v, err := strconv.ParseUint(string(field), 10, 64)
		if err != nil {
			return fmt.Errorf("field %d: %w", i+1, err)
		}
		dst[i] = v
	}
	if len(bytes.TrimSpace(b)) > 0 {
		return fmt.Errorf("more than %d fields", len(dst))
	}
	return nil
}

// Docker hard-codes the clock tick as well: it is 100 on every Linux.
const nanosPerTick = 1e9 / 100

var statReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// readProcStat returns the host's CPU time as Docker computes it (the sum
// of the first seven fields of /proc/stat's "cpu" line, user to softirq,
// in nanoseconds) and the online CPUs (its cpuN lines). Docker counts the
// CPUs dockerd may run on; the two differ only for a dockerd pinned to
// some CPUs. Reading stops at the first line after the cpu lines, before
// the long interrupt counts.
func readProcStat(path string) (system uint64, cpus uint32, err error) {
	fd, err := open(path)
	if err != nil {
		return 0, 0, err
	}
	defer syscall.Close(fd)
	br := statReaders.Get().(*bufio.Reader)
	br.Reset(fdReader(fd))
	defer func() { br.Reset(nil); statReaders.Put(br) }()
	return scanProcStat(path, br)
}

func scanProcStat(path string, br *bufio.Reader) (system uint64, cpus uint32, err error) {
	found := false
	for n := 0; n < maxCPULines; n++ {
		line, err := br.ReadSlice('\n')
		if !bytes.HasPrefix(line, []byte("cpu")) {
			break // past the cpu lines, the end, or a long line
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, 0, fmt.Errorf("%s line %d: %w", path, n+1, err)
		}
		name, rest, _ := bytes.Cut(bytes.TrimRight(line, "\n"), []byte{' '})
		if len(name) > 3 {
			if _, err := strconv.ParseUint(string(name[3:]), 10, 32); err != nil {
				return 0, 0, fmt.Errorf("%s line %d: malformed: %q", path, n+1, truncate(line))
			}
			cpus++
			continue
		}
		var ticks [7]uint64
		if err := parseUints(firstFields(rest, len(ticks)), ticks[:]); err != nil {
			return 0, 0, fmt.Errorf("%s line %d: %w", path, n+1, err)
		}
		var sum uint64
		for _, t := range ticks {
			sum += t
		}
		system, found = sum*nanosPerTick, true
	}
	if !found || cpus == 0 {
		return 0, 0, fmt.Errorf("%s: no cpu lines", path)
	}
	return system, cpus, nil
}

// firstFields cuts b after its first n space-separated fields.
func firstFields(b []byte, n int) []byte {
	end, inField := 0, false
	for i, c := range b {
		space := c == ' ' || c == '\t'
		if inField && space {
			if n--; n == 0 {
				return b[:i]
			}
		}
		inField, end = !space, i+1
	}
	return b[:end]
}

// readMemTotal returns MemTotal of /proc/meminfo, in bytes.
func readMemTotal(path string) (total uint64, err error) {
	err = withFile(path, maxCgroupFile, func(b []byte) error {
		total, err = parseMemTotal(path, b)
		return err
	})
	return total, err
}

func parseMemTotal(path string, b []byte) (uint64, error) {
	for n, line := range lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("MemTotal:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("%s line %d: malformed: %q", path, n+1, truncate(line))
		}
		kb, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil || kb > 1<<54 {
			return 0, fmt.Errorf("%s line %d: malformed: %q", path, n+1, truncate(line))
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("%s: no MemTotal", path)
}
