package revp

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Published maps a container port with its protocol ("80/tcp") to the host
// ports Docker publishes it on. An empty host port means the port is
// published on a host port that is not known: a stopped container's binding
// to a random port, which Docker picks when the container starts.
type Published map[string][]string

// Backend is where a route sends traffic: an address and a host port.
type Backend struct {
	Address  string
	HostPort string // "" when Docker publishes nothing over TCP for the route's port, or the host port is unknown
	// Probe is whether a probe may connect to Address:HostPort: a TCP port
	// the container publishes, at the Docker host's own address or one the
	// operator allows. A container's labels must not choose what the
	// exporter connects to.
	Probe bool
}

// Resolve finds a route's backend: the Docker host's address (hostAddress)
// and the host port Docker publishes over TCP for the route's port. A flat
// route's backend-host may name another address only if it is in allowed
// (compared case-insensitively); otherwise it is a problem, the backend
// stays the Docker host's own address and is not probed.
func Resolve(r Route, published Published, hostAddress string, allowed []string) (Backend, []Problem) {
	b := Backend{Address: hostAddress}
	var problems []Problem
	trusted := true
	if r.Grammar == Flat && !isLocal(r.BackendHost, hostAddress) {
		if slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, r.BackendHost) }) {
			b.Address = r.BackendHost
		} else {
			trusted = false
			problems = append(problems, Problem{Reason: BackendHostNotAllowed, Detail: fmt.Sprintf(
				"backend-host %q is neither this Docker host (%s) nor an allowed backend host; the route is not probed", r.BackendHost, hostAddress)})
		}
	}
	var ps []Problem
	b.HostPort, ps = hostPort(r.Port, published)
	b.Probe = trusted && b.HostPort != ""
	return b, append(problems, ps...)
}

// isLocal reports whether a flat backend-host names the Docker host itself.
func isLocal(host, hostAddress string) bool {
	switch strings.ToLower(host) {
	case "", "localhost", "127.0.0.1", "::1":
		return true
	}
	return strings.EqualFold(host, hostAddress)
}

// hostPort finds the host port Docker publishes over TCP for a container
// port. Proxies forward HTTP over TCP only: a port published over UDP alone
// is no backend, and probing it would reach whatever else listens on that
// number over TCP.
func hostPort(ctrPort int, published Published) (string, []Problem) {
	port := strconv.Itoa(ctrPort)
	if hps := published[port+"/tcp"]; len(hps) > 0 {
		// first is "" when the host port is not known yet (a stopped
		// container bound to a random port): published, not a problem.
		return first(hps), nil
	}
	if len(published[port+"/udp"]) > 0 {
		return "", []Problem{{Reason: PortNotPublished, Detail: fmt.Sprintf(
			"container port %d is published over UDP only; a route needs TCP", ctrPort)}}
	}
	// Homelab labels often name the port as it is published on the host
	// ("8003:80" labelled 8003). It works, as the label means the host port.
	keys := make([]string, 0, len(published))
	for k := range published {
		if strings.HasSuffix(k, "/tcp") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if slices.Contains(published[k], port) {
			return port, []Problem{{Reason: LabelPortIsHost, Detail: fmt.Sprintf(
				"port %d is the host port published for container port %s; label the container port instead", ctrPort, k)}}
		}
	}
	return "", []Problem{{Reason: PortNotPublished, Detail: fmt.Sprintf("container port %d is not published", ctrPort)}}
}

func first(ports []string) string {
	for _, p := range ports {
		if p != "" {
			return p
		}
	}
	return ""
}
