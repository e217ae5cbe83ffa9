package hostpool

import (
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
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
	// Published maps "80/tcp" to the host ports Docker publishes it on.
	Published map[string][]string
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
	}
	if ns := in.NetworkSettings; ns != nil && len(ns.Ports) > 0 {
		c.Published = make(map[string][]string, len(ns.Ports))
		for port, bindings := range ns.Ports {
			for _, b := range bindings {
				c.Published[port.String()] = append(c.Published[port.String()], b.HostPort)
			}
		}
	}
	if s := in.State; s != nil {
		c.State = string(s.Status)
		c.ExitCode = s.ExitCode
		c.OOMKilled = s.OOMKilled
		c.StartedAt = parseTime(s.StartedAt)
		c.FinishedAt = parseTime(s.FinishedAt)
		if s.Health != nil && s.Health.Status != "" && s.Health.Status != container.NoHealthcheck {
			c.Health = string(s.Health.Status)
			c.FailingStreak = s.Health.FailingStreak
		}
	}
	return c
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
