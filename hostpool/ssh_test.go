package hostpool

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/internal/testlab"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// testKeys are generated once: RSA keys are slow to make under -race.
type keySet struct {
	rsa, ed, ed2, ecdsa, client ssh.Signer
	clientPriv                  ed25519.PrivateKey
}

var testKeys = sync.OnceValue(func() (k keySet) {
	must := func(s ssh.Signer, err error) ssh.Signer {
		if err != nil {
			panic(err)
		}
		return s
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	k.rsa = must(ssh.NewSignerFromKey(rk))
	ed := func() ssh.Signer {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		return must(ssh.NewSignerFromKey(priv))
	}
	k.ed, k.ed2 = ed(), ed()
	_, k.clientPriv, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	k.client = must(ssh.NewSignerFromKey(k.clientPriv))
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	k.ecdsa = must(ssh.NewSignerFromKey(ek))
	return k
})

// testServer is an in-process SSH server on loopback.
type testServer struct {
	addr string
	// streamlocal: accept direct-streamlocal channels (and answer "OK")
	// rather than refuse them as OpenSSH does with forwarding off.
	streamlocal bool
	// noSession refuses session channels; stdioOut is what an exec writes.
	noSession bool
	stdioOut  string
	// stdioErr is what it writes to stderr; shellNoise what the remote
	// shell's start-up writes to stdout before the command runs.
	stdioErr, shellNoise string

	mu   sync.Mutex
	cmds []string
}

func startServer(t *testing.T, hostKeys ...ssh.Signer) *testServer {
	t.Helper()
	srv := &testServer{}
	client := testKeys().client.PublicKey()
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if bytes.Equal(k.Marshal(), client.Marshal()) {
			return nil, nil
		}
		return nil, errors.New("unknown key")
	}}
	for _, k := range hostKeys {
		cfg.AddHostKey(k)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	srv.addr = ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_, chans, reqs, err := ssh.NewServerConn(c, cfg)
				if err != nil {
					c.Close()
					return
				}
				go ssh.DiscardRequests(reqs)
				for nc := range chans {
					go srv.handle(nc)
				}
			}()
		}
	}()
	return srv
}

func (s *testServer) handle(nc ssh.NewChannel) {
	s.mu.Lock()
	streamlocal, noSession, out, errOut, noise := s.streamlocal, s.noSession, s.stdioOut, s.stdioErr, s.shellNoise
	s.mu.Unlock()
	switch {
	case nc.ChannelType() == "direct-streamlocal@openssh.com" && streamlocal:
		ch, reqs, err := nc.Accept()
		if err != nil {
			return
		}
		go ssh.DiscardRequests(reqs)
		io.WriteString(ch, "OK")
		ch.Close()
	case nc.ChannelType() == "session" && !noSession:
		ch, reqs, err := nc.Accept()
		if err != nil {
			return
		}
		for req := range reqs {
			if req.Type != "exec" {
				req.Reply(false, nil)
				continue
			}
			var p struct{ Cmd string }
			_ = ssh.Unmarshal(req.Payload, &p)
			req.Reply(true, nil)
			// As a shell would run `echo MARKER; exec CMD`, after a
			// start-up that may write to stdout.
			io.WriteString(ch, noise)
			if pre, cmd, ok := strings.Cut(p.Cmd, "; exec "); ok && strings.HasPrefix(pre, "echo ") {
				io.WriteString(ch, readyMarker)
				p.Cmd = cmd
			}
			s.mu.Lock()
			s.cmds = append(s.cmds, p.Cmd)
			s.mu.Unlock()
			io.WriteString(ch, out)
			io.WriteString(ch.Stderr(), errOut)
			ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
			ch.Close()
			return
		}
	default:
		// What OpenSSH says both when forwarding is off and when the
		// remote socket is missing.
		nc.Reject(ssh.Prohibited, "open failed")
	}
}

func (s *testServer) set(f func(*testServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func writeKnownHosts(t *testing.T, addr string, keys ...ssh.Signer) string {
	t.Helper()
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(knownhosts.Line([]string{knownhosts.Normalize(addr)}, k.PublicKey()) + "\n")
	}
	path := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeClientKey(t *testing.T, passphrase string) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func testDialer(t *testing.T, addr string, spec config.SSH) (*sshDialer, *testlab.SyncBuffer) {
	t.Helper()
	if spec.KeyFile == "" {
		block, err := ssh.MarshalPrivateKey(testKeys().clientPriv, "")
		if err != nil {
			t.Fatal(err)
		}
		spec.KeyFile = filepath.Join(t.TempDir(), "id_client")
		if err := os.WriteFile(spec.KeyFile, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	spec.Timeout = 10 * time.Second
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	h := config.Host{Alias: "test", Connection: config.ConnSSH, Address: host, Port: p, User: "tester", SSH: spec}
	logs := &testlab.SyncBuffer{}
	d := newSSHDialer(h, spec.Timeout, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(d.close)
	return d, logs
}

func connect(t *testing.T, d *sshDialer) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := d.connect(ctx)
	return err
}

// A server with RSA and Ed25519 host keys, known by its Ed25519 key only,
// must not negotiate RSA and be refused as a mismatch.
func TestSSHHostKeyAlgorithmsFromKnownHosts(t *testing.T) {
	k := testKeys()
	srv := startServer(t, k.rsa, k.ed)
	for name, known := range map[string][]ssh.Signer{
		"ed25519 only": {k.ed},
		"rsa only":     {k.rsa},
		"both":         {k.ed, k.rsa},
	} {
		t.Run(name, func(t *testing.T) {
			d, logs := testDialer(t, srv.addr, config.SSH{KnownHosts: writeKnownHosts(t, srv.addr, known...)})
			if err := connect(t, d); err != nil {
				t.Fatalf("connect: %v (reason %s)\nlogs: %s", err, Reason(err), logs)
			}
		})
	}
}

func TestKnownHostKeyAlgorithms(t *testing.T) {
	k := testKeys()
	for name, tc := range map[string]struct {
		known []ssh.Signer
		want  []string
	}{
		"unknown":  {nil, nil},
		"ed25519":  {[]ssh.Signer{k.ed}, []string{ssh.KeyAlgoED25519}},
		"rsa":      {[]ssh.Signer{k.rsa}, []string{ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSA}},
		"ecdsa+ed": {[]ssh.Signer{k.ed, k.ecdsa}, []string{ssh.KeyAlgoECDSA256, ssh.KeyAlgoED25519}},
	} {
		t.Run(name, func(t *testing.T) {
			path := writeKnownHosts(t, "example.org:2222", tc.known...)
			check, err := knownhosts.New(path)
			if err != nil {
				t.Fatal(err)
			}
			got := knownHostKeyAlgorithms(check, "example.org:2222")
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			// Another host on the same file is unknown: defaults.
			if got := knownHostKeyAlgorithms(check, "other.example.org:22"); got != nil {
				t.Errorf("unknown host: got %q, want nil", got)
			}
		})
	}
}

func TestSSHHostKeyRefused(t *testing.T) {
	k := testKeys()
	srv := startServer(t, k.rsa, k.ed)
	for name, tc := range map[string]struct {
		known []ssh.Signer
		log   string
	}{
		// Same key type, another key: the classic mismatch.
		"other ed25519 key": {[]ssh.Signer{k.ed2}, "MISMATCH"},
		// Only a key type the server does not have: negotiation fails,
		// which is a mismatch too.
		"ecdsa only": {[]ssh.Signer{k.ecdsa}, "MISMATCH"},
		// A file without this host: unknown.
		"no line for the host": {nil, "SSH host key unknown"},
	} {
		t.Run(name, func(t *testing.T) {
			d, logs := testDialer(t, srv.addr, config.SSH{KnownHosts: writeKnownHosts(t, srv.addr, tc.known...)})
			err := connect(t, d)
			if Reason(err) != "host_key" {
				t.Fatalf("connect: err %v, reason %q, want host_key", err, Reason(err))
			}
			if !strings.Contains(logs.String(), tc.log) {
				t.Errorf("log lacks %q:\n%s", tc.log, logs)
			}
			// Retried: the log line is not repeated.
			before := strings.Count(logs.String(), "level=ERROR")
			if err := connect(t, d); Reason(err) != "host_key" {
				t.Errorf("retry: %v", err)
			}
			if after := strings.Count(logs.String(), "level=ERROR"); after != before {
				t.Errorf("retry logged again:\n%s", logs)
			}
		})
	}
}

// A missing known_hosts under strict is an unknown host: reason host_key,
// and the log shows the presented key.
func TestSSHMissingKnownHostsStrict(t *testing.T) {
	k := testKeys()
	srv := startServer(t, k.ed)
	path := filepath.Join(t.TempDir(), "no-such-dir", "known_hosts")
	d, logs := testDialer(t, srv.addr, config.SSH{KnownHosts: path, HostKeyPolicy: "strict"})
	err := connect(t, d)
	if Reason(err) != "host_key" {
		t.Fatalf("connect: err %v, reason %q, want host_key", err, Reason(err))
	}
	fp := ssh.FingerprintSHA256(k.ed.PublicKey())
	if l := logs.String(); !strings.Contains(l, "SSH host key unknown") || !strings.Contains(l, fp) {
		t.Errorf("log lacks the fix-it line with %s:\n%s", fp, l)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("strict created %s: %v", path, err)
	}
}

// Under accept-new a missing file (and directory) is created with the key,
// and the recorded key is then accepted under strict.
func TestSSHMissingKnownHostsAcceptNew(t *testing.T) {
	k := testKeys()
	srv := startServer(t, k.rsa, k.ed)
	path := filepath.Join(t.TempDir(), "dir", "known_hosts")
	d, logs := testDialer(t, srv.addr, config.SSH{KnownHosts: path, HostKeyPolicy: "accept-new"})
	if err := connect(t, d); err != nil {
		t.Fatalf("connect: %v\n%s", err, logs)
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), knownhosts.Normalize(srv.addr)) {
		t.Fatalf("known_hosts not recorded: %q, %v", b, err)
	}
	d2, logs2 := testDialer(t, srv.addr, config.SSH{KnownHosts: path, HostKeyPolicy: "strict"})
	if err := connect(t, d2); err != nil {
		t.Fatalf("strict after accept-new: %v\n%s", err, logs2)
	}
}

func TestSSHEncryptedKeyWithoutPassphrase(t *testing.T) {
	srv := startServer(t, testKeys().ed)
	key := writeClientKey(t, "correct horse")
	d, _ := testDialer(t, srv.addr, config.SSH{KeyFile: key, KnownHosts: writeKnownHosts(t, srv.addr, testKeys().ed)})
	err := connect(t, d)
	if Reason(err) != "auth" || !errors.Is(err, ErrAuth) {
		t.Fatalf("err %v, reason %q, want auth", err, Reason(err))
	}
	if !strings.Contains(err.Error(), "passphrase_file") {
		t.Errorf("error does not say what is missing: %v", err)
	}
	b, _ := os.ReadFile(key)
	if strings.Contains(err.Error(), string(b)) || strings.Contains(err.Error(), "correct horse") {
		t.Errorf("error leaks a secret: %v", err)
	}
}

func TestShellQuote(t *testing.T) {
	for _, s := range []string{"unix:///var/run/docker.sock", "unix:///run/user/1000/docker.sock",
		"unix:///tmp/it's here/$(reboot);`id`|&\"\\*", ""} {
		out, err := exec.Command("sh", "-c", "printf %s "+shellQuote(s)).Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != s {
			t.Errorf("shellQuote(%q) came back from sh as %q", s, out)
		}
	}
}

func dialRead(t *testing.T, d *sshDialer) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.dial(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	return string(b), err
}

func (d *sshDialer) stdioState() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stdio
}

func TestSSHDialStdioFallback(t *testing.T) {
	k := testKeys()
	srv := startServer(t, k.ed)
	srv.set(func(s *testServer) { s.stdioOut = "STDIO" })
	d, logs := testDialer(t, srv.addr, config.SSH{KnownHosts: writeKnownHosts(t, srv.addr, k.ed),
		RemoteSocket: "/run/user/1000/it's docker.sock"})

	// Streamlocal refused: dial-stdio, with the socket quoted.
	if got, err := dialRead(t, d); err != nil || got != "STDIO" {
		t.Fatalf("dial: %q, %v", got, err)
	}
	if !d.stdioState() || !strings.Contains(logs.String(), "dial-stdio") {
		t.Fatalf("no switch to dial-stdio logged:\n%s", logs)
	}
	srv.mu.Lock()
	cmd := srv.cmds[0]
	srv.mu.Unlock()
	if want := `docker -H 'unix:///run/user/1000/it'\''s docker.sock' system dial-stdio`; cmd != want {
		t.Errorf("remote command %s, want %s", cmd, want)
	}

	// Streamlocal back (the remote dockerd was only restarting): still
	// dial-stdio until the retry time...
	srv.set(func(s *testServer) { s.streamlocal = true })
	if got, _ := dialRead(t, d); got != "STDIO" {
		t.Errorf("before retry time: got %q, want STDIO", got)
	}
	// ...then streamlocal again.
	d.mu.Lock()
	d.stdioSince = time.Now().Add(-stdioRetry)
	d.mu.Unlock()
	if got, _ := dialRead(t, d); got != "OK" {
		t.Errorf("after retry time: got %q, want OK (streamlocal)", got)
	}

	// The choice does not outlive the SSH connection.
	srv.set(func(s *testServer) { s.streamlocal = false })
	if got, _ := dialRead(t, d); got != "STDIO" || !d.stdioState() {
		t.Fatalf("refused again: got %q, stdio %v", got, d.stdioState())
	}
	d.mu.Lock()
	c := d.client
	d.mu.Unlock()
	d.reset(c)
	if d.stdioState() {
		t.Errorf("reset kept the dial-stdio choice")
	}
	if n := strings.Count(logs.String(), "level=INFO msg=\"SSH server refuses"); n != 1 {
		t.Errorf("switch logged at info %d times, want once:\n%s", n, logs)
	}

	// A dial-stdio session that ends without a byte (dockerd down, or no
	// docker CLI) drops the choice too.
	srv.set(func(s *testServer) { s.stdioOut = "" })
	if got, _ := dialRead(t, d); got != "" {
		t.Fatalf("got %q", got)
	}
	if d.stdioState() {
		t.Errorf("an empty dial-stdio session kept the dial-stdio choice")
	}
}

// A missing remote socket refuses the streamlocal channel just as a server
// that forbids forwarding does; dial-stdio then fails too, which tells
// them apart: the error names the socket with what dial-stdio said, the
// reason is refused, and nothing claims that forwarding is forbidden.
func TestSSHMissingRemoteSocket(t *testing.T) {
	k := testKeys()
	srv := startServer(t, k.ed)
	srv.set(func(s *testServer) {
		s.stdioErr = "failed to open the raw stream connection: dial unix /nonexistent/docker.sock: connect: no such file or directory\n"
	})
	d, logs := testDialer(t, srv.addr, config.SSH{KnownHosts: writeKnownHosts(t, srv.addr, k.ed), RemoteSocket: "/nonexistent/docker.sock"})
	_, err := dialRead(t, d)
	if err == nil {
		t.Fatal("a session that ended without a byte read as a connection")
	}
	for _, want := range []string{"remote socket /nonexistent/docker.sock", "socket is missing", "connect: no such file or directory"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if Reason(err) != "refused" {
		t.Errorf("reason %q, want refused", Reason(err))
	}
	if d.stdioState() || strings.Contains(logs.String(), "refuses socket forwarding") {
		t.Errorf("a missing socket was taken for forbidden forwarding:\n%s", logs)
	}
}

// What the remote shell's start-up writes to stdout before dial-stdio runs
// is skipped, not taken for the daemon's answer.
func TestSSHDialStdioSkipsShellNoise(t *testing.T) {
	k := testKeys()
	srv := startServer(t, k.ed)
	srv.set(func(s *testServer) { s.stdioOut, s.shellNoise = "STDIO", "Welcome! pyenv: rehashing...\n" })
	d, _ := testDialer(t, srv.addr, config.SSH{KnownHosts: writeKnownHosts(t, srv.addr, k.ed), Mode: "dial-stdio"})
	if got, err := dialRead(t, d); err != nil || got != "STDIO" {
		t.Fatalf("dial: %q, %v; want STDIO", got, err)
	}
}

// When dial-stdio fails too, the error is the original refusal.
func TestSSHDialStdioFallbackFails(t *testing.T) {
	k := testKeys()
	srv := startServer(t, k.ed)
	srv.set(func(s *testServer) { s.noSession = true })
	d, _ := testDialer(t, srv.addr, config.SSH{KnownHosts: writeKnownHosts(t, srv.addr, k.ed)})
	_, err := dialRead(t, d)
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || !strings.Contains(err.Error(), "/var/run/docker.sock") {
		t.Fatalf("err %v, want the streamlocal refusal", err)
	}
	if Reason(err) != "refused" {
		t.Errorf("reason %q, want refused", Reason(err))
	}
	if d.stdioState() {
		t.Errorf("a failed fallback switched to dial-stdio")
	}
	d.mu.Lock()
	alive := d.client != nil
	d.mu.Unlock()
	if !alive {
		t.Errorf("a refused channel dropped the SSH connection")
	}
}
