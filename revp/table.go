package revp

import "sort"

// Container is what the route table needs of one container.
type Container struct {
	ID        string
	Name      string
	Running   bool
	Labels    map[string]string
	Published Published
}

// Host is one Docker host's containers: Address is where its published
// ports are reached (the backend of its routes).
type Host struct {
	Name       string
	Address    string
	Containers []Container
}

// TableRoute is one route of one container, resolved against what Docker
// publishes for it.
type TableRoute struct {
	Route
	Host      string
	Container *Container
	Backend   Backend
	// Problems are those found resolving this route; the container's
	// label problems are in Table.Problems.
	Problems []Problem
}

// Up says whether a proxy could reach the route now: its container runs
// and Docker publishes its port over TCP on a known host port.
func (r *TableRoute) Up() bool { return r.Container.Running && r.Backend.HostPort != "" }

// ContainerProblems are every problem of one container's labels: parsing
// them, and resolving each route.
type ContainerProblems struct {
	Host      string
	Container *Container
	Problems  []Problem
}

// Claimant is a running container's route that claims a domain.
type Claimant struct {
	Host      string
	Container string
	Port      int
}

// Conflict is a domain that more than one running route claims; proxies
// resolve it by letting the last one win, which changes with every restart.
type Conflict struct {
	Domain    string
	Claimants []Claimant
}

// Table is every route of a set of hosts, with their problems and the
// domains they claim, built once and read by the metrics and the API.
type Table struct {
	Routes   []*TableRoute       // by host, then container, in label order
	Problems []ContainerProblems // containers with problems, same order
	Claims   map[string][]Claimant
	PerHost  map[string]int // routes on each host, 0 for a host without any
}

// NewTable parses and resolves the routes of every container of hosts,
// with the label prefix and the backend hosts flat labels may name.
func NewTable(hosts []Host, prefix string, allowed []string) *Table {
	t := &Table{Claims: map[string][]Claimant{}, PerHost: make(map[string]int, len(hosts))}
	type claimKey struct {
		host, container string
		port            int
		domain          string
	}
	// A container and port claim a domain once, however many of its
	// routes (a flat and a port-indexed one) name it.
	claimed := map[claimKey]bool{}
	for _, h := range hosts {
		t.PerHost[h.Name] += 0
		for i := range h.Containers {
			c := &h.Containers[i]
			parsed, problems := Parse(c.Labels, prefix)
			for _, r := range parsed {
				b, ps := Resolve(r, c.Published, h.Address, allowed)
				problems = append(problems, ps...)
				t.Routes = append(t.Routes, &TableRoute{Route: r, Host: h.Name, Container: c, Backend: b, Problems: ps})
				t.PerHost[h.Name]++
				// Proxies route running containers only: an exited copy
				// left behind is not a conflict.
				if !c.Running {
					continue
				}
				for _, d := range r.Domains {
					k := claimKey{h.Name, c.Name, r.Port, d.Name}
					if !claimed[k] {
						claimed[k] = true
						t.Claims[d.Name] = append(t.Claims[d.Name], Claimant{Host: h.Name, Container: c.Name, Port: r.Port})
					}
				}
			}
			if len(problems) > 0 {
				t.Problems = append(t.Problems, ContainerProblems{Host: h.Name, Container: c, Problems: problems})
			}
		}
	}
	return t
}

// Domains returns the claimed domains, sorted.
func (t *Table) Domains() []string {
	ds := make([]string, 0, len(t.Claims))
	for d := range t.Claims {
		ds = append(ds, d)
	}
	sort.Strings(ds)
	return ds
}

// Conflicts returns the domains claimed more than once, sorted.
func (t *Table) Conflicts() []Conflict {
	var out []Conflict
	for _, d := range t.Domains() {
		if cs := t.Claims[d]; len(cs) > 1 {
			out = append(out, Conflict{Domain: d, Claimants: cs})
		}
	}
	return out
}
