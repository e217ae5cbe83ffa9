package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// FromURIs builds hosts from DOCKER_HOST-style URIs (--docker.host,
// repeatable, used when there is no config file):
//
//   - unix:///path: local. The alias is "local" when this is the only unix
//     URI; with several, the socket's base name without extension
//     (docker.sock: "docker"), with "-2", "-3" appended to repeats.
//   - ssh://[user@]host[:port]: ssh, alias host, port 22, user $USER when
//     not given. Host keys are checked strictly against ~/.ssh/known_hosts,
//     and the SSH agent is used when SSH_AUTH_SOCK is set; anything else
//     needs a hosts file.
//   - tcp://host[:port]: tcp, alias host, with TLS settings from tls (which
//     the caller takes from its flags or DOCKER_TLS_VERIFY and
//     DOCKER_CERT_PATH). The port defaults as Docker's does: 2376 with
//     TLS, 2375 without.
//
// Two URIs giving the same alias are an error, as is an unsupported scheme.
// Errors name the URI with any password in it masked.
func FromURIs(uris []string, tls TCP) ([]Host, error) {
	if len(uris) == 0 {
		return nil, errors.New("no Docker host given")
	}
	unix := 0
	for _, u := range uris {
		if strings.HasPrefix(u, "unix://") {
			unix++
		}
	}
	var (
		hosts  []Host
		byName = map[string]string{} // alias → URI that gave it
		bases  = map[string]int{}    // socket base name → times used
		seen   = map[string]bool{}   // endpoints
	)
	for _, raw := range uris {
		h, err := fromURI(raw, tls)
		if err != nil {
			return nil, fmt.Errorf("docker host %q: %w", redact(raw), err)
		}
		if seen[h.Endpoint] {
			return nil, fmt.Errorf("docker host %q given twice", redact(raw))
		}
		seen[h.Endpoint] = true
		if h.Connection == ConnLocal {
			h.Alias = "local"
			if unix > 1 {
				h.Alias = socketAlias(h.Address, bases)
			}
		}
		if prev, ok := byName[h.Alias]; ok {
			return nil, fmt.Errorf("docker hosts %q and %q both have alias %q; use a hosts file (--config.file) to name them", redact(prev), redact(raw), h.Alias)
		}
		byName[h.Alias] = raw
		hosts = append(hosts, h)
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Alias < hosts[j].Alias })
	return hosts, nil
}

// FromURI is one host from a DOCKER_HOST-style URI, as FromURIs reads it,
// named alias.
func FromURI(alias, raw string, tls TCP) (Host, error) {
	h, err := fromURI(raw, tls)
	if err != nil {
		return Host{}, fmt.Errorf("docker host %q: %w", redact(raw), err)
	}
	h.Alias = alias
	return h, nil
}

func fromURI(raw string, tls TCP) (Host, error) {
	// As Docker's own parser: everything after unix:// is the path.
	if path, ok := strings.CutPrefix(raw, "unix://"); ok {
		if path == "" {
			return Host{}, errors.New("no socket path (want unix:///path/to/docker.sock)")
		}
		return Host{Connection: ConnLocal, Endpoint: raw, Address: path, Enabled: true}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url's message repeats the URI, password and all.
		return Host{}, errors.New("not a URI")
	}
	switch {
	case u.Scheme == "" || u.Opaque != "": // a path, or host:port read as scheme:opaque
		return Host{}, errors.New("not of the form unix:///path, ssh://user@host:port or tcp://host:port")
	case u.Scheme != ConnSSH && u.Scheme != ConnTCP:
		return Host{}, fmt.Errorf("unsupported scheme %q (want unix://, ssh:// or tcp://)", u.Scheme)
	}
	host := u.Hostname()
	switch {
	case host == "":
		return Host{}, errors.New("no host name")
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return Host{}, errors.New("a path, query or fragment is not supported")
	}
	if _, ok := u.User.Password(); ok {
		return Host{}, errors.New("a password in the URI is not supported (use a hosts file with ssh.password_file)")
	}
	if u.Scheme == ConnTCP && u.User != nil {
		return Host{}, errors.New("a user name is only for ssh://")
	}
	port := 0
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return Host{}, fmt.Errorf("port %q is out of range 1..65535", p)
		}
	}
	h := Host{Alias: host, Connection: u.Scheme, Address: host, Enabled: true}
	if u.Scheme == ConnTCP {
		if tls.CertPath != "" {
			if err := checkCertDir(tls.CertPath, tls.TLSVerify); err != nil {
				return Host{}, fmt.Errorf("TLS cert path %q: %w", tls.CertPath, err)
			}
		}
		h.TCP = tls
		if port == 0 {
			port = defaultPlainPort
			if tls.TLSVerify || tls.CertPath != "" {
				port = defaultTLSPort
			}
		}
		h.Port = port
		h.Endpoint = "tcp://" + net.JoinHostPort(host, strconv.Itoa(port))
		return h, nil
	}

	h.User = u.User.Username()
	if h.User == "" {
		if h.User = os.Getenv("USER"); h.User == "" {
			return Host{}, errors.New("no user, and $USER is not set (want ssh://user@host)")
		}
	}
	if port == 0 {
		port = defaultSSHPort
	}
	h.Port = port
	h.Endpoint = "ssh://" + h.User + "@" + net.JoinHostPort(host, strconv.Itoa(port))
	kh, err := resolvePath("", "~/.ssh/known_hosts")
	if err != nil {
		return Host{}, fmt.Errorf("known_hosts: %w", err)
	}
	h.SSH = SSH{
		KnownHosts:    kh,
		HostKeyPolicy: defaultHostKeyPolicy,
		RemoteSocket:  defaultSocket,
		Mode:          defaultMode,
		Agent:         os.Getenv("SSH_AUTH_SOCK") != "",
		Timeout:       defaultSSHTimeout,
		Keepalive:     defaultKeepalive,
	}
	return h, nil
}

// socketAlias names one of several local sockets after its file.
func socketAlias(path string, used map[string]int) string {
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	if base == "" || base == "." || base == "/" {
		base = "local"
	}
	used[base]++
	if n := used[base]; n > 1 {
		return base + "-" + strconv.Itoa(n)
	}
	return base
}

// redact masks a password in a URI; nothing else in one is secret.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.LastIndex(raw, "@"); i >= 0 {
			return "xxxxx" + raw[i:]
		}
		return raw
	}
	if _, ok := u.User.Password(); !ok {
		return raw // as given: url would normalise it
	}
	return u.Redacted()
}
