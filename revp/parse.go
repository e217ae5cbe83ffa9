// Package revp parses the reverse-proxy labels ("RevP", snadboy.revp.*) that
// route domains to containers, validates them, and resolves each route's
// backend against the ports Docker publishes.
package revp

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DefaultPrefix is the label prefix RevP tools read.
const DefaultPrefix = "snadboy.revp"

// Grammars.
const (
	PortIndexed = "port" // <prefix>.<container port>.<property>
	Flat        = "flat" // <prefix>.<property>, one route per container
)

// Problem reasons; the set is closed, it is a label value.
const (
	MissingDomain         = "missing_domain"
	BadPort               = "bad_port"
	UnknownProperty       = "unknown_property"
	BadBoolean            = "bad_boolean"
	BadInteger            = "bad_integer"
	BadDomain             = "bad_domain"
	BadHealthPath         = "bad_health_path"
	ValueTooLong          = "value_too_long"
	PortNotPublished      = "port_not_published"
	LabelPortIsHost       = "label_port_is_host_port"
	BackendHostNotAllowed = "backend_host_not_allowed"
	MixedGrammars         = "mixed_grammars"
)

// Reasons lists every problem reason.
var Reasons = []string{MissingDomain, BadPort, UnknownProperty, BadBoolean, BadInteger, BadDomain,
	BadHealthPath, ValueTooLong, PortNotPublished, LabelPortIsHost, BackendHostNotAllowed, MixedGrammars}

// MaxValueLen bounds the bytes of a label value that Parse reads. Values
// end up in series labels (backend_path, backend_scheme), and a container's
// author, not the operator, chooses them.
const MaxValueLen = 1024

// Domain is one entry of a route's domain list.
type Domain struct {
	Name     string
	Redirect bool // ":redirect" (the default) or ":noredirect"
}

// Route is one routed container port.
type Route struct {
	Grammar string
	Port    int // the container port the labels name (flat: container-port, else backend-port)
	Domains []Domain

	BackendProto       string
	BackendPath        string
	ForceSSL           bool
	Websocket          bool
	CloudflareTunnel   bool
	TunnelDomain       string
	HTTPS              bool
	RedirectHTTPS      bool
	CertResolver       string
	InsecureSkipVerify bool
	PassHostHeader     bool
	Health             string // a path; flat: health-check.path
	Info               string
	Notify             bool
	NotifyPriority     int

	// Flat grammar only.
	BackendHost         string
	StripPrefix         bool
	LoadBalancer        string
	HealthCheckInterval string
	HealthCheckTimeout  string
}

// Problem is one thing wrong with a container's labels.
type Problem struct {
	Reason string
	Key    string // the label key, when one is to blame
	Detail string
}

func (p Problem) String() string {
	if p.Key == "" {
		return fmt.Sprintf("%s: %s", p.Reason, p.Detail)
	}
	return fmt.Sprintf("%s: %s: %s", p.Reason, p.Key, p.Detail)
}

func defaultRoute(grammar string, port int) *Route {
	return &Route{
		Grammar: grammar, Port: port, BackendProto: "http", BackendPath: "/", ForceSSL: true,
		HTTPS: true, RedirectHTTPS: true, CertResolver: "letsencrypt", PassHostHeader: true,
		Notify: true, NotifyPriority: 5,
	}
}

// Parse reads the routes that a container's labels declare under prefix.
// It never fails: what is wrong becomes a Problem and the route keeps the
// property's default. The result depends only on the map's contents.
func Parse(labels map[string]string, prefix string) ([]Route, []Problem) {
	p := &parser{prefix: prefix + ".", ports: map[int]*Route{}, domainKeys: map[int]string{}}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if k == prefix || strings.HasPrefix(k, p.prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		p.key(k, labels[k])
	}
	return p.finish()
}

type parser struct {
	prefix     string
	ports      map[int]*Route
	domainKeys map[int]string // port -> its domain key, for missing_domain
	flat       *Route         // set once a flat property is read
	flatDomain bool
	cutEntry   bool // the current key's value was cut inside its last comma-separated entry
	problems   []Problem
}

func (p *parser) problem(reason, key, detail string) {
	p.problems = append(p.problems, Problem{Reason: reason, Key: key, Detail: detail})
}

// key classifies one key under the prefix. Whatever fits neither grammar is
// a problem rather than silently ignored: a proxy may read the key another
// way, and its author meant something by it.
func (p *parser) key(key, value string) {
	v, clipped := clip(value)
	p.cutEntry = clipped && !strings.HasPrefix(value[len(v):], ",")
	if clipped {
		p.problem(ValueTooLong, key, fmt.Sprintf("%d bytes; only the first %d are read", len(value), len(v)))
	}
	value = v
	rest, ok := strings.CutPrefix(key, p.prefix)
	if !ok {
		p.problem(UnknownProperty, key, "the prefix alone names no property")
		return
	}
	if slices.Contains(strings.Split(rest, "."), "") {
		p.problem(UnknownProperty, key, "the key has an empty segment (a leading, trailing or doubled dot)")
		return
	}
	first, prop, indexed := strings.Cut(rest, ".")
	switch {
	case isDigits(first) && !indexed:
		p.problem(UnknownProperty, key, fmt.Sprintf("port %s is not followed by a property", first))
	case isDigits(first):
		if r := p.portRoute(key, first); r != nil {
			p.portProperty(r, key, prop, value)
		}
	case flatProperties[rest]:
		if p.flat == nil {
			p.flat = defaultRoute(Flat, 80)
			p.flat.BackendHost = "localhost"
		}
		p.flatProperty(p.flat, key, rest, value)
	case indexed && portProperties[prop]:
		// "<prefix>.web.domain": shaped like a port-indexed label without a port.
		p.problem(BadPort, key, fmt.Sprintf("port %q is not a number", first))
	case portProperties[rest]:
		p.problem(UnknownProperty, key, fmt.Sprintf("%q is a port-indexed property: %s<port>.%s", rest, p.prefix, rest))
	default:
		p.problem(UnknownProperty, key, fmt.Sprintf("%q is not a RevP property", rest))
	}
}

// portRoute returns the route of a port-indexed key's port, or nil if the
// port is bad. A leading zero is bad: proxies disagree on whether "080" is
// port 80, a port of its own, or octal.
func (p *parser) portRoute(key, num string) *Route {
	port, err := strconv.Atoi(num)
	switch {
	case len(num) > 1 && num[0] == '0':
		p.problem(BadPort, key, fmt.Sprintf("port %q has a leading zero", num))
		return nil
	case err != nil || port < 1 || port > 65535:
		p.problem(BadPort, key, fmt.Sprintf("port %q is not in 1..65535", num))
		return nil
	}
	r := p.ports[port]
	if r == nil {
		r = defaultRoute(PortIndexed, port)
		p.ports[port] = r
	}
	return r
}

// clip cuts v to at most MaxValueLen bytes without splitting a UTF-8
// sequence; it backs off at most utf8.UTFMax-1 bytes, so an invalid
// sequence cannot make it walk far.
func clip(v string) (string, bool) {
	if len(v) <= MaxValueLen {
		return v, false
	}
	n := MaxValueLen
	for back := 0; back < utf8.UTFMax-1 && !utf8.RuneStart(v[n]); back++ {
		n--
	}
	return v[:n], true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

var portProperties = map[string]bool{
	"domain": true, "backend-proto": true, "backend-path": true, "force-ssl": true, "support-websocket": true,
	"cloudflare-tunnel": true, "tunnel-domain": true, "https": true, "redirect-https": true,
	"https-certresolver": true, "insecure-skip-verify": true, "pass-host-header": true, "health": true,
	"info": true, "notify": true, "notify-priority": true,
}

var flatProperties = map[string]bool{
	"domain": true, "backend-host": true, "backend-port": true, "container-port": true, "backend-scheme": true,
	"backend-proto": true, "backend-path": true, "strip-prefix": true, "load-balancer": true,
	"health-check.path": true, "health-check.interval": true, "health-check.timeout": true,
	"force-ssl": true, "support-websocket": true,
}

func (p *parser) portProperty(r *Route, key, prop, v string) {
	switch prop {
	case "domain":
		p.domainKeys[r.Port] = key
		r.Domains = p.domains(key, v)
	case "backend-proto":
		r.BackendProto = v
	case "backend-path":
		r.BackendPath = v
	case "tunnel-domain":
		r.TunnelDomain = v
	case "https-certresolver":
		r.CertResolver = v
	case "health":
		r.Health = p.healthPath(key, v)
	case "info":
		r.Info = v
	case "force-ssl":
		p.boolean(&r.ForceSSL, key, v)
	case "support-websocket":
		p.boolean(&r.Websocket, key, v)
	case "cloudflare-tunnel":
		p.boolean(&r.CloudflareTunnel, key, v)
	case "https":
		p.boolean(&r.HTTPS, key, v)
	case "redirect-https":
		p.boolean(&r.RedirectHTTPS, key, v)
	case "insecure-skip-verify":
		p.boolean(&r.InsecureSkipVerify, key, v)
	case "pass-host-header":
		p.boolean(&r.PassHostHeader, key, v)
	case "notify":
		p.boolean(&r.Notify, key, v)
	case "notify-priority":
		p.integer(&r.NotifyPriority, key, v)
	default:
		p.problem(UnknownProperty, key, fmt.Sprintf("%q is not a RevP property", prop))
	}
}

func (p *parser) flatProperty(r *Route, key, prop, v string) {
	switch prop {
	case "domain":
		p.flatDomain = true
		r.Domains = p.domains(key, v)
	case "backend-host":
		r.BackendHost = v
	case "backend-port", "container-port":
		p.port(&r.Port, key, v)
	case "backend-scheme", "backend-proto":
		r.BackendProto = v
	case "backend-path":
		r.BackendPath = v
	case "load-balancer":
		r.LoadBalancer = v
	case "health-check.path":
		r.Health = p.healthPath(key, v)
	case "health-check.interval":
		r.HealthCheckInterval = v
	case "health-check.timeout":
		r.HealthCheckTimeout = v
	case "strip-prefix":
		p.boolean(&r.StripPrefix, key, v)
	case "force-ssl":
		p.boolean(&r.ForceSSL, key, v)
	case "support-websocket":
		p.boolean(&r.Websocket, key, v)
	}
}

// healthPath returns v if it is a path (with an optional query) on the
// route's backend, else "" (no probe) and a problem. The probe joins it to
// the backend's own address, so a value naming a scheme, a host or user
// info must not get the chance to pick where the exporter connects.
func (p *parser) healthPath(key, v string) string {
	if err := checkHealthPath(v); err != nil {
		p.problem(BadHealthPath, key, fmt.Sprintf("%q: %v; not probed", v, err))
		return ""
	}
	return v
}

func checkHealthPath(v string) error {
	// "//host/x" is a network-path reference: it names a host.
	if strings.HasPrefix(v, "//") {
		return errors.New("a path must not start with //")
	}
	u, err := url.Parse(v)
	if err != nil {
		return errors.New("not a URL path")
	}
	if u.Scheme != "" || u.Opaque != "" || u.Host != "" || u.User != nil {
		return errors.New("must be a path, without a scheme or host")
	}
	return nil
}

func (p *parser) boolean(dst *bool, key, v string) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		p.problem(BadBoolean, key, fmt.Sprintf("%q is not true or false; using %t", v, *dst))
	}
}

func (p *parser) integer(dst *int, key, v string) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		p.problem(BadInteger, key, fmt.Sprintf("%q is not an integer; using %d", v, *dst))
		return
	}
	*dst = n
}

func (p *parser) port(dst *int, key, v string) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 || n > 65535 {
		p.problem(BadPort, key, fmt.Sprintf("port %q is not in 1..65535; using %d", v, *dst))
		return
	}
	*dst = n
}

// domains splits a comma-separated list: entries trimmed, empty ones
// skipped, each optionally ending in :redirect or :noredirect. A name that
// repeats an earlier entry of the list (names are lower-cased, so case does
// not matter) is dropped: the first entry wins, with its redirect mode. A
// value cut to MaxValueLen loses the entry the cut went through.
func (p *parser) domains(key, v string) []Domain {
	if p.cutEntry {
		// The cut may leave a shorter name that the author never wrote.
		v = v[:strings.LastIndexByte(v, ',')+1]
	}
	var out []Domain
	seen := map[string]bool{}
	for _, entry := range strings.Split(v, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		d := Domain{Name: entry, Redirect: true}
		if name, mode, ok := strings.Cut(entry, ":"); ok {
			switch mode {
			case "redirect":
				d.Name = name
			case "noredirect":
				d.Name, d.Redirect = name, false
			default:
				p.problem(BadDomain, key, fmt.Sprintf("%q: suffix must be :redirect or :noredirect", entry))
				continue
			}
		}
		d.Name = strings.ToLower(d.Name)
		if err := ValidDomain(d.Name); err != nil {
			p.problem(BadDomain, key, fmt.Sprintf("%q: %v", entry, err))
			continue
		}
		if seen[d.Name] {
			continue
		}
		seen[d.Name] = true
		out = append(out, d)
	}
	return out
}

// ValidDomain accepts a DNS hostname, optionally starting with "*." for a
// wildcard.
func ValidDomain(name string) error {
	host := strings.TrimPrefix(name, "*.")
	if host == "" || len(name) > 253 {
		return fmt.Errorf("length must be 1..253")
	}
	for _, l := range strings.Split(host, ".") {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("label %q must be 1..63 characters", l)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("label %q must not start or end with '-'", l)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("label %q has %q; only letters, digits and '-' are allowed", l, c)
			}
		}
	}
	return nil
}

func (p *parser) finish() ([]Route, []Problem) {
	var routes []Route
	ports := make([]int, 0, len(p.ports))
	for port := range p.ports {
		ports = append(ports, port)
	}
	sort.Ints(ports)
	for _, port := range ports {
		r := p.ports[port]
		if _, ok := p.domainKeys[port]; !ok {
			p.problem(MissingDomain, fmt.Sprintf("%s%d.domain", p.prefix, port), "a port with RevP properties has no domain")
			continue
		}
		if len(r.Domains) == 0 {
			p.problem(MissingDomain, p.domainKeys[port], "the domain list has no valid entry")
			continue
		}
		routes = append(routes, *r)
	}
	if p.flat != nil {
		switch {
		case !p.flatDomain:
			p.problem(MissingDomain, p.prefix+"domain", "flat RevP properties without a domain")
		case p.flatDomain && len(p.flat.Domains) == 0:
			p.problem(MissingDomain, p.prefix+"domain", "the domain list has no valid entry")
		case p.flatDomain:
			routes = append(routes, *p.flat)
		}
	}
	if len(p.ports) > 0 && p.flatDomain {
		p.problem(MixedGrammars, "", "both port-indexed and flat RevP labels; both are routed")
	}
	sort.SliceStable(p.problems, func(i, j int) bool {
		a, b := p.problems[i], p.problems[j]
		if a.Reason != b.Reason {
			return a.Reason < b.Reason
		}
		return a.Key < b.Key
	})
	return routes, p.problems
}
