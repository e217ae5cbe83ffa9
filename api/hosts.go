package api

import (
	"net/http"

	"github.com/snadboy/docker-monitor/hostpool"
)

// listHosts is GET /hosts: every host of the pool, sorted by name, up or
// not.
func (a *API) listHosts(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r); err != nil {
		fail(w, err)
		return
	}
	hosts := a.pool.Hosts()
	out := HostList{Hosts: make([]Host, 0, len(hosts))}
	for _, h := range hosts {
		out.Hosts = append(out.Hosts, hostOf(h))
	}
	writeJSON(w, http.StatusOK, out)
}

// getHost is GET /hosts/{host}.
func (a *API) getHost(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r); err != nil {
		fail(w, err)
		return
	}
	h := a.pool.Host(r.PathValue("host"))
	if h == nil {
		writeError(w, http.StatusNotFound, "no host "+echo(r.PathValue("host")))
		return
	}
	writeJSON(w, http.StatusOK, hostOf(h))
}

// Host statuses.
const (
	statusUp         = "up"
	statusDown       = "down"
	statusConnecting = "connecting"
)

// hostOf is what the host's goroutines last saw of it: nothing here calls
// the daemon, so a host that hangs cannot hold up the answer.
func hostOf(h *hostpool.Host) Host {
	s := h.Snapshot()
	out := Host{
		Name:          h.Alias,
		Status:        hostState(h, s),
		Connection:    h.Connection,
		Endpoint:      h.Endpoint, // config.Host keeps no credential in it
		Description:   h.Description,
		Labels:        h.Labels,
		EngineVersion: s.Info.Version,
		APIVersion:    s.Info.APIVersion,
		OS:            s.Info.OS,
		KernelVersion: s.Info.KernelVersion,
		Architecture:  s.Info.Architecture,
		CPUs:          s.Info.CPUs,
		MemoryBytes:   s.Info.MemoryBytes,
		Images:        s.Info.Images,
		EventStreamUp: s.StreamUp,
		Synced:        s.Synced,
		LastEvent:     timePtr(s.Status.LastEvent),
		LastSync:      timePtr(s.Status.LastSync),
	}
	if out.Status == statusDown {
		out.Reason = hostpool.Reason(s.Status.LastErr)
	}
	if err := s.Status.LastErr; err != nil {
		out.LastError = &Error{Error: err.Error(), Reason: hostpool.Reason(err), At: timePtr(s.Status.LastErrAt)}
	}
	if !s.Status.PingAt.IsZero() {
		secs := s.Status.Ping.Seconds()
		out.PingSeconds, out.PingAt = &secs, timePtr(s.Status.PingAt)
	}
	// Counts only from a cache that is current, so that they agree with
	// what GET /containers?host= lists (nothing, for a host that is down).
	if v := (hostView{host: h, snap: s}); v.current() {
		out.Containers = make(map[string]int, len(hostpool.States))
		for _, st := range hostpool.States {
			out.Containers[st] = 0
		}
		for _, c := range s.Containers {
			out.Containers[c.State]++
		}
		out.ContainersTotal = len(s.Containers)
	}
	return out
}

// hostState is up while the event stream keeps the cache current,
// connecting until the first attempt to sync has ended, else down.
func hostState(h *hostpool.Host, s hostpool.Snapshot) string {
	if s.StreamUp {
		return statusUp
	}
	select {
	case <-h.Synced():
		return statusDown
	default:
		return statusConnecting
	}
}
