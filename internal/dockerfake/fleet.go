package dockerfake

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bounds of a fleet: beyond them a flag is a typo, and the sockets and
// cloned answers (about 10 KB a container) would exhaust the machine.
const (
	MaxFleetHosts      = 1000
	MaxFleetContainers = 100_000 // per host
)

// FleetOptions describe a simulated fleet of Docker 20.10 daemons.
type FleetOptions struct {
	Hosts      int
	Containers int      // per host, cloned from Templates
	Templates  []string // recorded containers to clone; nil: RunningTemplates
	// Timing is every daemon's; its Socket is ignored, each daemon has
	// <dir>/<alias>.sock.
	Timing Options
	// HealthcheckInterval runs the healthcheck of each clone that has one
	// this often (0: a quiet event stream); see RunHealthchecks.
	HealthcheckInterval time.Duration
}

// Fleet is a set of fake daemons, each with its own socket, containers,
// stats ticker and event stream.
type Fleet struct {
	Aliases []string  // fake-00, fake-01, ...: the hosts file's names
	Servers []*Server // in the order of Aliases
}

// StartFleet starts o.Hosts fake daemons with sockets in dir.
func StartFleet(dir string, o FleetOptions) (*Fleet, error) {
	if o.Hosts < 1 || o.Hosts > MaxFleetHosts {
		return nil, fmt.Errorf("fleet: %d hosts, want 1 to %d", o.Hosts, MaxFleetHosts)
	}
	if o.Containers < 0 || o.Containers > MaxFleetContainers {
		return nil, fmt.Errorf("fleet: %d containers a host, want 0 to %d", o.Containers, MaxFleetContainers)
	}
	templates := o.Templates
	if len(templates) == 0 {
		templates = RunningTemplates
	}
	width := len(strconv.Itoa(o.Hosts - 1))
	f := &Fleet{}
	for i := range o.Hosts {
		alias := fmt.Sprintf("fake-%0*d", max(2, width), i)
		timing := o.Timing
		timing.Socket = filepath.Join(dir, alias+".sock")
		s, err := StartWith(dir, timing)
		if err == nil {
			err = s.Populate(uint16(i), o.Containers, templates...)
			f.Aliases, f.Servers = append(f.Aliases, alias), append(f.Servers, s)
		}
		if err != nil {
			return nil, errors.Join(fmt.Errorf("fleet: host %s: %w", alias, err), f.Close())
		}
		s.RunHealthchecks(o.HealthcheckInterval)
	}
	return f, nil
}

// HostsFile is the fleet as a hosts file for docker-monitor's --config.file.
func (f *Fleet) HostsFile() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# %d fake Docker 20.10 daemons (internal/dockerfake).\nhosts:\n", len(f.Servers))
	for i, s := range f.Servers {
		// A double-quoted YAML scalar takes Go's escapes: any path loads.
		fmt.Fprintf(&b, "  %s:\n    socket: %s\n", f.Aliases[i], strconv.Quote(strings.TrimPrefix(s.Host, "unix://")))
	}
	return []byte(b.String())
}

// Close stops every daemon.
func (f *Fleet) Close() error {
	var errs []error
	for _, s := range f.Servers {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// healthcheckStep is how often RunHealthchecks emits what came due: fine
// enough to spread the checks as a daemon's timers do.
const healthcheckStep = 100 * time.Millisecond

// RunHealthchecks runs, until Close, the healthcheck of every clone
// Populate made of a container that has one, each once per interval and
// spread evenly over it, as the daemon's event stream shows a healthcheck:
// exec_create, exec_start and exec_die. No container changes: Docker
// sends health_status only when the result changes, which it does not
// here. A steady fleet's stream carries mostly these.
func (s *Server) RunHealthchecks(interval time.Duration) {
	s.mu.RLock()
	hc := slices.Clone(s.hc)
	s.mu.RUnlock()
	if interval <= 0 || len(hc) == 0 {
		return
	}
	go func() {
		tk := time.NewTicker(healthcheckStep)
		defer tk.Stop()
		start, done := time.Now(), 0
		for {
			select {
			case <-s.stop:
				return
			case now := <-tk.C:
				due := int(float64(len(hc)) * float64(now.Sub(start)) / float64(interval))
				var batch [][]byte
				for ; done < due; done++ {
					batch = append(batch, hc[done%len(hc)].events(now, done)...)
				}
				if len(batch) > 0 {
					s.Emit(batch...)
				}
			}
		}
	}()
}

// events are one run of the healthcheck, the nth of the daemon.
func (c healthChecked) events(at time.Time, n int) [][]byte {
	exec := fmt.Sprintf("%064x", n+1)
	attrs := map[string]string{"execID": exec, "image": c.image, "name": c.name}
	die := map[string]string{"execID": exec, "exitCode": c.exitCode, "image": c.image, "name": c.name}
	return [][]byte{
		Event("container", "exec_create: "+c.cmd, c.id, attrs, at),
		Event("container", "exec_start: "+c.cmd, c.id, attrs, at),
		Event("container", "exec_die", c.id, die, at),
	}
}
