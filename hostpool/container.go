package hostpool

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	units "github.com/docker/go-units"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/snadboy/docker-monitor/revp"
)

// States lists every container state Docker reports, in lifecycle order; the
// state metrics are one-hot over exactly this set.
var States = []string{"created", "running", "paused", "restarting", "removing", "exited", "dead"}

// HealthStatuses lists the health states a container with a healthcheck can be in.
var HealthStatuses = []string{"starting", "healthy", "unhealthy"}

// Container is the cached view of one container: what the collectors need
// from an inspect, and nothing that changes without an event.
type Container struct {
	ID             string
	Name           string
	Image          string
	ImageID        string
	Labels         map[string]string
	State          string
	Health         string // "" when the container has no healthcheck
	FailingStreak  int
	RestartCount   int
	ExitCode       int
	OOMKilled      bool
	Created        time.Time
	StartedAt      time.Time
	FinishedAt     time.Time
	ComposeProject string
	ComposeService string
	// CPULimit is the CPU limit in cores (0: none) and MemoryLimit the memory
	// limit in bytes (0: none), from HostConfig. A `docker update` sends an
	// update event, which re-inspects, so they stay current.
	CPULimit    float64
	MemoryLimit int64
	// NetworkMode is HostConfig.NetworkMode ("bridge", "host", ...): a
	// container on the host's network has no network stats of its own.
	NetworkMode string
	// Published maps "80/tcp" to the host ports Docker publishes it on. A
	// container that is not running has its configured bindings, where ""
	// is a host port Docker picks at start (unknown until then).
	Published map[string][]string

	// The rest is for the API, which shows a container as docker inspect
	// does; none of it is a metric.
	Paused, Restarting, Dead bool
	Pid                      int
	Error                    string        // the daemon's error starting the container
	HealthLog                []HealthCheck // the last checks Docker keeps, oldest first; running only
	Exposed                  []string      // "80/tcp", sorted
	Networks                 []Network     // sorted by name
	Mounts                   []Mount
	Env                      []string // "KEY=value", as configured: secrets more often than not
}

// HealthCheck is one run of a container's healthcheck.
type HealthCheck struct {
	Start, End time.Time
	ExitCode   int
	Output     string
}

// Network is a network the container is attached to, with its addresses.
type Network struct {
	Name, IPAddress, IPv6Address, Gateway, MacAddress string
}

// Mount is a volume, bind or tmpfs mount of the container.
type Mount struct {
	Type, Source, Destination string
	ReadOnly                  bool
}

// Running reports whether stats can be read for the container.
func (c *Container) Running() bool {
	return c.State == "running"
}

func fromInspect(in container.InspectResponse) *Container {
	c := &Container{
		ID:           in.ID,
		Name:         strings.TrimPrefix(in.Name, "/"),
		ImageID:      in.Image,
		RestartCount: in.RestartCount,
		Created:      parseTime(in.Created),
	}
	if in.Config != nil {
		c.Image = in.Config.Image
		c.Labels = in.Config.Labels
		c.ComposeProject = in.Config.Labels["com.docker.compose.project"]
		c.ComposeService = in.Config.Labels["com.docker.compose.service"]
		c.Env = in.Config.Env
		for p := range in.Config.ExposedPorts {
			c.Exposed = append(c.Exposed, p.String())
		}
		sort.Strings(c.Exposed)
	}
	if ns := in.NetworkSettings; ns != nil {
		c.Published = publishedPorts(ns.Ports, false)
		c.Networks = networks(ns.Networks)
	}
	for _, m := range in.Mounts {
		c.Mounts = append(c.Mounts, Mount{Type: string(m.Type), Source: m.Source, Destination: m.Destination, ReadOnly: !m.RW})
	}
	if s := in.State; s != nil {
		c.State = string(s.Status)
		c.ExitCode = s.ExitCode
		c.OOMKilled = s.OOMKilled
		c.StartedAt = parseTime(s.StartedAt)
		c.FinishedAt = parseTime(s.FinishedAt)
		c.Paused, c.Restarting, c.Dead = s.Paused, s.Restarting, s.Dead
		c.Pid, c.Error = s.Pid, s.Error
		// Docker marks a container unhealthy when it stops (its health
		// monitor closes "for compatibility"), which says nothing about the
		// service and would page for every stopped container with a
		// healthcheck: health is reported for running containers only.
		if s.Health != nil && s.Health.Status != "" && s.Health.Status != container.NoHealthcheck && c.Running() {
			c.Health = string(s.Health.Status)
			c.FailingStreak = s.Health.FailingStreak
			for _, l := range s.Health.Log {
				if l != nil {
					c.HealthLog = append(c.HealthLog, HealthCheck{Start: l.Start, End: l.End, ExitCode: l.ExitCode, Output: l.Output})
				}
			}
		}
	}
	// Docker empties NetworkSettings.Ports when a container stops; what it
	// will publish is still in HostConfig.PortBindings.
	if hc := in.HostConfig; hc != nil {
		if len(c.Published) == 0 && !c.Running() {
			c.Published = publishedPorts(hc.PortBindings, true)
		}
		c.CPULimit = cpuLimit(hc.NanoCPUs, hc.CPUQuota, hc.CPUPeriod)
		c.MemoryLimit = max(hc.Memory, 0)
		c.NetworkMode = string(hc.NetworkMode)
	}
	return c
}

func networks(eps map[string]*network.EndpointSettings) []Network {
	out := make([]Network, 0, len(eps))
	for name, ep := range eps {
		n := Network{Name: name}
		if ep != nil {
			n.IPAddress = addr(ep.IPAddress)
			n.IPv6Address = addr(ep.GlobalIPv6Address)
			n.Gateway = addr(ep.Gateway)
			if len(ep.MacAddress) > 0 {
				n.MacAddress = ep.MacAddress.String()
			}
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func addr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// StatusText is what docker ps shows in its STATUS column, as of now.
func (c *Container) StatusText(now time.Time) string {
	switch {
	case c.State == "removing":
		return "Removal In Progress"
	case c.Dead || c.State == "dead":
		return "Dead"
	case c.Restarting:
		return fmt.Sprintf("Restarting (%d) %s ago", c.ExitCode, units.HumanDuration(now.Sub(c.FinishedAt)))
	case c.Paused:
		return fmt.Sprintf("Up %s (Paused)", units.HumanDuration(now.Sub(c.StartedAt)))
	case c.Running():
		up := "Up " + units.HumanDuration(now.Sub(c.StartedAt))
		switch c.Health {
		case "":
			return up
		case "starting":
			return up + " (health: starting)"
		default:
			return up + " (" + c.Health + ")"
		}
	case c.StartedAt.IsZero():
		return "Created"
	case c.FinishedAt.IsZero():
		return ""
	}
	return fmt.Sprintf("Exited (%d) %s ago", c.ExitCode, units.HumanDuration(now.Sub(c.FinishedAt)))
}

// RevP is the container as the route table reads it.
func (c *Container) RevP() revp.Container {
	return revp.Container{ID: c.ID, Name: c.Name, Running: c.Running(), Labels: c.Labels, Published: c.Published}
}

// cpuLimit is the container's CPU limit in cores. `--cpus` sets NanoCPUs;
// `--cpu-quota` and `--cpu-period` set a CFS quota instead, with the
// kernel's default period of 100ms when the period is 0. Docker refuses to
// set both. A quota of 0 or -1 is no limit.
func cpuLimit(nanoCPUs, quota, period int64) float64 {
	if nanoCPUs > 0 {
		return float64(nanoCPUs) / 1e9
	}
	if quota <= 0 {
		return 0
	}
	if period <= 0 {
		period = 100_000
	}
	return float64(quota) / float64(period)
}

// FromInspect builds the cached view of a container from its inspect
// result, as the pool does.
func FromInspect(in container.InspectResponse) *Container {
	return fromInspect(in)
}

// publishedPorts turns a port map into Published, keeping only ports with at
// least one binding. For configured bindings (HostConfig.PortBindings), a
// host port that Docker picks when the container starts (empty, "0", or a
// range) is not known yet and is kept as "": the port is published, on an
// unknown host port.
func publishedPorts(ports network.PortMap, configured bool) map[string][]string {
	var out map[string][]string
	for port, bindings := range ports {
		for _, b := range bindings {
			hp := b.HostPort
			if configured && (hp == "0" || strings.Contains(hp, "-")) {
				hp = ""
			}
			if out == nil {
				out = make(map[string][]string, len(ports))
			}
			out[port.String()] = append(out[port.String()], hp)
		}
	}
	return out
}

// parseTime turns Docker's RFC 3339 timestamps into times; Docker writes
// "0001-01-01T00:00:00Z" for "never", which becomes the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}
