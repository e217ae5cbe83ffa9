package testlab

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TLSServerName is the DNS name in a StartTLS daemon's server certificate,
// besides its IP address 127.0.0.1, for tests of clients that verify a name
// other than the address they dial (tls.Config.ServerName).
const TLSServerName = "docker-tls.test"

// TLSFiles is the client side of a daemon from StartTLS. Both directories
// follow Docker's DOCKER_CERT_PATH layout (ca.pem, cert.pem, key.pem), so
// they work with `docker --tlsverify` as well as with the exporter.
type TLSFiles struct {
	ClientDir      string // ca.pem (the CA that signed the server), cert.pem and key.pem of a client certificate the daemon accepts
	WrongClientDir string // the same ca.pem, so the server is trusted, but a client certificate from an unrelated CA, which the daemon refuses in the handshake
	Addr           string // 127.0.0.1:port of the daemon's TLS listener
}

// StartTLS starts a private daemon, as Start does, that also listens on
// tcp://127.0.0.1:<port> with --tlsverify: remote daemons are reached like
// this, and only a real dockerd shows how it refuses a client. The
// certificates (ECDSA P-256) are generated for this daemon alone, in its
// directory, and go away with it: a CA, a server certificate for IP
// 127.0.0.1 and DNS name TLSServerName, a client certificate from that CA,
// and a second, unrelated CA with its own client certificate for negative
// tests. The unix socket keeps working, so Docker, Run and the rest are
// unchanged, and Restart brings the TLS listener back on the same port.
func StartTLS(t testing.TB, name string) (*Daemon, *TLSFiles) {
	t.Helper()
	Require(t)
	d, err := newDaemon(name)
	if err != nil {
		t.Fatalf("testlab: %v", err)
	}
	t.Cleanup(func() {
		for _, err := range d.destroy(stopTimeout) {
			t.Logf("testlab: cleaning up daemon %s: %v", d.Name, err)
		}
	})
	files, serverArgs, err := writeTLSFiles(filepath.Join(d.Dir, "tls"))
	if err != nil {
		t.Fatalf("testlab: generating TLS certificates for daemon %s: %v", d.Name, err)
	}
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("testlab: %v", err)
		}
		files.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		d.mu.Lock()
		d.extraArgs = append([]string{"-H", "tcp://" + files.Addr}, serverArgs...)
		d.mu.Unlock()
		err = d.start()
		if err == nil {
			break
		}
		if attempt < 3 && isAddrInUse(err.Error()) {
			// Another test process took the port between our check and dockerd's bind.
			t.Logf("testlab: daemon %s: port %d taken, trying another", d.Name, port)
			if err := d.stop(stopTimeout); err != nil {
				t.Fatalf("testlab: %v", err)
			}
			continue
		}
		t.Fatalf("testlab: %v", err)
	}
	if err := tlsPing(files, 10*time.Second); err != nil {
		t.Fatalf("testlab: daemon %s answers on its unix socket but not over TLS on %s: %v\n--- tail of %s:\n%s", d.Name, files.Addr, err, d.logPath(), d.logTail())
	}
	return d, files
}

// tlsPing checks that the TLS listener accepts the good client certificate.
func tlsPing(f *TLSFiles, timeout time.Duration) error {
	cfg, err := clientTLSConfig(f.ClientDir)
	if err != nil {
		return err
	}
	c := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true},
	}
	deadline := time.Now().Add(timeout)
	for {
		err := func() error {
			resp, err := c.Get("https://" + f.Addr + "/_ping")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
			if resp.StatusCode != http.StatusOK || string(body) != "OK" {
				return fmt.Errorf("/_ping: %s %q", resp.Status, body)
			}
			return nil
		}()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func clientTLSConfig(dir string) (*tls.Config, error) {
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no certificate in %s/ca.pem", dir)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}, nil
}

type tlsIdentity struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
}

// newIdentity creates a key and a certificate from tmpl, signed by issuer,
// or self-signed when issuer is nil.
func newIdentity(tmpl *x509.Certificate, issuer *tlsIdentity) (*tlsIdentity, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	// An hour back, for clocks that disagree a little; a week ahead, far
	// beyond any test run.
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(7 * 24 * time.Hour)
	parent, signer := tmpl, key
	if issuer != nil {
		parent, signer = issuer.cert, issuer.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &tlsIdentity{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

func caTemplate(cn string) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"docker-monitor testlab"}},
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
}

func clientTemplate(cn string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// writeTLSFiles generates every certificate into dir/server, dir/client and
// dir/wrong-client, and returns the client side and dockerd's TLS flags.
func writeTLSFiles(dir string) (*TLSFiles, []string, error) {
	ca, err := newIdentity(caTemplate("testlab docker CA"), nil)
	if err != nil {
		return nil, nil, err
	}
	server, err := newIdentity(&x509.Certificate{
		Subject:     pkix.Name{CommonName: TLSServerName},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{TLSServerName},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}, ca)
	if err != nil {
		return nil, nil, err
	}
	client, err := newIdentity(clientTemplate("testlab client"), ca)
	if err != nil {
		return nil, nil, err
	}
	otherCA, err := newIdentity(caTemplate("testlab unrelated CA"), nil)
	if err != nil {
		return nil, nil, err
	}
	wrongClient, err := newIdentity(clientTemplate("testlab client of the unrelated CA"), otherCA)
	if err != nil {
		return nil, nil, err
	}
	f := &TLSFiles{ClientDir: filepath.Join(dir, "client"), WrongClientDir: filepath.Join(dir, "wrong-client")}
	serverDir := filepath.Join(dir, "server")
	for _, w := range []struct {
		dir      string
		ca, leaf *tlsIdentity
	}{
		{serverDir, ca, server},
		{f.ClientDir, ca, client},
		{f.WrongClientDir, ca, wrongClient},
	} {
		if err := os.MkdirAll(w.dir, 0o700); err != nil {
			return nil, nil, err
		}
		for _, file := range []struct {
			name string
			data []byte
			mode os.FileMode
		}{
			{"ca.pem", w.ca.certPEM, 0o644},
			{"cert.pem", w.leaf.certPEM, 0o644},
			{"key.pem", w.leaf.keyPEM, 0o600},
		} {
			if err := os.WriteFile(filepath.Join(w.dir, file.name), file.data, file.mode); err != nil {
				return nil, nil, err
			}
		}
	}
	args := []string{
		"--tlsverify",
		"--tlscacert", filepath.Join(serverDir, "ca.pem"),
		"--tlscert", filepath.Join(serverDir, "cert.pem"),
		"--tlskey", filepath.Join(serverDir, "key.pem"),
	}
	return f, args, nil
}
