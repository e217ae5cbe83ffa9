package revp

import (
	"fmt"
	"sort"
	"strconv"
)

// Published maps a container port with its protocol ("80/tcp") to the host
// ports Docker publishes it on. An empty host port means the port is
// published on a host port that is not known: a stopped container's binding
// to a random port, which Docker picks when the container starts.
type Published map[string][]string

// Backend is where a route sends traffic: an address and a host port.
type Backend struct {
	Address  string
	HostPort string // "" when Docker publishes nothing for the route's port, or the host port is unknown
}

// Resolve finds a route's backend: the host's address (or the flat
// grammar's own backend-host) and the host port Docker publishes for the
// route's port, over TCP first, else UDP.
func Resolve(r Route, published Published, hostAddress string) (Backend, []Problem) {
	b := Backend{Address: hostAddress}
	if r.Grammar == Flat && r.BackendHost != "" && r.BackendHost != "localhost" && r.BackendHost != "127.0.0.1" {
		b.Address = r.BackendHost
	}
	port := strconv.Itoa(r.Port)
	for _, proto := range []string{"tcp", "udp"} {
		if hps := published[port+"/"+proto]; len(hps) > 0 {
			// first is "" when the host port is not known yet (a stopped
			// container bound to a random port): published, not a problem.
			b.HostPort = first(hps)
			return b, nil
		}
	}
	// Homelab labels often name the port as it is published on the host
	// ("8003:80" labelled 8003). It works, as the label means the host port.
	keys := make([]string, 0, len(published))
	for k := range published {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, hp := range published[k] {
			if hp == port {
				b.HostPort = hp
				return b, []Problem{{Reason: LabelPortIsHost, Detail: fmt.Sprintf(
					"port %d is the host port published for container port %s; label the container port instead", r.Port, k)}}
			}
		}
	}
	return b, []Problem{{Reason: PortNotPublished, Detail: fmt.Sprintf("container port %d is not published", r.Port)}}
}

func first(ports []string) string {
	for _, p := range ports {
		if p != "" {
			return p
		}
	}
	return ""
}
