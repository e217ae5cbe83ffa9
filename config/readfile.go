package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// MaxFileSize caps what ReadFile reads for the hosts file. Real hosts files
// are a few KiB; the cap only stops /dev/zero-like files from using up
// memory.
const MaxFileSize = 10 << 20

// ReadFile reads a regular file of at most limit bytes. It refuses a FIFO,
// device, socket or directory without blocking on it, and a file larger
// than limit without reading past limit+1 bytes.
//
// Errors name path once and never hold a byte of the file: callers read
// keys and passwords with it, and errors reach logs and the reply to
// POST /-/reload.
func ReadFile(path string, limit int64) ([]byte, error) {
	// Stat first so that a device is never opened: opening some, such as
	// a watchdog or a tape drive, has effects of its own.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, cause(err))
	}
	if err := checkRegular(fi); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// O_NONBLOCK: should path become a FIFO after the Stat, opening it
	// must not wait for a writer. Fstat then checks what was opened.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, cause(err))
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, cause(err))
	}
	if err := checkRegular(fi); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// The size is only a first check: files in /proc say 0 and the file
	// may grow, so the read itself stops one byte past the limit.
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: is larger than %s", path, byteSize(limit))
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, cause(err))
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: is larger than %s", path, byteSize(limit))
	}
	return data, nil
}

// checkRegular says what a file is when it is not a regular one.
func checkRegular(fi fs.FileInfo) error {
	m := fi.Mode()
	var what string
	switch {
	case m.IsRegular():
		return nil
	case m.IsDir():
		return errors.New("is a directory")
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	case m&fs.ModeCharDevice != 0:
		what = "a character device"
	case m&fs.ModeDevice != 0:
		what = "a block device"
	default:
		what = m.Type().String()
	}
	return errors.New("is not a regular file (" + what + ")")
}

// byteSize writes a limit the way it is likely to have been chosen.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
