package revp

import (
	"errors"
	"net"
	"net/url"
	"strings"
)

// ProbeURL is the URL that probes route r at backend b: GET of the health
// path at b's address and host port, over https if the route's backend
// protocol is exactly "https", else http. The health path comes from a
// container's labels, so it is taken as a path and query only, never
// resolved against the backend as a URL reference: "//evil.example/x" would
// otherwise replace the host. An error means no probe.
func ProbeURL(r Route, b Backend) (string, error) {
	if !b.Probe || b.HostPort == "" {
		return "", errors.New("the backend is not probed")
	}
	if r.Health == "" {
		return "", errors.New("the route has no health path")
	}
	if err := checkHealthPath(r.Health); err != nil {
		return "", err
	}
	ref, err := url.Parse(r.Health)
	if err != nil {
		return "", err
	}
	scheme := "http"
	if r.BackendProto == "https" {
		scheme = "https"
	}
	host := net.JoinHostPort(b.Address, b.HostPort)
	u := url.URL{Scheme: scheme, Host: host, Path: ref.Path, RawPath: ref.RawPath, RawQuery: ref.RawQuery}
	if !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path
		if u.RawPath != "" {
			u.RawPath = "/" + u.RawPath
		}
	}
	s := u.String()
	// The client parses the string again: it must still go to the backend.
	back, err := url.Parse(s)
	if err != nil || back.Scheme != scheme || back.Host != host || back.User != nil {
		return "", errors.New("the probe URL would not go to the backend")
	}
	return s, nil
}
