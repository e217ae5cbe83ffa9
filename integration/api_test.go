package integration

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/api"
	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// The REST endpoints against real containers on two daemons, hosts apia
// (the shared daemon) and apib (a private one).

const (
	apiA       = "apia"
	apiB       = "apib"
	otherImage = "apitest/other:v1"
	// Values that must never appear in an answer: an environment value and
	// a secret-looking label's.
	envSecret   = "hunter2-env-value"
	labelSecret = "hunter2-label-value"
)

// apiFixture is one container the test made, and what the filters should
// see of it.
type apiFixture struct {
	host, name, state, health string
	labels                    map[string]string
	image                     string
	revp                      bool
}

func (f apiFixture) key() string { return f.host + "/" + f.name }

// apiLab is the two daemons with their containers, and the API over them.
type apiLab struct {
	a, b     *testlab.Daemon
	srv      *apiServer
	fixtures []apiFixture
	ids      map[string]string // key() → ID
}

func revpLabel(port, prop, value string) []string {
	return []string{"--label", "snadboy.revp." + port + "." + prop + "=" + value}
}

func startAPILab(t *testing.T) *apiLab {
	t.Helper()
	l := &apiLab{a: testlab.Shared(t), b: testlab.Start(t, "api-b"), ids: map[string]string{}}
	l.fixturesA(t)
	l.fixturesB(t)
	l.srv = startAPI(t, apiSetup{
		hosts:    []config.Host{testlab.Host(t, apiA, l.a.Host), testlab.Host(t, apiB, l.b.Host)},
		hostOpts: hostpool.DefaultOptions, apiOpts: api.DefaultOptions,
	})
	// Healthchecks take their time.
	waitUntil(t, 90*time.Second, "the fixtures' health and states in the API", func() bool {
		var list api.ContainerList
		getJSON(t, l.srv.url("/containers", query("name", "apif-")), &list)
		return slices.Equal(keys(list), l.want(func(apiFixture) bool { return true })) &&
			len(l.list(t, query("health", "healthy", "name", "apif-"))) == 1 &&
			len(l.list(t, query("health", "unhealthy", "name", "apif-"))) == 1
	})
	return l
}

// run makes fixture f on d, known as host in the API.
func (l *apiLab) run(t *testing.T, d *testlab.Daemon, host string, f apiFixture, args []string, cmd ...string) {
	t.Helper()
	f.host = host
	if f.image == "" {
		f.image = d.Image(t)
	}
	for k, v := range f.labels {
		args = append(args, "--label", k+"="+v)
	}
	switch f.state {
	case "created":
		l.ids[f.key()] = d.Create(t, f.name, args, cmd...)
	case "exited":
		l.ids[f.key()] = d.Run(t, f.name, args, cmd...)
		d.Docker(t, "wait", f.name)
	case "paused":
		l.ids[f.key()] = d.Run(t, f.name, args, cmd...)
		d.Docker(t, "pause", f.name)
	default:
		l.ids[f.key()] = d.Run(t, f.name, args, cmd...)
	}
	l.fixtures = append(l.fixtures, f)
}

var published = []string{"-p", "127.0.0.1::80"}

func (l *apiLab) fixturesA(t *testing.T) {
	// Before the container's own clean-up, so that it runs after it.
	t.Cleanup(func() { _, _ = l.a.TryDocker("volume", "rm", "-f", "apif-vol") })
	web := append(append(slices.Clone(published), revpLabel("80", "domain", "apif-web.test")...),
		"-e", "API_TOKEN="+envSecret, "-e", "PLAIN=visible", "-v", "apif-vol:/data")
	l.run(t, l.a, apiA, apiFixture{name: "apif-web", state: "running", revp: true, labels: map[string]string{
		"apif.team": "red", "apif.tier": "web", "apif.password": labelSecret,
		"com.docker.compose.project": "apif-shop", "com.docker.compose.service": "web"}}, web, "serve", "80")
	health := func(h string) []string {
		return []string{"--health-cmd", "/fixture healthcheck", "--health-interval", "1s", "--health-retries", "1", "-e", "HEALTH=" + h}
	}
	l.run(t, l.a, apiA, apiFixture{name: "apif-healthy", state: "running", health: "healthy",
		labels: map[string]string{"apif.team": "blue"}}, health("ok"))
	l.run(t, l.a, apiA, apiFixture{name: "apif-sick", state: "running", health: "unhealthy"}, health("fail"))
	l.run(t, l.a, apiA, apiFixture{name: "apif-exited", state: "exited"}, nil, "exit", "3")
	l.run(t, l.a, apiA, apiFixture{name: "apif-created", state: "created"}, nil)
	l.run(t, l.a, apiA, apiFixture{name: "apif-paused", state: "paused"}, nil)
	l.run(t, l.a, apiA, apiFixture{name: "apif-cpu", state: "running"}, []string{"--cpus", "0.25"}, "cpu")
	l.run(t, l.a, apiA, apiFixture{name: "apif-conflict-a", state: "running", revp: true},
		append(slices.Clone(published), revpLabel("80", "domain", "apif-conflict.test")...), "serve", "80")

	l.a.Docker(t, "tag", l.a.Image(t), otherImage)
	t.Cleanup(func() { _, _ = l.a.TryDocker("rmi", otherImage) })
	id := l.a.Docker(t, "run", "-d", "--name", "apif-other-image", "--network", l.a.Network(t), otherImage)
	t.Cleanup(func() { _, _ = l.a.TryDocker("rm", "-f", id) })
	l.ids[apiA+"/apif-other-image"] = id
	l.fixtures = append(l.fixtures, apiFixture{host: apiA, name: "apif-other-image", state: "running", image: otherImage})
}

func (l *apiLab) fixturesB(t *testing.T) {
	l.run(t, l.b, apiB, apiFixture{name: "apif-b-web", state: "running", labels: map[string]string{
		"apif.team": "red", "com.docker.compose.project": "apif-shop"}}, nil)
	l.run(t, l.b, apiB, apiFixture{name: "apif-conflict-b", state: "running", revp: true},
		append(slices.Clone(published), revpLabel("80", "domain", "apif-conflict.test")...), "serve", "80")
	l.run(t, l.b, apiB, apiFixture{name: "apif-b-exited", state: "exited"}, nil, "exit", "0")
}

// keys are "host/name" of each listed container, in the answer's order.
func keys(list api.ContainerList) []string {
	var out []string
	for _, c := range list.Containers {
		out = append(out, c.Host+"/"+c.Name)
	}
	return out
}

// want is the sorted keys of the fixtures that keep selects.
func (l *apiLab) want(keep func(apiFixture) bool) []string {
	var out []string
	for _, f := range l.fixtures {
		if keep(f) {
			out = append(out, f.key())
		}
	}
	sort.Strings(out) // host, then name: "apia/..." < "apib/..."
	return out
}

// list GETs /containers with q and checks the page's bookkeeping.
func (l *apiLab) list(t *testing.T, q url.Values) []string {
	t.Helper()
	var list api.ContainerList
	getJSON(t, l.srv.url("/containers", q), &list)
	if q.Get("limit") == "" && q.Get("offset") == "" && list.Total != len(list.Containers) {
		t.Errorf("/containers?%s: total %d for %d containers", q.Encode(), list.Total, len(list.Containers))
	}
	return keys(list)
}

func TestAPIREST(t *testing.T) {
	l := startAPILab(t)
	t.Run("hosts", l.testHosts)
	t.Run("filters", l.testFilters)
	t.Run("container", l.testContainer)
	t.Run("ambiguous", l.testAmbiguous)
	t.Run("stats", l.testStats)
	t.Run("routes", l.testRoutes)
}

func (l *apiLab) testFilters(t *testing.T) {
	all := func(apiFixture) bool { return true }
	has := func(k string) func(apiFixture) bool {
		return func(f apiFixture) bool { _, ok := f.labels[k]; return ok }
	}
	for _, c := range []struct {
		q    url.Values
		keep func(apiFixture) bool
	}{
		{query("name", "apif-"), all},
		{query("name", "apif-", "host", apiA), func(f apiFixture) bool { return f.host == apiA }},
		{query("name", "apif-", "host", apiB), func(f apiFixture) bool { return f.host == apiB }},
		{query("name", "apif-", "host", apiA, "host", apiB), all},
		{query("name", "apif-", "host", "no-such-host"), func(apiFixture) bool { return false }},
		{query("name", "apif-", "state", "running"), func(f apiFixture) bool { return f.state == "running" }},
		{query("name", "apif-", "state", "exited"), func(f apiFixture) bool { return f.state == "exited" }},
		{query("name", "apif-", "state", "created", "state", "paused"), func(f apiFixture) bool { return f.state == "created" || f.state == "paused" }},
		{query("name", "apif-", "health", "healthy"), func(f apiFixture) bool { return f.health == "healthy" }},
		{query("name", "apif-", "health", "unhealthy"), func(f apiFixture) bool { return f.health == "unhealthy" }},
		{query("name", "apif-b-"), func(f apiFixture) bool { return strings.HasPrefix(f.name, "apif-b-") }},
		{query("name", "~^apif-(web|healthy)$"), func(f apiFixture) bool { return f.name == "apif-web" || f.name == "apif-healthy" }},
		{query("name", "apif-", "image", otherImage), func(f apiFixture) bool { return f.image == otherImage }},
		{query("name", "apif-", "label", "apif.team"), has("apif.team")},
		{query("name", "apif-", "label", "apif.team=red"), func(f apiFixture) bool { return f.labels["apif.team"] == "red" }},
		{query("name", "apif-", "label", "apif.team=red", "label", "apif.tier=web"), func(f apiFixture) bool { return f.name == "apif-web" }},
		{query("name", "apif-", "label", "apif.team", "label", "apif.tier"), func(f apiFixture) bool { return f.name == "apif-web" }},
		{query("name", "apif-", "revp", "true"), func(f apiFixture) bool { return f.revp }},
		{query("name", "apif-", "revp", "false"), func(f apiFixture) bool { return !f.revp }},
		{query("name", "apif-", "compose_project", "apif-shop"), func(f apiFixture) bool { return f.labels["com.docker.compose.project"] == "apif-shop" }},
		{query("name", "apif-", "host", apiA, "state", "running", "label", "apif.team"), func(f apiFixture) bool {
			return f.host == apiA && f.state == "running" && has("apif.team")(f)
		}},
	} {
		want := l.want(c.keep)
		if got := l.list(t, c.q); !slices.Equal(got, want) {
			t.Errorf("/containers?%s:\n got %v\nwant %v", c.q.Encode(), got, want)
		}
	}
	// Containers without a healthcheck are health=none.
	if got := l.list(t, query("name", "apif-web", "health", "none")); !slices.Contains(got, apiA+"/apif-web") {
		t.Errorf("health=none does not list apif-web: %v", got)
	}

	l.testPaging(t)
	l.testFilterErrors(t)
}

// testPaging: limit and offset cut the sorted list; total counts it all.
func (l *apiLab) testPaging(t *testing.T) {
	full := l.want(func(apiFixture) bool { return true })
	var page api.ContainerList
	getJSON(t, l.srv.url("/containers", query("name", "apif-", "limit", "3", "offset", "2")), &page)
	if got := keys(page); page.Total != len(full) || page.Limit != 3 || page.Offset != 2 || !slices.Equal(got, full[2:5]) {
		t.Errorf("limit=3&offset=2: total %d limit %d offset %d %v, want total %d %v", page.Total, page.Limit, page.Offset, got, len(full), full[2:5])
	}
	getJSON(t, l.srv.url("/containers", query("name", "apif-", "offset", "1000")), &page)
	if page.Total != len(full) || len(page.Containers) != 0 {
		t.Errorf("offset=1000: total %d, %d containers; want total %d, none", page.Total, len(page.Containers), len(full))
	}

}

// testFilterErrors: an unknown filter or a bad value is a 400 naming it.
func (l *apiLab) testFilterErrors(t *testing.T) {
	for _, c := range []struct {
		q       url.Values
		mention string
	}{
		{query("bogus", "1"), "bogus"},
		{query("state", "sleeping"), "state"},
		{query("health", "fine"), "health"},
		{query("name", "~(unclosed"), "name"},
		{query("limit", "-1"), "limit"},
		{query("offset", "x"), "offset"},
		{query("revp", "maybe"), "revp"},
	} {
		expectError(t, l.srv.url("/containers", c.q), 400, c.mention)
	}
}

func (l *apiLab) testHosts(t *testing.T) {
	var list api.HostList
	getJSON(t, l.srv.url("/hosts", nil), &list)
	if len(list.Hosts) != 2 || list.Hosts[0].Name != apiA || list.Hosts[1].Name != apiB {
		t.Fatalf("/hosts lists %d hosts, want %s and %s in order: %+v", len(list.Hosts), apiA, apiB, list.Hosts)
	}
	for _, d := range []struct {
		name string
		d    *testlab.Daemon
	}{{apiA, l.a}, {apiB, l.b}} {
		// The cache follows the daemon's events: poll until the counts
		// agree with docker ps.
		var h api.Host
		waitUntil(t, 30*time.Second, d.name+"'s containers by state to match docker ps", func() bool {
			want := map[string]int{}
			for _, s := range hostpool.States {
				want[s] = 0
			}
			for _, s := range strings.Fields(d.d.Docker(t, "ps", "-a", "--format", "{{.State}}")) {
				want[s]++
			}
			getJSON(t, l.srv.url("/hosts/"+d.name, nil), &h)
			if fmt.Sprint(h.Containers) != fmt.Sprint(want) {
				t.Logf("%s: API %v, docker ps %v", d.name, h.Containers, want)
				return false
			}
			return true
		})
		version := d.d.Docker(t, "version", "--format", "{{.Server.Version}}")
		total := 0
		for _, n := range h.Containers {
			total += n
		}
		switch {
		case h.Status != "up" || h.Reason != "":
			t.Errorf("%s: status %q reason %q, want up", d.name, h.Status, h.Reason)
		case h.Connection != "local" || h.Endpoint != d.d.Host:
			t.Errorf("%s: connection %q endpoint %q, want local %s", d.name, h.Connection, h.Endpoint, d.d.Host)
		case h.EngineVersion != version || h.APIVersion == "" || h.OS == "" || h.KernelVersion == "" || h.Architecture == "":
			t.Errorf("%s: engine %q (docker version: %q), API %q, OS %q, kernel %q, arch %q", d.name,
				h.EngineVersion, version, h.APIVersion, h.OS, h.KernelVersion, h.Architecture)
		case h.CPUs < 1 || h.MemoryBytes <= 0 || h.Images < 1:
			t.Errorf("%s: %d CPUs, %d bytes of memory, %d images", d.name, h.CPUs, h.MemoryBytes, h.Images)
		case h.ContainersTotal != total || !h.EventStreamUp || !h.Synced || h.LastSync == nil:
			t.Errorf("%s: total %d of %v, stream up %v, synced %v, last sync %v", d.name, h.ContainersTotal, h.Containers, h.EventStreamUp, h.Synced, h.LastSync)
		}
	}
	expectError(t, l.srv.url("/hosts/no-such-host", nil), 404, "no-such-host")
	expectError(t, l.srv.url("/hosts", query("bogus", "1")), 400, "bogus")
	expectError(t, l.srv.url("/no-such-endpoint", nil), 404)
}

func (l *apiLab) testContainer(t *testing.T) {
	var c api.Container
	getJSON(t, l.srv.url("/containers/"+apiA+"/apif-web", nil), &c)
	id := l.ids[apiA+"/apif-web"]
	hostPort := strings.Split(l.a.Docker(t, "port", "apif-web", "80/tcp"), ":")[1]
	switch {
	case c.ID != id || c.Name != "apif-web" || c.Host != apiA || c.Image != l.a.Image(t) || !strings.HasPrefix(c.ImageID, "sha256:"):
		t.Errorf("apif-web: id %s name %s host %s image %s (%s)", c.ID, c.Name, c.Host, c.Image, c.ImageID)
	case c.State.Status != "running" || !c.State.Running || c.State.Pid <= 0 || c.State.StartedAt == nil || c.Created == nil:
		t.Errorf("apif-web: state %+v, created %v", c.State, c.Created)
	case !strings.HasPrefix(c.Status, "Up ") || c.Health != nil:
		t.Errorf("apif-web: status %q, health %+v", c.Status, c.Health)
	case c.ComposeProject != "apif-shop" || c.ComposeService != "web" || c.Labels["apif.team"] != "red":
		t.Errorf("apif-web: compose %q/%q, labels %v", c.ComposeProject, c.ComposeService, c.Labels)
	}
	if !slices.ContainsFunc(c.Ports, func(p api.Port) bool {
		return p.ContainerPort == 80 && p.Protocol == "tcp" && p.Published && p.HostPort == hostPort
	}) {
		t.Errorf("apif-web: ports %+v, want 80/tcp published on %s", c.Ports, hostPort)
	}
	if len(c.Networks) != 1 || c.Networks[0].Name != l.a.Network(t) || c.Networks[0].IPAddress == "" {
		t.Errorf("apif-web: networks %+v", c.Networks)
	}
	if !slices.ContainsFunc(c.Mounts, func(m api.Mount) bool { return m.Type == "volume" && m.Destination == "/data" && !m.ReadOnly }) {
		t.Errorf("apif-web: mounts %+v, want the volume on /data", c.Mounts)
	}
	if len(c.Routes) != 1 || len(c.Routes[0].Domains) != 1 || c.Routes[0].Domains[0].Name != "apif-web.test" || c.Routes[0].HostPort != hostPort {
		t.Errorf("apif-web: routes %+v", c.Routes)
	}
	l.checkSecrets(t, c)

	var byID api.Container
	getJSON(t, l.srv.url("/containers/"+apiA+"/"+id[:12], nil), &byID)
	if byID.ID != id {
		t.Errorf("by ID prefix: %s, want %s", byID.ID, id)
	}
	getJSON(t, l.srv.url("/containers/"+apiA+"/apif-healthy", nil), &c)
	if c.Health == nil || c.Health.Status != "healthy" || len(c.Health.Log) == 0 || c.Health.Log[len(c.Health.Log)-1].ExitCode != 0 {
		t.Errorf("apif-healthy: health %+v", c.Health)
	}
	getJSON(t, l.srv.url("/containers/"+apiA+"/apif-sick", nil), &c)
	if c.Health == nil || c.Health.Status != "unhealthy" || c.Health.FailingStreak < 1 {
		t.Errorf("apif-sick: health %+v", c.Health)
	}
	getJSON(t, l.srv.url("/containers/"+apiA+"/apif-exited", nil), &c)
	if c.State.Status != "exited" || c.State.Running || c.State.ExitCode != 3 || c.State.FinishedAt == nil || !strings.HasPrefix(c.Status, "Exited (3)") {
		t.Errorf("apif-exited: state %+v, status %q", c.State, c.Status)
	}
	expectError(t, l.srv.url("/containers/"+apiA+"/no-such-container", nil), 404, "no-such-container")
	expectError(t, l.srv.url("/containers/"+apiA+"/apif-b-web", nil), 404)
	expectError(t, l.srv.url("/containers/no-such-host/apif-web", nil), 404, "no-such-host")
}

// checkSecrets: environment values and secret-looking labels show as
// "<redacted>", and appear in no answer.
func (l *apiLab) checkSecrets(t *testing.T, c api.Container) {
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["API_TOKEN"] != "<redacted>" || env["PLAIN"] != "<redacted>" || c.Labels["apif.password"] != "<redacted>" {
		t.Errorf("apif-web: env %v, label apif.password %q: want values <redacted>", env, c.Labels["apif.password"])
	}
	for _, u := range []string{l.srv.url("/containers/"+apiA+"/apif-web", nil), l.srv.url("/containers", query("name", "apif-")), l.srv.url("/routes", nil)} {
		if _, body := fetch(t, "GET", u, "", ""); strings.Contains(string(body), envSecret) || strings.Contains(string(body), labelSecret) {
			t.Errorf("GET %s shows a secret", u)
		}
	}

}

// testAmbiguous: with enough containers on a host, two IDs share their
// first hex digit, and that digit as a prefix names neither.
func (l *apiLab) testAmbiguous(t *testing.T) {
	var prefix string
	for i := 0; prefix == ""; i++ {
		byDigit := map[byte]int{}
		for _, id := range strings.Fields(l.a.Docker(t, "ps", "-aq", "--no-trunc")) {
			byDigit[id[0]]++
			if byDigit[id[0]] == 2 {
				prefix = id[:1]
			}
		}
		if prefix == "" { // 17 containers always have two that share one
			l.a.Create(t, fmt.Sprintf("apif-pad-%d", i), nil)
		}
	}
	waitUntil(t, 30*time.Second, "the cache to have every container", func() bool {
		var h api.Host
		getJSON(t, l.srv.url("/hosts/"+apiA, nil), &h)
		return h.ContainersTotal == len(strings.Fields(l.a.Docker(t, "ps", "-aq")))
	})
	expectError(t, l.srv.url("/containers/"+apiA+"/"+prefix, nil), 409, "ambiguous")
	expectError(t, l.srv.url("/containers/"+apiA+"/"+prefix+"/stats", nil), 409, "ambiguous")
}

func (l *apiLab) testStats(t *testing.T) {
	for _, name := range []string{"apif-web", "apif-cpu"} {
		var s api.ContainerStats
		getJSON(t, l.srv.url("/containers/"+apiA+"/"+name+"/stats", nil), &s)
		switch {
		case s.Host != apiA || s.Name != name || s.ID != l.ids[apiA+"/"+name] || s.Read.IsZero():
			t.Errorf("%s stats: host %s name %s id %s read %v", name, s.Host, s.Name, s.ID, s.Read)
		case s.CPUPercent == nil || *s.CPUPercent < 0 || s.CPUWindowSeconds == nil || *s.CPUWindowSeconds <= 0:
			t.Errorf("%s stats: cpu_percent %v over %v s, want a figure >= 0", name, s.CPUPercent, s.CPUWindowSeconds)
		case s.MemoryUsage == 0 || s.MemoryWorkingSet == 0 || s.PIDs < 1 || s.OnlineCPUs < 1:
			t.Errorf("%s stats: memory %d (working set %d), %d pids, %d CPUs", name, s.MemoryUsage, s.MemoryWorkingSet, s.PIDs, s.OnlineCPUs)
		}
		// apif-cpu burns CPU up to its limit, a quarter of one: whatever
		// share a loaded machine leaves it, the figure is above zero.
		if name == "apif-cpu" && s.CPUPercent != nil && (*s.CPUPercent <= 0 || *s.CPUPercent > 100*float64(s.OnlineCPUs)) {
			t.Errorf("apif-cpu: cpu_percent %v, want above 0 (at most 25)", *s.CPUPercent)
		}
		t.Logf("%s: cpu %.1f%% over %.2fs, working set %d bytes, %d pids", name, deref(s.CPUPercent), deref(s.CPUWindowSeconds), s.MemoryWorkingSet, s.PIDs)
	}
	for _, name := range []string{"apif-exited", "apif-created"} {
		expectError(t, l.srv.url("/containers/"+apiA+"/"+name+"/stats", nil), 409, name)
	}
	expectError(t, l.srv.url("/containers/"+apiA+"/no-such-container/stats", nil), 404)
}

func deref(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

func (l *apiLab) testRoutes(t *testing.T) {
	var routes api.RouteList
	getJSON(t, l.srv.url("/routes", nil), &routes)
	hostPort := strings.Split(l.a.Docker(t, "port", "apif-web", "80/tcp"), ":")[1]
	var web *api.Route
	for i, r := range routes.Routes {
		if r.Host == apiA && r.Container == "apif-web" {
			web = &routes.Routes[i]
		}
	}
	switch {
	case web == nil:
		t.Fatalf("no route of apif-web in %+v", routes.Routes)
	case web.ContainerID != l.ids[apiA+"/apif-web"] || web.Port != 80 || len(web.Domains) != 1 || web.Domains[0].Name != "apif-web.test":
		t.Errorf("apif-web route: %+v", *web)
	case web.HostPort != hostPort || !strings.Contains(web.Backend, ":"+hostPort) || !web.Up || !web.Running || len(web.Problems) != 0:
		t.Errorf("apif-web route: host port %q backend %q up %v running %v problems %v; docker port %s",
			web.HostPort, web.Backend, web.Up, web.Running, web.Problems, hostPort)
	}

	var conflicts api.ConflictList
	getJSON(t, l.srv.url("/routes/conflicts", nil), &conflicts)
	var found bool
	for _, c := range conflicts.Conflicts {
		switch c.Domain {
		case "apif-conflict.test":
			found = true
			sort.Slice(c.Claimants, func(i, j int) bool { return c.Claimants[i].Host < c.Claimants[j].Host })
			got := fmt.Sprint(c.Claimants)
			want := fmt.Sprint([]api.Claimant{{Host: apiA, Container: "apif-conflict-a", Port: 80}, {Host: apiB, Container: "apif-conflict-b", Port: 80}})
			if got != want {
				t.Errorf("apif-conflict.test claimants %s, want %s", got, want)
			}
		case "apif-web.test":
			t.Errorf("apif-web.test, claimed once, is a conflict: %+v", c)
		}
	}
	if !found {
		t.Errorf("no conflict for apif-conflict.test across %s and %s: %+v", apiA, apiB, conflicts.Conflicts)
	}
}
