package api

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/snadboy/docker-monitor/hostpool"
)

// listContainers is GET /containers: the containers of every host whose
// cache is current that pass the filters, sorted by host then name, from
// offset on and at most limit of them (0: all).
func (a *API) listContainers(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r)
	if err != nil {
		fail(w, err)
		return
	}
	views := a.views(f.hosts)
	idx := indexTable(a.table(views))
	type found struct {
		host string
		c    *hostpool.Container
	}
	var matched []found
	for _, v := range views { // sorted by host, and each snapshot by name
		for _, c := range v.snap.Containers {
			if f.match(v.host.Alias, c) && f.matchRevP(len(idx.routes[containerKey{v.host.Alias, c.ID}]) > 0) {
				matched = append(matched, found{v.host.Alias, c})
			}
		}
	}
	page := matched[min(f.offset, len(matched)):]
	if f.limit > 0 && len(page) > f.limit {
		page = page[:f.limit]
	}
	out := ContainerList{Total: len(matched), Offset: f.offset, Limit: f.limit, Containers: make([]Container, 0, len(page))}
	for _, m := range page {
		k := containerKey{m.host, m.c.ID}
		out.Containers = append(out.Containers, a.convert(m.host, m.c, idx.routes[k], idx.problems[k]))
	}
	writeJSON(w, http.StatusOK, out)
}

// getContainer is GET /containers/{host}/{id}.
func (a *API) getContainer(w http.ResponseWriter, r *http.Request) {
	v, c, err := a.lookup(r)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a.container(v.host, c))
}

// lookup finds the container of the request's path in its host's cache:
// 404 for an unknown host or container, 503 when the cache of its host is
// not current, 409 for an ambiguous ID prefix.
func (a *API) lookup(r *http.Request) (*hostView, *hostpool.Container, error) {
	if _, err := query(r); err != nil {
		return nil, nil, err
	}
	name := r.PathValue("host")
	h := a.pool.Host(name)
	if h == nil {
		return nil, nil, errorf(http.StatusNotFound, "no host %s", echo(name))
	}
	v := &hostView{host: h, snap: h.Snapshot()}
	if !v.current() {
		state := hostState(h, v.snap)
		if reason := hostpool.Reason(v.snap.Status.LastErr); state == statusDown && reason != "" {
			state += " (" + reason + ")"
		}
		return nil, nil, errorf(http.StatusServiceUnavailable, "host %s is %s: its containers cannot be confirmed", echo(name), state)
	}
	c, err := findContainer(v.snap.Containers, name, r.PathValue("id"))
	return v, c, err
}

// maxCandidates bounds the IDs an ambiguous prefix's error lists.
const maxCandidates = 10

// findContainer finds ref among cs: a name (exactly), else a full ID or an
// ID prefix that only one container has.
func findContainer(cs []*hostpool.Container, host, ref string) (*hostpool.Container, error) {
	notFound := errorf(http.StatusNotFound, "no container %s on host %s", echo(ref), echo(host))
	if ref == "" {
		return nil, notFound
	}
	for _, c := range cs {
		if c.Name == ref {
			return c, nil
		}
	}
	var cands []*hostpool.Container
	for _, c := range cs {
		if strings.HasPrefix(c.ID, ref) {
			cands = append(cands, c)
		}
	}
	switch len(cands) {
	case 0:
		return nil, notFound
	case 1:
		return cands[0], nil
	}
	ids := make([]string, 0, len(cands))
	for _, c := range cands {
		ids = append(ids, hostpool.ShortID(c.ID))
	}
	sort.Strings(ids)
	more := ""
	if len(ids) > maxCandidates {
		more = ", and " + strconv.Itoa(len(ids)-maxCandidates) + " more"
		ids = ids[:maxCandidates]
	}
	return nil, errorf(http.StatusConflict, "ID prefix %s is ambiguous on host %s: %s%s", echo(ref), echo(host), strings.Join(ids, ", "), more)
}
