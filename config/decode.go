package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The file is walked as a yaml.Node tree rather than unmarshalled into
// structs: that is what lets every error carry the file, the line, the host
// alias and the field in one stable format, lets defaults be merged only
// where the host left a field unset, and catches duplicate keys, which
// yaml.v3 does not report when decoding into a Node.

// val is one setting as written: line is where, 0 when it is not set.
type val[T any] struct {
	v    T
	line int
}

func (x val[T]) set() bool { return x.line > 0 }

// or is x, or d when x is not set: how a host inherits from defaults.
func (x val[T]) or(d val[T]) val[T] {
	if x.set() {
		return x
	}
	return d
}

// rawHost is a host entry, or the defaults block, before defaults are
// applied and the connection type is known.
type rawHost struct {
	alias string
	line  int // of the alias key

	hostname, tailscaleHostname, backendHostname val[string]
	user, keyFile, description, connection       val[string]
	socket                                       val[string]
	port                                         val[int]
	enabled, isLocal, useTailscale               val[bool]
	labels                                       map[string]val[string]
	ssh                                          rawSSH
	tcp                                          rawTCP
	// Where this entry itself opened an ssh: or tcp: block. Blocks that
	// come from defaults apply only to hosts of that type; a block written
	// on the wrong type of host is a mistake worth reporting.
	sshLine, tcpLine int
}

type rawSSH struct {
	knownHosts, hostKeyPolicy, passwordFile, passphraseFile, remoteSocket, mode val[string]
	agent                                                                       val[bool]
	timeout, keepalive                                                          val[time.Duration]
}

type rawTCP struct {
	port                 val[int]
	tlsVerify            val[bool]
	certPath, serverName val[string]
}

// noDefault lists the fields that describe one machine: a default for them
// would point every host at the same place.
var noDefault = map[string]bool{
	"hostname": true, "tailscale_hostname": true, "backend_hostname": true, "is_local": true, "socket": true,
}

// reservedLabels are docker_host_info's own labels.
var reservedLabels = map[string]bool{
	"host": true, "version": true, "api_version": true, "os": true, "kernel_version": true, "architecture": true,
}

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// maxVisits bounds the nodes the decoder visits in one file, counting a
// node again each time an alias or merge key (<<) brings it in: nested
// merges make that number exponential in the file's size, and a 483-byte
// file took 17 s of CPU. A host with every setting and label, merging
// defaults through an anchor, costs about 55 visits, so only a file of some
// 18,000 such hosts reaches the bound, far more than one exporter watches.
// Reaching it took 0.05 to 0.3 s of CPU in every shape of bomb tried.
const maxVisits = 1_000_000

// decoder formats errors as file:line: where: message.
type decoder struct {
	file   string
	where  string // `host "web"`, "defaults", or "" at the top level
	visits *int   // shared by every copy, so that the bound is per file
}

func newDecoder(file string) decoder { return decoder{file: file, visits: new(int)} }

func (d decoder) errorf(line int, format string, a ...any) error {
	msg := fmt.Sprintf(format, a...)
	if d.where != "" {
		msg = d.where + ": " + msg
	}
	if line > 0 {
		return fmt.Errorf("%s:%d: %s", d.file, line, msg)
	}
	return fmt.Errorf("%s: %s", d.file, msg)
}

func (d decoder) in(where string) decoder {
	return decoder{file: d.file, where: where, visits: d.visits}
}

// visit charges n to the file's budget and follows it if it is an alias.
func (d decoder) visit(n *yaml.Node) (*yaml.Node, error) {
	if err := d.spend(1, n.Line); err != nil {
		return nil, err
	}
	return resolve(n), nil
}

// spend charges n visits to the file's budget; line is where the error
// points when it runs out.
func (d decoder) spend(n, line int) error {
	*d.visits += n
	if *d.visits > maxVisits {
		return d.errorf(line, "the file expands to more than %d nodes through YAML aliases and merge keys (<<)", maxVisits)
	}
	return nil
}

type pair struct{ k, v *yaml.Node }

// resolve follows YAML aliases (*anchor) to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	}
	return "empty"
}

// pairs lists a mapping's entries, explicit keys first, then those brought
// in by YAML merge keys (<<: *anchor) that no explicit key overrides. A key
// written twice is an error; dup says how to report it.
func (d decoder) pairs(n *yaml.Node, dup func(key string, first int) string, depth int) ([]pair, error) {
	if depth > 10 {
		return nil, d.errorf(n.Line, "merge keys nested too deeply")
	}
	var (
		out    []pair
		seen   = map[string]int{}
		merges []*yaml.Node
	)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, err := d.visit(n.Content[i])
		if err != nil {
			return nil, err
		}
		v, err := d.visit(n.Content[i+1])
		if err != nil {
			return nil, err
		}
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, d.errorf(k.Line, "a key must be a single value, not %s", kind(k))
		}
		if first, ok := seen[k.Value]; ok {
			return nil, d.errorf(k.Line, "%s", dup(k.Value, first))
		}
		seen[k.Value] = k.Line
		out = append(out, pair{k, v})
	}
	for _, m := range merges {
		ps, err := d.merged(m, dup, depth)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			if _, ok := seen[p.k.Value]; !ok {
				seen[p.k.Value] = p.k.Line
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// merged lists the entries a merge key brings in, from one mapping or a
// list of them, earlier ones first.
func (d decoder) merged(m *yaml.Node, dup func(key string, first int) string, depth int) ([]pair, error) {
	srcs := []*yaml.Node{m}
	if m.Kind == yaml.SequenceNode {
		srcs = m.Content
	}
	var out []pair
	for _, s := range srcs {
		s, err := d.visit(s)
		if err != nil {
			return nil, err
		}
		if s.Kind != yaml.MappingNode {
			return nil, d.errorf(s.Line, "a merge key (<<) must name a mapping, not %s", kind(s))
		}
		ps, err := d.pairs(s, dup, depth+1)
		if err != nil {
			return nil, err
		}
		// Copying entries up a level is work too, and with wide mappings
		// the larger part of what nested merges multiply.
		if err := d.spend(len(ps), s.Line); err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	return out, nil
}

// fields walks a settings mapping. prefix ("ssh.") names nested fields in
// errors as they would be written in dotted form.
func (d decoder) fields(n *yaml.Node, prefix string, set map[string]func(*yaml.Node) error) error {
	ps, err := d.pairs(n, func(key string, first int) string {
		return fmt.Sprintf("field %q repeated (first at line %d)", prefix+key, first)
	}, 0)
	if err != nil {
		return err
	}
	for _, p := range ps {
		f, ok := set[p.k.Value]
		if !ok {
			return d.errorf(p.k.Line, "unknown field %q", prefix+p.k.Value)
		}
		if err := f(p.v); err != nil {
			return err
		}
	}
	return nil
}

// scalar reports whether n holds a value; null (`key:` or `key: ~`) counts
// as not set, the way YAML users leave a field blank.
func (d decoder) scalar(n *yaml.Node, name, want string) (bool, error) {
	if n.Kind != yaml.ScalarNode {
		return false, d.errorf(n.Line, "%s must be %s, not %s", name, want, kind(n))
	}
	return n.Tag != "!!null", nil
}

func (d decoder) str(dst *val[string], name string) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		ok, err := d.scalar(n, name, "a string")
		if ok && n.Value != "" {
			*dst = val[string]{n.Value, n.Line}
		}
		return err
	}
}

func (d decoder) oneOf(dst *val[string], name string, allowed ...string) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		var s val[string]
		if err := d.str(&s, name)(n); err != nil || !s.set() {
			return err
		}
		for _, a := range allowed {
			if s.v == a {
				*dst = s
				return nil
			}
		}
		return d.errorf(n.Line, "%s %q is not one of %s", name, s.v, strings.Join(allowed, ", "))
	}
}

func (d decoder) hostname(dst *val[string], name string) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		var s val[string]
		if err := d.str(&s, name)(n); err != nil || !s.set() {
			return err
		}
		if err := CheckHostname(s.v); err != nil {
			return d.errorf(n.Line, "%s %q is %v", name, s.v, err)
		}
		*dst = s
		return nil
	}
}

// port also takes a quoted number: Python-based tools such as docker-revp
// accept port: "22", and their files must load unchanged.
func (d decoder) port(dst *val[int], name string) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		ok, err := d.scalar(n, name, "an integer")
		if !ok {
			return err
		}
		// Only !!int and !!str: yaml.v3 would truncate a float into an int.
		var p int
		switch n.Tag {
		case "!!int":
			err = n.Decode(&p)
		case "!!str":
			p, err = strconv.Atoi(n.Value)
		default:
			err = errors.New("not an integer")
		}
		if err != nil {
			return d.errorf(n.Line, "%s %q is not an integer", name, n.Value)
		}
		if p < 1 || p > 65535 {
			return d.errorf(n.Line, "%s %d is out of range 1..65535", name, p)
		}
		*dst = val[int]{p, n.Line}
		return nil
	}
}

// boolean takes YAML 1.1 spellings (yes, no, on, off) as well: the RevP
// tools read their files with PyYAML, which does.
func (d decoder) boolean(dst *val[bool], name string) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		ok, err := d.scalar(n, name, "true or false")
		if !ok {
			return err
		}
		var b bool
		if n.Decode(&b) != nil {
			if b, err = strconv.ParseBool(n.Value); err != nil {
				return d.errorf(n.Line, "%s %q is not true or false", name, n.Value)
			}
		}
		*dst = val[bool]{b, n.Line}
		return nil
	}
}

func (d decoder) duration(dst *val[time.Duration], name string) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		ok, err := d.scalar(n, name, "a duration")
		if !ok {
			return err
		}
		t, err := time.ParseDuration(n.Value)
		if err != nil {
			return d.errorf(n.Line, "%s %q is not a duration such as 30s or 1m30s", name, n.Value)
		}
		if t <= 0 {
			return d.errorf(n.Line, "%s %q must be positive", name, n.Value)
		}
		*dst = val[time.Duration]{t, n.Line}
		return nil
	}
}

func (d decoder) labels(dst *map[string]val[string]) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return nil
		}
		if n.Kind != yaml.MappingNode {
			return d.errorf(n.Line, "labels must be a mapping of name to value, not %s", kind(n))
		}
		ps, err := d.pairs(n, func(key string, first int) string {
			return fmt.Sprintf("label %q repeated (first at line %d)", key, first)
		}, 0)
		if err != nil {
			return err
		}
		m := make(map[string]val[string], len(ps))
		for _, p := range ps {
			name := p.k.Value
			switch {
			case !labelNameRE.MatchString(name) || strings.HasPrefix(name, "__"):
				return d.errorf(p.k.Line, "labels: %q is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __)", name)
			case reservedLabels[name]:
				return d.errorf(p.k.Line, "labels: %q is reserved: docker_host_info sets it itself", name)
			}
			if _, err := d.scalar(p.v, "labels."+name, "a string"); err != nil {
				return err
			}
			v := p.v.Value
			if p.v.Tag == "!!null" {
				v = ""
			}
			m[name] = val[string]{v, p.v.Line}
		}
		*dst = m
		return nil
	}
}

// decodeHost reads a host entry, or the defaults block when isDefaults.
func (d decoder) decodeHost(n *yaml.Node, isDefaults bool) (rawHost, error) {
	var h rawHost
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return h, nil // `alias:` alone: every setting from defaults
	}
	if n.Kind != yaml.MappingNode {
		return h, d.errorf(n.Line, "must be a mapping of settings, not %s", kind(n))
	}
	set := map[string]func(*yaml.Node) error{
		"hostname":           d.hostname(&h.hostname, "hostname"),
		"tailscale_hostname": d.hostname(&h.tailscaleHostname, "tailscale_hostname"),
		"backend_hostname":   d.hostname(&h.backendHostname, "backend_hostname"),
		"user":               d.str(&h.user, "user"),
		"port":               d.port(&h.port, "port"),
		"key_file":           d.str(&h.keyFile, "key_file"),
		"description":        d.str(&h.description, "description"),
		"enabled":            d.boolean(&h.enabled, "enabled"),
		"is_local":           d.boolean(&h.isLocal, "is_local"),
		"use_tailscale":      d.boolean(&h.useTailscale, "use_tailscale"),
		"connection":         d.oneOf(&h.connection, "connection", "local", "ssh", "tcp"),
		"socket":             d.str(&h.socket, "socket"),
		"labels":             d.labels(&h.labels),
		"ssh": func(v *yaml.Node) error {
			h.sshLine = v.Line
			return d.block(v, "ssh", map[string]func(*yaml.Node) error{
				"known_hosts":     d.str(&h.ssh.knownHosts, "ssh.known_hosts"),
				"host_key_policy": d.oneOf(&h.ssh.hostKeyPolicy, "ssh.host_key_policy", "strict", "accept-new", "insecure"),
				"password_file":   d.str(&h.ssh.passwordFile, "ssh.password_file"),
				"passphrase_file": d.str(&h.ssh.passphraseFile, "ssh.passphrase_file"),
				"agent":           d.boolean(&h.ssh.agent, "ssh.agent"),
				"timeout":         d.duration(&h.ssh.timeout, "ssh.timeout"),
				"keepalive":       d.duration(&h.ssh.keepalive, "ssh.keepalive"),
				"remote_socket":   d.str(&h.ssh.remoteSocket, "ssh.remote_socket"),
				"mode":            d.oneOf(&h.ssh.mode, "ssh.mode", "auto", "streamlocal", "dial-stdio"),
			})
		},
		"tcp": func(v *yaml.Node) error {
			h.tcpLine = v.Line
			return d.block(v, "tcp", map[string]func(*yaml.Node) error{
				"port":        d.port(&h.tcp.port, "tcp.port"),
				"tls_verify":  d.boolean(&h.tcp.tlsVerify, "tcp.tls_verify"),
				"cert_path":   d.str(&h.tcp.certPath, "tcp.cert_path"),
				"server_name": d.str(&h.tcp.serverName, "tcp.server_name"),
			})
		},
	}
	if isDefaults {
		for name := range noDefault {
			set[name] = func(v *yaml.Node) error {
				return d.errorf(v.Line, "%s cannot have a default; set it on each host", name)
			}
		}
	}
	return h, d.fields(n, "", set)
}

func (d decoder) block(n *yaml.Node, name string, set map[string]func(*yaml.Node) error) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return d.errorf(n.Line, "%s must be a mapping of settings, not %s", name, kind(n))
	}
	return d.fields(n, name+".", set)
}

// syntaxError keeps yaml's own message, line number included, rather than
// rewriting it as file:line: yaml.v3 reports a parse error at the line where
// the enclosing block starts, counted from 0, so its number is not the line
// of the mistake and would mislead in that form.
func syntaxError(file string, err error) error {
	return errors.New(file + ": " + err.Error())
}
