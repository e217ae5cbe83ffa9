package config

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// CheckHostname says whether s is a bare host name or IP address. It
// catches above all "host:port" and "user@host", which belong in port and
// user, and anything that would not survive in a URL's host.
func CheckHostname(s string) error {
	if net.ParseIP(s) != nil {
		return nil
	}
	if strings.ContainsAny(s, ":@/") {
		return errors.New("not a host name or IP address (port and user have fields of their own)")
	}
	if s == "" || len(s) > 253 || strings.IndexFunc(s, notHostnameRune) >= 0 {
		return errors.New("not a host name or IP address (letters, digits, '.', '-' and '_' only)")
	}
	return nil
}

func notHostnameRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_')
}

// resolvePath expands a leading ~ from $HOME and makes a relative path
// relative to base, the directory of the hosts file, so that the file and
// the keys it names can move together.
func resolvePath(base, p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", errors.New("cannot expand ~: $HOME is not set")
		}
		p = filepath.Join(home, p[1:])
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(base, p)
	}
	return filepath.Clean(p), nil
}

// checkReadable makes sure path is a regular file we may open, without
// reading a byte of it: the files it checks hold keys and passwords, and
// nothing of them may reach an error message or a log.
func checkReadable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return cause(err)
	}
	if fi.IsDir() {
		return errors.New("is a directory")
	}
	// A FIFO or device would block the open below, or be read by someone.
	if !fi.Mode().IsRegular() {
		return errors.New("is not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return cause(err)
	}
	return f.Close()
}

// checkCertDir checks a directory in Docker's DOCKER_CERT_PATH layout. The
// client certificate and key must be there: presenting them is why one sets
// cert_path. ca.pem is needed only to verify the daemon; with tls_verify
// false it is not used.
func checkCertDir(dir string, verify bool) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return cause(err)
	}
	if !fi.IsDir() {
		return errors.New("is not a directory")
	}
	files := []string{"cert.pem", "key.pem"}
	if verify {
		files = []string{"ca.pem", "cert.pem", "key.pem"}
	}
	for _, name := range files {
		if err := checkReadable(filepath.Join(dir, name)); err != nil {
			return errors.New(name + ": " + err.Error())
		}
	}
	return nil
}

// cause drops the operation and path from an *fs.PathError: messages name
// the path once, themselves.
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
