package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/revp"
)

// What the REST endpoints share: reading the hosts' caches once per
// request, the route table, and errors that carry their HTTP status.

// hostView is one host and a copy of its cache, read once per request so
// that one answer never mixes two states of a host.
type hostView struct {
	host *hostpool.Host
	snap hostpool.Snapshot
}

// current says whether the cached containers may be served: a full list
// has completed and the event stream keeps it up to date. A host whose
// stream is down may have lost or stopped containers since (a restarted
// daemon); its containers are left out rather than shown stale, as
// /metrics leaves them out of a scrape.
func (v *hostView) current() bool { return v.snap.Synced && v.snap.StreamUp }

// views reads every host of the pool whose cache is current, sorted by
// name; keep, when not nil, selects hosts by name.
func (a *API) views(keep map[string]bool) []*hostView {
	var out []*hostView
	for _, h := range a.pool.Hosts() {
		if keep != nil && !keep[h.Alias] {
			continue
		}
		v := &hostView{host: h, snap: h.Snapshot()}
		if v.current() {
			out = append(out, v)
		}
	}
	return out
}

// table builds the RevP route table of views exactly as the collector
// does, so that the API and the metrics agree on every route.
func (a *API) table(views []*hostView) *revp.Table {
	hosts := make([]revp.Host, 0, len(views))
	for _, v := range views {
		hosts = append(hosts, v.snap.RevPHost(v.host.Alias, v.host.Backend()))
	}
	return revp.NewTable(hosts, a.revpPrefix(), a.opts.AllowedBackendHosts)
}

func (a *API) revpPrefix() string {
	if a.opts.RevPPrefix == "" {
		return revp.DefaultPrefix
	}
	return a.opts.RevPPrefix
}

// routeIndex finds a table's routes and problems by container.
type routeIndex struct {
	routes   map[containerKey][]*revp.TableRoute
	problems map[containerKey][]revp.Problem
}

type containerKey struct{ host, id string }

func indexTable(t *revp.Table) routeIndex {
	idx := routeIndex{routes: map[containerKey][]*revp.TableRoute{}, problems: map[containerKey][]revp.Problem{}}
	for _, r := range t.Routes {
		k := containerKey{r.Host, r.Container.ID}
		idx.routes[k] = append(idx.routes[k], r)
	}
	for _, p := range t.Problems {
		k := containerKey{p.Host, p.Container.ID}
		idx.problems[k] = append(idx.problems[k], p.Problems...)
	}
	return idx
}

// container is c of host h as the API shows it: redacted, with its routes
// and their problems resolved against h's backend address.
func (a *API) container(h *hostpool.Host, c *hostpool.Container) Container {
	t := revp.NewTable([]revp.Host{{Name: h.Alias, Address: h.Backend(), Containers: []revp.Container{c.RevP()}}},
		a.revpPrefix(), a.opts.AllowedBackendHosts)
	var problems []revp.Problem
	for _, p := range t.Problems {
		problems = append(problems, p.Problems...)
	}
	return a.convert(h.Alias, c, t.Routes, problems)
}

// httpError is a failure the client is answered with.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// fail answers err: its own status if it has one, else 500.
func fail(w http.ResponseWriter, err error) {
	var he *httpError
	if errors.As(err, &he) {
		writeError(w, he.status, he.msg)
		return
	}
	writeError(w, http.StatusInternalServerError, err.Error())
}

// maxEcho bounds what of a client's input an error message repeats.
const maxEcho = 64

// echo is s as an error message may quote it: bounded.
func echo(s string) string {
	if len(s) > maxEcho {
		s = s[:maxEcho] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// query parses the request's query strictly: a malformed one, or a
// parameter not in known, is a 400 that names it, so that a misspelt
// filter is not silently ignored.
func query(r *http.Request, known ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "bad query: %v", err)
	}
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !slices.Contains(known, k) {
			if len(known) == 0 {
				return nil, errorf(http.StatusBadRequest, "unknown filter %s; this endpoint takes none", echo(k))
			}
			return nil, errorf(http.StatusBadRequest, "unknown filter %s; known: %s", echo(k), strings.Join(known, ", "))
		}
	}
	return q, nil
}

// timePtr is t in UTC, or nil for the zero time ("never" is null).
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
