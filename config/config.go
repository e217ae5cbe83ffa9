// Package config reads the Docker hosts to watch: the hosts file given with
// --config.file, or DOCKER_HOST-style URIs given with --docker.host. Both
// yield the same validated []Host.
//
// The hosts file is parsed strictly, in the manner of blackbox_exporter: an
// unknown or repeated key is an error, every error names the file and line,
// and, inside a host, its alias and the field. Everything that can be checked
// without dialling is checked at load time, including that every key,
// password and certificate file named can be opened, so that --config.check
// and a reload catch a broken file before it replaces a working one.
//
// Secrets are never read here: files holding them are only opened and
// closed again. A Host holds paths, never secrets, so printing one is safe.
//
// The file format, every field and its default, is documented in
// docs/configuration.md.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Host is one Docker daemon to watch.
type Host struct {
	Alias       string            // the host label of every series
	Connection  string            // "local", "ssh" or "tcp"
	Endpoint    string            // DOCKER_HOST-style, for docker_host_connection_info and logs: unix:///var/run/docker.sock, ssh://user@host:22, tcp://host:2376
	Address     string            // what to dial: socket path (local), host name (ssh/tcp; tailscale_hostname wins over hostname, else the alias)
	Port        int               // ssh port or tcp port; 0 for local
	User        string            // ssh only
	BackendHost string            // backend_hostname, else "": see Backend
	Description string            //
	Enabled     bool              // false: validated, but not to be watched; the caller skips it
	Labels      map[string]string // exported on docker_host_info; nil when none
	SSH         SSH               // ssh hosts only, else zero
	TCP         TCP               // tcp hosts only, else zero
}

// DialAddr is where the exporter connects: the socket path of a local host,
// host:port of an SSH or TCP one.
func (h Host) DialAddr() string {
	if h.Connection == ConnLocal {
		return h.Address
	}
	return net.JoinHostPort(h.Address, strconv.Itoa(h.Port))
}

// Backend is the address at which the host's published ports are reached:
// backend_hostname when set, else the loopback address for a local daemon
// and the dialled name for a remote one.
func (h Host) Backend() string {
	switch {
	case h.BackendHost != "":
		return h.BackendHost
	case h.Connection == ConnLocal:
		return "127.0.0.1"
	}
	return h.Address
}

// SSH says how to reach a daemon over SSH. Paths are resolved: ~ expanded,
// relative ones made relative to the hosts file's directory.
type SSH struct {
	KeyFile, KnownHosts, HostKeyPolicy, PasswordFile, PassphraseFile, RemoteSocket, Mode string
	Agent                                                                                bool
	Timeout, Keepalive                                                                   time.Duration
}

// TCP says how to talk TLS to a daemon. TLS is used when TLSVerify is true
// or CertPath is set; with neither, the connection is plain HTTP.
type TCP struct {
	TLSVerify  bool
	CertPath   string // directory holding Docker's ca.pem, cert.pem, key.pem
	ServerName string // overrides the name the daemon's certificate is checked against
}

// Connection kinds, the values of Host.Connection.
const (
	ConnLocal = "local"
	ConnSSH   = "ssh"
	ConnTCP   = "tcp"
)

const (
	defaultSocket        = "/var/run/docker.sock"
	defaultSSHPort       = 22
	defaultTLSPort       = 2376 // Docker's port for TLS
	defaultPlainPort     = 2375 // Docker's port for plain HTTP
	defaultHostKeyPolicy = "strict"
	defaultMode          = "auto"
	defaultSSHTimeout    = 30 * time.Second
	defaultKeepalive     = 30 * time.Second
)

// Load reads and validates a hosts file. Hosts are sorted by alias.
// Relative paths in the file are relative to the file's directory.
func Load(path string) ([]Host, error) {
	data, err := ReadFile(path, MaxFileSize)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// Parse is Load on bytes; name is used in error messages, and its directory
// is where relative paths in the file start from.
func Parse(data []byte, name string) ([]Host, error) {
	d := newDecoder(name)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, syntaxError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntaxError(name, err)
		}
		return nil, d.errorf(extra.Line, "a second YAML document (---); the file must hold one")
	}

	var defaults rawHost
	var hosts []rawHost
	if len(doc.Content) > 0 {
		top := resolve(doc.Content[0])
		if top.Kind != yaml.MappingNode && !(top.Kind == yaml.ScalarNode && top.Tag == "!!null") {
			return nil, d.errorf(top.Line, "the file must be a mapping with hosts: and optionally defaults:, not %s", kind(top))
		}
		var err error
		if top.Kind == yaml.MappingNode {
			err = d.fields(top, "", map[string]func(*yaml.Node) error{
				"defaults": func(n *yaml.Node) (err error) {
					defaults, err = d.in("defaults").decodeHost(n, true)
					return err
				},
				"hosts": func(n *yaml.Node) (err error) {
					hosts, err = d.decodeHosts(n)
					return err
				},
			})
		}
		if err != nil {
			return nil, err
		}
	}
	if len(hosts) == 0 {
		return nil, d.errorf(0, "no hosts defined (hosts: is missing or empty)")
	}

	base := filepath.Dir(name)
	out := make([]Host, 0, len(hosts))
	for _, h := range hosts {
		host, err := d.in(fmt.Sprintf("host %q", h.alias)).build(merge(h, defaults), h, base)
		if err != nil {
			return nil, err
		}
		out = append(out, host)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Alias < out[j].Alias })
	return out, nil
}

func (d decoder) decodeHosts(n *yaml.Node) ([]rawHost, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, d.errorf(n.Line, "hosts must be a mapping of alias to settings, not %s", kind(n))
	}
	ps, err := d.pairs(n, func(alias string, first int) string {
		return fmt.Sprintf("host %q defined twice (first at line %d)", alias, first)
	}, 0)
	if err != nil {
		return nil, err
	}
	hosts := make([]rawHost, 0, len(ps))
	for _, p := range ps {
		// The alias becomes a label value, which must not be empty.
		if p.k.Value == "" || p.k.Tag == "!!null" {
			return nil, d.errorf(p.k.Line, "host alias is empty")
		}
		h, err := d.in(fmt.Sprintf("host %q", p.k.Value)).decodeHost(p.v, false)
		if err != nil {
			return nil, err
		}
		h.alias, h.line = p.k.Value, p.k.Line
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// merge applies defaults to the fields the host leaves unset; labels and
// the ssh and tcp blocks merge field by field, the host winning.
func merge(h, def rawHost) rawHost {
	h.user = h.user.or(def.user)
	h.port = h.port.or(def.port)
	h.keyFile = h.keyFile.or(def.keyFile)
	h.description = h.description.or(def.description)
	h.enabled = h.enabled.or(def.enabled)
	h.connection = h.connection.or(def.connection)
	if len(def.labels) > 0 {
		labels := make(map[string]val[string], len(def.labels)+len(h.labels))
		for k, v := range def.labels {
			labels[k] = v
		}
		for k, v := range h.labels {
			labels[k] = v
		}
		h.labels = labels
	}
	s, ds := &h.ssh, def.ssh
	s.knownHosts = s.knownHosts.or(ds.knownHosts)
	s.hostKeyPolicy = s.hostKeyPolicy.or(ds.hostKeyPolicy)
	s.passwordFile = s.passwordFile.or(ds.passwordFile)
	s.passphraseFile = s.passphraseFile.or(ds.passphraseFile)
	s.remoteSocket = s.remoteSocket.or(ds.remoteSocket)
	s.mode = s.mode.or(ds.mode)
	s.agent = s.agent.or(ds.agent)
	s.timeout = s.timeout.or(ds.timeout)
	s.keepalive = s.keepalive.or(ds.keepalive)
	t, dt := &h.tcp, def.tcp
	t.port = t.port.or(dt.port)
	t.tlsVerify = t.tlsVerify.or(dt.tlsVerify)
	t.certPath = t.certPath.or(dt.certPath)
	t.serverName = t.serverName.or(dt.serverName)
	return h
}

// build checks a host with defaults applied (h) and makes it a Host. own is
// the entry as written, for the rules that depend on where a value came from.
func (d decoder) build(h, own rawHost, base string) (Host, error) {
	out := Host{
		Alias:       h.alias,
		BackendHost: h.backendHostname.v,
		Description: h.description.v,
		Enabled:     !h.enabled.set() || h.enabled.v,
	}
	if len(h.labels) > 0 {
		out.Labels = make(map[string]string, len(h.labels))
		for k, v := range h.labels {
			out.Labels[k] = v.v
		}
	}

	// A connection written on the host wins. Else is_local and socket,
	// which only a host can set, make it local, before a connection from
	// defaults can say otherwise. Else it is an SSH host.
	conn := h.connection.v
	switch {
	case own.connection.set() && h.isLocal.v && conn != ConnLocal:
		return Host{}, d.errorf(h.connection.line, "is_local: true contradicts connection: %s", conn)
	case own.connection.set():
	case h.isLocal.v, h.socket.set():
		conn = ConnLocal
	case !h.connection.set():
		conn = ConnSSH
	}
	out.Connection = conn
	switch {
	case h.socket.set() && conn != ConnLocal:
		return Host{}, d.errorf(h.socket.line, "socket is only for local hosts (an ssh host's socket is ssh.remote_socket)")
	case own.sshLine > 0 && conn != ConnSSH:
		return Host{}, d.errorf(own.sshLine, "ssh settings on a %s host", conn)
	case own.tcpLine > 0 && conn != ConnTCP:
		return Host{}, d.errorf(own.tcpLine, "tcp settings on an %s host (set connection: tcp for a TCP daemon)", conn)
	}

	var err error
	switch conn {
	case ConnLocal:
		out.Address = defaultSocket
		if h.socket.set() {
			if out.Address, err = resolvePath(base, h.socket.v); err != nil {
				return Host{}, d.errorf(h.socket.line, "socket: %v", err)
			}
		}
		out.Endpoint = "unix://" + out.Address
		return out, nil
	case ConnSSH:
		return d.buildSSH(out, h, base)
	}
	return d.buildTCP(out, h, own, base)
}

func (d decoder) buildSSH(out Host, h rawHost, base string) (Host, error) {
	out.Address = firstSet(dialNames(h)...)
	if out.Address == "" {
		out.Address = h.alias
	}
	if err := CheckHostname(out.Address); err != nil {
		return Host{}, d.errorf(h.line, "no hostname is set, and the alias, which stands in for it, is %v", err)
	}
	if !h.user.set() {
		return Host{}, d.errorf(h.line, "ssh host needs user (set it on the host or in defaults)")
	}
	out.User = h.user.v
	out.Port = defaultSSHPort
	if h.port.set() {
		out.Port = h.port.v
	}
	out.Endpoint = "ssh://" + out.User + "@" + net.JoinHostPort(out.Address, strconv.Itoa(out.Port))

	s := SSH{
		HostKeyPolicy: withDefault(h.ssh.hostKeyPolicy, defaultHostKeyPolicy),
		RemoteSocket:  withDefault(h.ssh.remoteSocket, defaultSocket),
		Mode:          withDefault(h.ssh.mode, defaultMode),
		Agent:         h.ssh.agent.v,
		Timeout:       defaultSSHTimeout,
		Keepalive:     defaultKeepalive,
	}
	if h.ssh.timeout.set() {
		s.Timeout = h.ssh.timeout.v
	}
	if h.ssh.keepalive.set() {
		s.Keepalive = h.ssh.keepalive.v
	}
	if h.ssh.passphraseFile.set() && !h.keyFile.set() {
		return Host{}, d.errorf(h.ssh.passphraseFile.line, "ssh.passphrase_file without key_file: it decrypts the key in key_file")
	}
	for _, f := range []struct {
		name string
		v    val[string]
		dst  *string
	}{
		{"key_file", h.keyFile, &s.KeyFile},
		{"ssh.password_file", h.ssh.passwordFile, &s.PasswordFile},
		{"ssh.passphrase_file", h.ssh.passphraseFile, &s.PassphraseFile},
	} {
		if !f.v.set() {
			continue
		}
		// The value is not repeated in the error: someone who mistook
		// password_file for password has written the secret itself there,
		// and errors reach logs and the reply to POST /-/reload.
		p, err := resolvePath(base, f.v.v)
		if err != nil {
			return Host{}, d.errorf(f.v.line, "%s: %v", f.name, err)
		}
		if err := checkReadable(p); err != nil {
			if !filepath.IsAbs(f.v.v) && !strings.HasPrefix(f.v.v, "~") {
				return Host{}, d.errorf(f.v.line, "%s: %v (relative to %s)", f.name, err, base)
			}
			return Host{}, d.errorf(f.v.line, "%s: %v", f.name, err)
		}
		*f.dst = p
	}
	// known_hosts may be missing: accept-new creates it, and under strict
	// the connection attempt says which key to add.
	kh := h.ssh.knownHosts
	if !kh.set() {
		kh = val[string]{"~/.ssh/known_hosts", h.line}
	}
	var err error
	if s.KnownHosts, err = resolvePath(base, kh.v); err != nil {
		return Host{}, d.errorf(kh.line, "ssh.known_hosts %q: %v", kh.v, err)
	}
	out.SSH = s
	return out, nil
}

func (d decoder) buildTCP(out Host, h, own rawHost, base string) (Host, error) {
	addr := firstSet(dialNames(h)...)
	if addr == "" {
		return Host{}, d.errorf(h.line, "tcp host needs hostname or tailscale_hostname")
	}
	out.Address = addr
	t := TCP{TLSVerify: !h.tcp.tlsVerify.set() || h.tcp.tlsVerify.v, ServerName: h.tcp.serverName.v}
	if h.tcp.certPath.set() {
		p, err := resolvePath(base, h.tcp.certPath.v)
		if err != nil {
			return Host{}, d.errorf(h.tcp.certPath.line, "tcp.cert_path %q: %v", h.tcp.certPath.v, err)
		}
		if err := checkCertDir(p, t.TLSVerify); err != nil {
			return Host{}, d.errorf(h.tcp.certPath.line, "tcp.cert_path %q: %v", p, err)
		}
		t.CertPath = p
	}
	// A port inherited from defaults is the SSH port of the RevP file
	// styles; only one written on the host itself may stand for tcp.port.
	switch {
	case h.tcp.port.set():
		out.Port = h.tcp.port.v
	case own.port.set():
		out.Port = own.port.v
	case t.TLSVerify || t.CertPath != "":
		out.Port = defaultTLSPort
	default:
		out.Port = defaultPlainPort
	}
	out.Endpoint = "tcp://" + net.JoinHostPort(out.Address, strconv.Itoa(out.Port))
	out.TCP = t
	return out, nil
}

func firstSet(vs ...val[string]) string {
	for _, v := range vs {
		if v.v != "" {
			return v.v
		}
	}
	return ""
}

func withDefault(v val[string], def string) string {
	if v.set() {
		return v.v
	}
	return def
}

// dialNames lists the names to dial in order of preference: the Tailscale
// name first, unless docker-revp's use_tailscale says not to.
func dialNames(h rawHost) []val[string] {
	if h.useTailscale.set() && !h.useTailscale.v {
		return []val[string]{h.hostname, h.tailscaleHostname}
	}
	return []val[string]{h.tailscaleHostname, h.hostname}
}
