package revp

import (
	"reflect"
	"testing"
)

// A flat backend-host may name the Docker host itself in any spelling, or a
// host the operator allows; anything else is a problem, and the route keeps
// the Docker host's address and is not probed.
func TestResolveBackendHost(t *testing.T) {
	const own = "Docker-01.lan"
	published := Published{"80/tcp": {"8000"}}
	refused := func(host string) []Problem {
		return []Problem{{Reason: BackendHostNotAllowed, Detail: `backend-host "` + host +
			`" is neither this Docker host (Docker-01.lan) nor an allowed backend host; the route is not probed`}}
	}
	for _, tc := range []struct {
		name     string
		grammar  string
		host     string
		allowed  []string
		address  string
		probe    bool
		problems []Problem
	}{
		{name: "unset", host: "", address: own, probe: true},
		{name: "localhost", host: "localhost", address: own, probe: true},
		{name: "LocalHost", host: "LocalHost", address: own, probe: true},
		{name: "127.0.0.1", host: "127.0.0.1", address: own, probe: true},
		{name: "::1", host: "::1", address: own, probe: true},
		{name: "the host's own address, another case", host: "docker-01.LAN", address: own, probe: true},
		{name: "allowed", host: "10.0.0.5", allowed: []string{"nas.lan", "10.0.0.5"}, address: "10.0.0.5", probe: true},
		{name: "allowed, another case", host: "NAS.lan", allowed: []string{"nas.LAN"}, address: "NAS.lan", probe: true},
		{name: "not allowed", host: "10.0.0.5", allowed: []string{"10.0.0.6"}, address: own, problems: refused("10.0.0.5")},
		{name: "another loopback address", host: "127.0.0.2", address: own, problems: refused("127.0.0.2")},
		{name: "metadata service", host: "169.254.169.254", address: own, problems: refused("169.254.169.254")},
		{name: "with a port", host: "10.0.0.5:80", allowed: []string{"10.0.0.5"}, address: own, problems: refused("10.0.0.5:80")},
		{name: "allowed is not a suffix match", host: "evil.nas.lan", allowed: []string{"nas.lan"}, address: own, problems: refused("evil.nas.lan")},
		{name: "port-indexed routes have no backend-host", grammar: PortIndexed, host: "10.0.0.5", address: own, probe: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Route{Grammar: Flat, Port: 80, BackendHost: tc.host}
			if tc.grammar != "" {
				r.Grammar = tc.grammar
			}
			b, problems := Resolve(r, published, own, tc.allowed)
			if want := (Backend{Address: tc.address, HostPort: "8000", Probe: tc.probe}); b != want {
				t.Errorf("backend %+v, want %+v", b, want)
			}
			if !reflect.DeepEqual(problems, tc.problems) {
				t.Errorf("problems %v, want %v", problems, tc.problems)
			}
		})
	}
}

// Only TCP is a backend: a UDP binding neither resolves a route nor counts
// as the host port a label names, so no probe goes to its number over TCP.
func TestResolveUDPOnly(t *testing.T) {
	for _, tc := range []struct {
		name      string
		port      int
		published Published
		want      Backend
		problem   string
	}{
		{name: "udp only", port: 53, published: Published{"53/udp": {"5353"}},
			want: Backend{Address: "h"}, problem: "port_not_published: container port 53 is published over UDP only; a route needs TCP"},
		{name: "udp only, the label names its host port", port: 5353, published: Published{"53/udp": {"5353"}},
			want: Backend{Address: "h"}, problem: "port_not_published: container port 5353 is not published"},
		{name: "tcp and udp", port: 53, published: Published{"53/udp": {"5353"}, "53/tcp": {"5354"}},
			want: Backend{Address: "h", HostPort: "5354", Probe: true}},
		{name: "the label names a tcp host port", port: 5354, published: Published{"53/udp": {"5354"}, "53/tcp": {"5354"}},
			want:    Backend{Address: "h", HostPort: "5354", Probe: true},
			problem: "label_port_is_host_port: port 5354 is the host port published for container port 53/tcp; label the container port instead"},
		{name: "sctp", port: 80, published: Published{"80/sctp": {"8000"}},
			want: Backend{Address: "h"}, problem: "port_not_published: container port 80 is not published"},
		{name: "tcp on an unknown host port", port: 80, published: Published{"80/tcp": {""}},
			want: Backend{Address: "h"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, problems := Resolve(Route{Grammar: PortIndexed, Port: tc.port}, tc.published, "h", nil)
			if b != tc.want {
				t.Errorf("backend %+v, want %+v", b, tc.want)
			}
			var got string
			for _, p := range problems {
				got += p.String()
			}
			if got != tc.problem {
				t.Errorf("problems %q, want %q", got, tc.problem)
			}
		})
	}
}

func TestProbeURL(t *testing.T) {
	ok := Backend{Address: "192.0.2.10", HostPort: "8000", Probe: true}
	for _, tc := range []struct {
		name  string
		proto string
		path  string
		b     Backend
		want  string // "" for no probe
	}{
		{name: "http", path: "/healthz", b: ok, want: "http://192.0.2.10:8000/healthz"},
		{name: "https", proto: "https", path: "/healthz", b: ok, want: "https://192.0.2.10:8000/healthz"},
		{name: "HTTPS is not https", proto: "HTTPS", path: "/healthz", b: ok, want: "http://192.0.2.10:8000/healthz"},
		{name: "a scheme of the label's choice is not used", proto: "gopher", path: "/healthz", b: ok, want: "http://192.0.2.10:8000/healthz"},
		{name: "IPv6 address", path: "/h", b: Backend{Address: "2001:db8::1", HostPort: "8000", Probe: true}, want: "http://[2001:db8::1]:8000/h"},
		{name: "not probed", path: "/healthz", b: Backend{Address: "192.0.2.10", HostPort: "8000"}},
		{name: "no host port", path: "/healthz", b: Backend{Address: "192.0.2.10", Probe: true}},
		{name: "no health path", b: ok},
		// Parse refuses these; ProbeURL must too, whatever built the Route.
		{name: "network-path reference", path: "//evil.example/x", b: ok},
		{name: "absolute URL", path: "http://evil.example/x", b: ok},
		{name: "user info", path: "//u@evil.example/x", b: ok},
		{name: "address that is not a host", path: "/h", b: Backend{Address: "evil.example/x?", HostPort: "8000", Probe: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ProbeURL(Route{BackendProto: tc.proto, Health: tc.path}, tc.b)
			if got != tc.want || (err == nil) != (tc.want != "") {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
