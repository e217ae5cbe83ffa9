package hostpool

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/snadboy/docker-monitor/config"
)

// hostKeyCallback checks host keys against known_hosts. It also returns the
// host key algorithms to offer: those of the keys known_hosts records for
// the host, or nil (x/crypto's defaults) when it records none.
func (d *sshDialer) hostKeyCallback() (ssh.HostKeyCallback, []string, error) {
	if d.spec.HostKeyPolicy == "insecure" {
		return ssh.InsecureIgnoreHostKey(), nil, nil //nolint:gosec // explicit opt-in, warned about
	}
	path := d.spec.KnownHosts
	// knownhosts opens the file itself: make sure first that it is a
	// regular file of sane size, which a FIFO (a connect that hangs for
	// ever) or /dev/zero is not.
	_, err := config.ReadFile(path, config.MaxFileSize)
	var check ssh.HostKeyCallback
	if err == nil {
		check, err = knownhosts.New(path)
	}
	if errors.Is(err, os.ErrNotExist) {
		// A missing file knows no host. The handshake still runs, so that
		// under strict the host is refused as unknown, with the fingerprint
		// in the log, and under accept-new its key is recorded (which
		// creates the file).
		check, err = knownhosts.New()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: ssh.known_hosts: %v", ErrHostKey, err)
	}
	algos := knownHostKeyAlgorithms(check, d.addr)
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := check(hostname, remote, key)
		var ke *knownhosts.KeyError
		if err == nil || !errors.As(err, &ke) {
			return err
		}
		fp := ssh.FingerprintSHA256(key)
		logErr := func(msg string, args ...any) {
			if d.firstRejection(fp) {
				d.log.Error(msg, args...)
			}
		}
		if len(ke.Want) > 0 {
			logErr("SSH host key MISMATCH: the host presents a different key than known_hosts records. "+
				"If the host was reinstalled, remove its line from known_hosts (ssh-keygen -R) and reconnect; otherwise someone may be impersonating it",
				"addr", d.addr, "known_hosts", path, "presented", fp)
			return fmt.Errorf("%w: key %s for %s does not match %s", ErrHostKey, fp, hostname, path)
		}
		if d.spec.HostKeyPolicy == "accept-new" {
			if werr := recordHostKey(path, hostname, key); werr != nil {
				logErr("SSH host key unknown and could not be recorded in known_hosts (host_key_policy: accept-new): make the file and its directory writable",
					"addr", d.addr, "known_hosts", path, "presented", fp, "err", werr)
				return fmt.Errorf("%w: record new key %s for %s in %s: %v", ErrHostKey, fp, hostname, path, werr)
			}
			d.log.Info("recorded new SSH host key (host_key_policy: accept-new)", "addr", d.addr, "key", fp, "known_hosts", path)
			return nil
		}
		logErr("SSH host key unknown: add it to known_hosts (ssh-keyscan -p PORT HOST >> known_hosts, after checking the fingerprint) or set host_key_policy: accept-new",
			"addr", d.addr, "known_hosts", path, "presented", fp)
		return fmt.Errorf("%w: no key for %s in %s (presented %s)", ErrHostKey, hostname, path, fp)
	}, algos, nil
}

// firstRejection says whether fp differs from the key last refused, so that
// a host retried every few seconds logs its key problem once, not per try.
func (d *sshDialer) firstRejection(fp string) bool {
	d.rejectMu.Lock()
	defer d.rejectMu.Unlock()
	first := d.lastRejected != fp
	d.lastRejected = fp
	return first
}

// recordHostKey appends hostname's key to known_hosts, creating the file
// (and its directory) if missing.
func recordHostKey(path, hostname string, key ssh.PublicKey) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(f, knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// probeKey is a key no known_hosts line holds. Checking it makes knownhosts
// list, in KeyError.Want, every key recorded for the host.
type probeKey struct{}

func (probeKey) Type() string                        { return "docker-monitor-probe" }
func (probeKey) Marshal() []byte                     { return []byte("docker-monitor-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key") }

// knownHostKeyAlgorithms returns the host key algorithms, in x/crypto's
// order of preference, that match the keys known_hosts records for addr,
// or nil when it records none (an unknown host is offered the defaults).
//
// Without it x/crypto offers its default list, where ECDSA and RSA come
// before Ed25519: a server with RSA and Ed25519 keys whose known_hosts line
// holds only the Ed25519 key would present its RSA key and be refused as a
// MISMATCH. OpenSSH likewise prefers the algorithms known_hosts has for the
// host. x/crypto v0.59.0's knownhosts has no helper that lists a host's keys
// (github.com/skeema/knownhosts adds one), but the KeyError of a key it
// does not hold lists them all.
func knownHostKeyAlgorithms(check ssh.HostKeyCallback, addr string) []string {
	var ke *knownhosts.KeyError
	if err := check(addr, &net.TCPAddr{IP: net.IPv4zero}, probeKey{}); !errors.As(err, &ke) || len(ke.Want) == 0 {
		return nil
	}
	formats := map[string]bool{}
	for _, k := range ke.Want {
		formats[k.Key.Type()] = true
	}
	var algos []string
	for _, a := range slices.Concat(ssh.SupportedAlgorithms().HostKeys, ssh.InsecureAlgorithms().HostKeys) {
		format := a
		if a == ssh.KeyAlgoRSASHA256 || a == ssh.KeyAlgoRSASHA512 {
			format = ssh.KeyAlgoRSA // an ssh-rsa key signs with any of the three
		}
		if formats[format] {
			algos = append(algos, a)
		}
	}
	return algos // nil if x/crypto supports none of them: let the handshake say so
}
