package api

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/revp"
)

// convert is c of host as the API shows it, with its routes and their
// problems from the route table. Every list is [] rather than null.
func (a *API) convert(host string, c *hostpool.Container, routes []*revp.TableRoute, problems []revp.Problem) Container {
	out := Container{
		ID:             c.ID,
		Name:           c.Name,
		Host:           host,
		Image:          c.Image,
		ImageID:        c.ImageID,
		Status:         c.StatusText(a.now()),
		State:          stateOf(c),
		Health:         healthOf(c),
		RestartCount:   c.RestartCount,
		Created:        timePtr(c.Created),
		Labels:         redactLabels(c.Labels),
		Ports:          portsOf(c),
		Networks:       make([]Network, 0, len(c.Networks)),
		Mounts:         make([]Mount, 0, len(c.Mounts)),
		Env:            a.env(c.Env),
		ComposeProject: c.ComposeProject,
		ComposeService: c.ComposeService,
		Routes:         make([]Route, 0, len(routes)),
		Problems:       problemsOf(problems),
	}
	for _, n := range c.Networks {
		out.Networks = append(out.Networks, Network{Name: n.Name, IPAddress: n.IPAddress, IPv6Address: n.IPv6Address,
			Gateway: n.Gateway, MacAddress: n.MacAddress})
	}
	for _, m := range c.Mounts {
		out.Mounts = append(out.Mounts, Mount{Type: m.Type, Source: m.Source, Destination: m.Destination, ReadOnly: m.ReadOnly})
	}
	for _, r := range routes {
		out.Routes = append(out.Routes, routeOf(r))
	}
	return out
}

// stateOf is the container's state as docker inspect shows it, where a
// paused or restarting container is also running.
func stateOf(c *hostpool.Container) State {
	return State{
		Status:     c.State,
		Running:    c.Running() || c.Paused || c.Restarting,
		Paused:     c.Paused,
		Restarting: c.Restarting,
		OOMKilled:  c.OOMKilled,
		Dead:       c.Dead,
		Pid:        c.Pid,
		ExitCode:   c.ExitCode,
		Error:      c.Error,
		StartedAt:  timePtr(c.StartedAt),
		FinishedAt: timePtr(c.FinishedAt),
	}
}

// healthOf is nil without a healthcheck, and for a container that is not
// running (the cache keeps health for running containers only).
func healthOf(c *hostpool.Container) *Health {
	if c.Health == "" {
		return nil
	}
	h := &Health{Status: c.Health, FailingStreak: c.FailingStreak, Log: make([]HealthCheck, 0, len(c.HealthLog))}
	for _, l := range c.HealthLog {
		h.Log = append(h.Log, HealthCheck{Start: l.Start.UTC(), End: l.End.UTC(), ExitCode: l.ExitCode, Output: l.Output})
	}
	return h
}

// portsOf lists one entry per distinct host binding of each published port,
// and one without a host port for each port only exposed; sorted by port,
// protocol, then host port. Docker binds IPv4 and IPv6 separately, which
// without the address would read as the same binding twice: it is listed
// once.
func portsOf(c *hostpool.Container) []Port {
	out := make([]Port, 0, len(c.Published)+len(c.Exposed))
	for key, hostPorts := range c.Published {
		port, proto, ok := splitPort(key)
		if !ok {
			continue
		}
		for _, hp := range hostPorts {
			out = append(out, Port{ContainerPort: port, Protocol: proto, HostPort: hp, Published: true})
		}
	}
	for _, key := range c.Exposed {
		if _, published := c.Published[key]; published {
			continue
		}
		if port, proto, ok := splitPort(key); ok {
			out = append(out, Port{ContainerPort: port, Protocol: proto})
		}
	}
	slices.SortFunc(out, func(x, y Port) int {
		return cmp.Or(cmp.Compare(x.ContainerPort, y.ContainerPort), cmp.Compare(x.Protocol, y.Protocol),
			cmp.Compare(len(x.HostPort), len(y.HostPort)), cmp.Compare(x.HostPort, y.HostPort),
			boolCompare(x.Published, y.Published))
	})
	return slices.Compact(out)
}

func boolCompare(x, y bool) int {
	switch {
	case x == y:
		return 0
	case x:
		return 1
	}
	return -1
}

// splitPort reads Docker's "80/tcp"; a key without a protocol is TCP, as
// Docker reads it.
func splitPort(key string) (port int, proto string, ok bool) {
	p, proto, found := strings.Cut(key, "/")
	if !found {
		proto = "tcp"
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return 0, "", false
	}
	return port, proto, true
}

// env lists the configured variables, values redacted unless
// --api.expose-env: they hold secrets more often than not. A variable
// without "=" (passed through from the daemon's environment) has none.
func (a *API) env(vars []string) []EnvVar {
	out := make([]EnvVar, 0, len(vars))
	for _, kv := range vars {
		name, value, set := strings.Cut(kv, "=")
		if set && !a.opts.ExposeEnv {
			value = redacted
		}
		out = append(out, EnvVar{Name: name, Value: value})
	}
	return out
}

func problemsOf(ps []revp.Problem) []Problem {
	out := make([]Problem, 0, len(ps))
	for _, p := range ps {
		out = append(out, Problem{Reason: p.Reason, Key: p.Key, Detail: p.Detail})
	}
	return out
}
