package config

import (
	"bytes"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// returns runs f in a goroutine and fails the test if it has not returned
// within 10 s: a bound on a hang, not a timing assertion.
func returns(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("still blocked after 10s")
		return nil
	}
}

func TestReadFileLimit(t *testing.T) {
	const secret = "correct-horse-battery-staple"
	dir := t.TempDir()
	exact := filepath.Join(dir, "exact")
	over := filepath.Join(dir, "over")
	if err := os.WriteFile(exact, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(over, []byte(secret+"!"), 0o600); err != nil {
		t.Fatal(err)
	}
	limit := int64(len(secret))

	got, err := ReadFile(exact, limit)
	if err != nil || string(got) != secret {
		t.Errorf("ReadFile(exact) = %q, %v; want the file", got, err)
	}
	_, err = ReadFile(over, limit)
	if want := over + ": is larger than 28 bytes"; err == nil || err.Error() != want {
		t.Errorf("ReadFile(over) error\n got %v\nwant %s", err, want)
	}
	if err != nil && strings.Contains(err.Error(), secret) {
		t.Errorf("error holds the file's contents: %v", err)
	}
	_, err = ReadFile(filepath.Join(dir, "missing"), limit)
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != filepath.Join(dir, "missing")+": no such file or directory" {
		t.Errorf("ReadFile(missing) error = %v", err)
	}
}

// Files in /proc report a size of 0: the limit must hold on what is read,
// not only on what Stat says.
func TestReadFileLimitUnknownSize(t *testing.T) {
	const path = "/proc/self/status"
	fi, err := os.Stat(path)
	if err != nil || fi.Size() != 0 || !fi.Mode().IsRegular() {
		t.Skipf("%s is not a regular file reporting size 0 here", path)
	}
	_, err = ReadFile(path, 1<<10)
	if want := path + ": is larger than 1 KiB"; err == nil || err.Error() != want {
		t.Errorf("error\n got %v\nwant %s", err, want)
	}
}

// Load refuses anything but a regular file of at most MaxFileSize, without
// blocking on a FIFO or filling memory from a device.
func TestLoadNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yml")
	if err := os.WriteFile(big, bytes.Repeat([]byte("#"), MaxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, path, want string }{
		{"fifo", fifo, "is not a regular file (a named pipe)"},
		{"device", "/dev/zero", "is not a regular file (a character device)"},
		{"directory", dir, "is a directory"},
		{"over the cap", big, "is larger than 10 MiB"},
		{"socket", filepath.Join(dir, "sock"), "is not a regular file (a socket)"},
	}
	if l, err := net.Listen("unix", filepath.Join(dir, "sock")); err == nil {
		defer l.Close()
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(tc.path); err != nil {
				t.Skip(err)
			}
			err := returns(t, func() error {
				_, err := Load(tc.path)
				return err
			})
			if want := tc.path + ": " + tc.want; err == nil || err.Error() != want {
				t.Errorf("Load error\n got %v\nwant %s", err, want)
			}
		})
	}
}

func TestByteSize(t *testing.T) {
	for n, want := range map[int64]string{
		MaxFileSize: "10 MiB", 1 << 10: "1 KiB", 1536: "1536 bytes" /* not 1.5 KiB */, 3 << 10: "3 KiB", 100: "100 bytes", 0: "0 bytes",
	} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}
