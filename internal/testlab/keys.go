package testlab

import (
	"testing"
)

// WriteTLSFiles generates certificates into dir as StartTLS does, without a
// daemon: for tests that load them and connect to nothing.
func WriteTLSFiles(t testing.TB, dir string) *TLSFiles {
	t.Helper()
	f, _, err := writeTLSFiles(dir)
	if err != nil {
		t.Fatalf("testlab: certificates: %v", err)
	}
	return f
}

// WriteSSHKey writes a fresh ed25519 private key in OpenSSH format to path,
// encrypted with passphrase unless it is empty.
func WriteSSHKey(t testing.TB, path, passphrase string) {
	t.Helper()
	var pass []byte
	if passphrase != "" {
		pass = []byte(passphrase)
	}
	if _, err := writeEd25519(path, "testlab", pass); err != nil {
		t.Fatalf("testlab: ssh key: %v", err)
	}
}
