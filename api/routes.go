package api

import (
	"net"
	"net/http"
	"strings"

	"github.com/snadboy/docker-monitor/revp"
)

// listRoutes is GET /routes: every RevP route of the hosts whose cache is
// current, from the same table as the revp_* metrics; ?host= (repeatable)
// keeps the routes of those hosts.
func (a *API) listRoutes(w http.ResponseWriter, r *http.Request) {
	q, err := query(r, "host")
	if err != nil {
		fail(w, err)
		return
	}
	var keep map[string]bool
	if hosts, ok := q["host"]; ok {
		keep = make(map[string]bool, len(hosts))
		for _, h := range hosts {
			keep[h] = true
		}
	}
	// A route's problems and backend depend on its own host only, so the
	// table of the selected hosts holds the same routes as the whole one.
	t := a.table(a.views(keep))
	out := RouteList{Routes: make([]Route, 0, len(t.Routes))}
	for _, rt := range t.Routes {
		out.Routes = append(out.Routes, routeOf(rt))
	}
	writeJSON(w, http.StatusOK, out)
}

// listConflicts is GET /routes/conflicts: domains that more than one
// running route claims, over every host whose cache is current.
func (a *API) listConflicts(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r); err != nil {
		fail(w, err)
		return
	}
	cs := a.table(a.views(nil)).Conflicts()
	out := ConflictList{Conflicts: make([]Conflict, 0, len(cs))}
	for _, c := range cs {
		cj := Conflict{Domain: c.Domain, Claimants: make([]Claimant, 0, len(c.Claimants))}
		for _, cl := range c.Claimants {
			cj.Claimants = append(cj.Claimants, Claimant{Host: cl.Host, Container: cl.Container, Port: cl.Port})
		}
		out.Conflicts = append(out.Conflicts, cj)
	}
	writeJSON(w, http.StatusOK, out)
}

// routeOf is a route of the table as the API shows it.
func routeOf(r *revp.TableRoute) Route {
	out := Route{
		Host:             r.Host,
		Container:        r.Container.Name,
		ContainerID:      r.Container.ID,
		Domains:          make([]Domain, 0, len(r.Domains)),
		Port:             r.Port,
		Grammar:          r.Grammar,
		BackendScheme:    r.BackendProto,
		BackendPath:      r.BackendPath,
		BackendAddress:   r.Backend.Address,
		HostPort:         r.Backend.HostPort,
		Backend:          backendURL(r),
		HTTPS:            r.HTTPS,
		Websocket:        r.Websocket,
		CloudflareTunnel: r.CloudflareTunnel,
		HealthPath:       r.Health,
		Up:               r.Up(),
		Running:          r.Container.Running,
		Problems:         problemsOf(r.Problems),
	}
	for _, d := range r.Domains {
		out.Domains = append(out.Domains, Domain{Name: d.Name, Redirect: d.Redirect})
	}
	return out
}

// backendURL is where a proxy would send the route's traffic, or "" while
// no host port is known. The scheme and path come from labels: they are
// shown as written, never dialled.
func backendURL(r *revp.TableRoute) string {
	if r.Backend.HostPort == "" {
		return ""
	}
	path := r.BackendPath
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return r.BackendProto + "://" + net.JoinHostPort(r.Backend.Address, r.Backend.HostPort) + path
}
