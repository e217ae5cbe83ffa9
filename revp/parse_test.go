package revp

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// realLabels is testdata/real-labels.yaml: label sets from public compose
// files and READMEs.
type realLabels struct {
	Containers []struct {
		Name   string            `yaml:"name"`
		Source string            `yaml:"source"`
		Ports  []string          `yaml:"ports"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"containers"`
}

// publishedFromCompose turns compose "host:container" entries into what
// inspect reports.
func publishedFromCompose(ports []string) Published {
	p := Published{}
	for _, e := range ports {
		host, ctr, _ := strings.Cut(e, ":")
		p[ctr+"/tcp"] = append(p[ctr+"/tcp"], host)
	}
	return p
}

type resolvedRoute struct {
	Route
	Backend Backend
}

type parsed struct {
	Routes   []resolvedRoute
	Problems []string
}

func parseAndResolve(labels map[string]string, published Published, allowed ...string) parsed {
	routes, problems := Parse(labels, DefaultPrefix)
	var out parsed
	for _, r := range routes {
		b, ps := Resolve(r, published, "192.0.2.10", allowed)
		problems = append(problems, ps...)
		out.Routes = append(out.Routes, resolvedRoute{r, b})
	}
	for _, p := range problems {
		out.Problems = append(out.Problems, p.String())
	}
	return out
}

// TestRealLabels parses every real label set; the expected routes are in
// testdata/real-labels.golden.json, and the ones that matter most are also
// asserted below so that a careless -update cannot hide a regression.
func TestRealLabels(t *testing.T) {
	b, err := os.ReadFile("testdata/real-labels.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rl realLabels
	if err := yaml.Unmarshal(b, &rl); err != nil {
		t.Fatal(err)
	}
	got := map[string]parsed{}
	for _, c := range rl.Containers {
		got[c.Name] = parseAndResolve(c.Labels, publishedFromCompose(c.Ports))
	}
	out, _ := json.MarshalIndent(got, "", "  ")
	if *update {
		if err := os.WriteFile("testdata/real-labels.golden.json", append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/real-labels.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(out)+"\n" {
		t.Errorf("parsed routes differ from testdata/real-labels.golden.json (run with -update and review the diff):\n%s", out)
	}

	check := func(name string, f func(p parsed) error) {
		if err := f(got[name]); err != nil {
			t.Errorf("%s: %v\n%+v", name, err, got[name])
		}
	}
	check("multi-port-app", func(p parsed) error {
		if len(p.Routes) != 2 || p.Routes[1].Port != 8080 || !p.Routes[1].Websocket || p.Routes[1].Backend.HostPort != "8004" {
			return fmt.Errorf("want ports 80 and 8080, 8080 with websocket on host port 8004")
		}
		return nil
	})
	check("multi-domain", func(p parsed) error {
		if len(p.Routes) != 1 || len(p.Routes[0].Domains) != 2 || p.Routes[0].Domains[1].Name != "app2.example.com" {
			return fmt.Errorf("want one route with two domains")
		}
		return nil
	})
	check("sb-traefik-http-provider", func(p parsed) error {
		if len(p.Routes) != 3 || len(p.Problems) != 2 || !strings.HasPrefix(p.Problems[0], PortNotPublished) {
			return fmt.Errorf("want 3 routes, 9090 and 5679 not published")
		}
		return nil
	})
	check("webapp-v1", func(p parsed) error {
		if len(p.Routes) != 1 || p.Routes[0].Grammar != Flat || p.Routes[0].Port != 80 || p.Routes[0].Backend.HostPort != "8080" {
			return fmt.Errorf("want one flat route on container port 80, host port 8080")
		}
		return nil
	})
	check("spec-example", func(p parsed) error {
		r := p.Routes
		if len(r) != 1 || !r[0].StripPrefix || r[0].Health != "/ready" || r[0].HealthCheckInterval != "30s" || r[0].Backend.HostPort != "8090" {
			return fmt.Errorf("want strip-prefix, health-check path and interval, host port 8090")
		}
		return nil
	})
	check("http-only", func(p parsed) error {
		if len(p.Routes) != 1 || p.Routes[0].HTTPS || len(p.Problems) != 0 {
			return fmt.Errorf("want one route with https false and no problems")
		}
		return nil
	})
}

func TestParseRules(t *testing.T) {
	const pre = "snadboy.revp."
	for _, tc := range []struct {
		name      string
		labels    map[string]string
		published Published
		allowed   []string // backend hosts the operator allows
		routes    int
		problems  []string // exact Problem.String() values
		check     func(t *testing.T, r []resolvedRoute)
	}{
		{name: "defaults", labels: map[string]string{pre + "80.domain": "a.example.com"}, published: Published{"80/tcp": {"8000"}}, routes: 1,
			check: func(t *testing.T, r []resolvedRoute) {
				// The defaults the issue names, written out: not defaultRoute(),
				// which would pass whatever it returns.
				want := Route{
					Grammar: "port", Port: 80, Domains: []Domain{{Name: "a.example.com", Redirect: true}},
					BackendProto: "http", BackendPath: "/", ForceSSL: true, Websocket: false,
					CloudflareTunnel: false, TunnelDomain: "", HTTPS: true, RedirectHTTPS: true,
					CertResolver: "letsencrypt", InsecureSkipVerify: false, PassHostHeader: true,
					Health: "", Info: "", Notify: true, NotifyPriority: 5,
				}
				if !reflect.DeepEqual(r[0].Route, want) {
					t.Errorf("got %+v\nwant %+v", r[0].Route, want)
				}
				if r[0].Backend != (Backend{Address: "192.0.2.10", HostPort: "8000", Probe: true}) {
					t.Errorf("backend %+v", r[0].Backend)
				}
			}},
		{name: "domain list trimmed, empties skipped, redirect modes", labels: map[string]string{
			pre + "80.domain": " a.example.com:noredirect, ,B.Example.com:redirect,*.wild.example.com,"}, published: Published{"80/tcp": {"1"}}, routes: 1,
			check: func(t *testing.T, r []resolvedRoute) {
				want := []Domain{{"a.example.com", false}, {"b.example.com", true}, {"*.wild.example.com", true}}
				if !reflect.DeepEqual(r[0].Domains, want) {
					t.Errorf("domains %+v", r[0].Domains)
				}
			}},
		{name: "repeated domain counts once, case-insensitively", labels: map[string]string{
			pre + "80.domain": "a.example.com,A.example.com, b.example.com,a.EXAMPLE.com:noredirect"}, published: Published{"80/tcp": {"1"}}, routes: 1,
			check: func(t *testing.T, r []resolvedRoute) {
				want := []Domain{{"a.example.com", true}, {"b.example.com", true}}
				if !reflect.DeepEqual(r[0].Domains, want) {
					t.Errorf("domains %+v", r[0].Domains)
				}
			}},
		{name: "repeated domain, the first redirect mode wins", labels: map[string]string{
			pre + "80.domain": "a.example.com:noredirect,a.example.com:redirect", pre + "domain": "b.example.com:redirect,B.example.com:noredirect"},
			published: Published{"80/tcp": {"1"}}, routes: 2,
			problems: []string{`mixed_grammars: both port-indexed and flat RevP labels; both are routed`},
			check: func(t *testing.T, r []resolvedRoute) {
				if !reflect.DeepEqual(r[0].Domains, []Domain{{"a.example.com", false}}) || !reflect.DeepEqual(r[1].Domains, []Domain{{"b.example.com", true}}) {
					t.Errorf("domains %+v, %+v", r[0].Domains, r[1].Domains)
				}
			}},
		{name: "published on an unknown host port", labels: map[string]string{pre + "80.domain": "a.example.com"}, published: Published{"80/tcp": {""}}, routes: 1,
			check: func(t *testing.T, r []resolvedRoute) {
				if r[0].Backend.HostPort != "" {
					t.Errorf("host port %q, want empty", r[0].Backend.HostPort)
				}
			}},
		{name: "booleans in any case", labels: map[string]string{pre + "80.domain": "a.example.com", pre + "80.force-ssl": "FALSE",
			pre + "80.support-websocket": "True"}, published: Published{"80/tcp": {"1"}}, routes: 1,
			check: func(t *testing.T, r []resolvedRoute) {
				if r[0].ForceSSL || !r[0].Websocket {
					t.Errorf("force-ssl %v websocket %v", r[0].ForceSSL, r[0].Websocket)
				}
			}},
		{name: "bad boolean keeps the default", labels: map[string]string{pre + "80.domain": "a.example.com", pre + "80.https": "yes"},
			published: Published{"80/tcp": {"1"}}, routes: 1,
			problems: []string{`bad_boolean: snadboy.revp.80.https: "yes" is not true or false; using true`},
			check: func(t *testing.T, r []resolvedRoute) {
				if !r[0].HTTPS {
					t.Error("https lost its default")
				}
			}},
		{name: "bad integer", labels: map[string]string{pre + "80.domain": "a.example.com", pre + "80.notify-priority": "high"},
			published: Published{"80/tcp": {"1"}}, routes: 1,
			problems: []string{`bad_integer: snadboy.revp.80.notify-priority: "high" is not an integer; using 5`}},
		{name: "port out of range", labels: map[string]string{pre + "70000.domain": "a.example.com", pre + "0.domain": "b.example.com"},
			problems: []string{`bad_port: snadboy.revp.0.domain: port "0" is not in 1..65535`,
				`bad_port: snadboy.revp.70000.domain: port "70000" is not in 1..65535`}},
		{name: "port not a number", labels: map[string]string{pre + "web.domain": "a.example.com"},
			problems: []string{`bad_port: snadboy.revp.web.domain: port "web" is not a number`}},
		{name: "unknown property", labels: map[string]string{pre + "80.domain": "a.example.com", pre + "80.backend-port": "8080"},
			published: Published{"80/tcp": {"1"}}, routes: 1,
			problems: []string{`unknown_property: snadboy.revp.80.backend-port: "backend-port" is not a RevP property`}},
		{name: "missing domain", labels: map[string]string{pre + "80.backend-proto": "https"},
			problems: []string{`missing_domain: snadboy.revp.80.domain: a port with RevP properties has no domain`}},
		{name: "bad domains are skipped", labels: map[string]string{pre + "80.domain": "good.example.com,bad_host.example.com,-x.example.com,a.example.com:sometimes"},
			published: Published{"80/tcp": {"1"}}, routes: 1,
			problems: []string{
				`bad_domain: snadboy.revp.80.domain: "bad_host.example.com": label "bad_host" has '_'; only letters, digits and '-' are allowed`,
				`bad_domain: snadboy.revp.80.domain: "-x.example.com": label "-x" must not start or end with '-'`,
				`bad_domain: snadboy.revp.80.domain: "a.example.com:sometimes": suffix must be :redirect or :noredirect`,
			}},
		{name: "not published", labels: map[string]string{pre + "9090.domain": "a.example.com"}, published: Published{"80/tcp": {"8000"}}, routes: 1,
			problems: []string{`port_not_published: container port 9090 is not published`},
			check: func(t *testing.T, r []resolvedRoute) {
				if r[0].Backend.HostPort != "" {
					t.Errorf("host port %q, want empty", r[0].Backend.HostPort)
				}
			}},
		{name: "udp only is not published", labels: map[string]string{pre + "53.domain": "dns.example.com"}, published: Published{"53/udp": {"5353"}}, routes: 1,
			problems: []string{`port_not_published: container port 53 is published over UDP only; a route needs TCP`},
			check: func(t *testing.T, r []resolvedRoute) {
				if r[0].Backend != (Backend{Address: "192.0.2.10"}) {
					t.Errorf("backend %+v, want no host port and no probe", r[0].Backend)
				}
			}},
		{name: "tcp wins over udp", labels: map[string]string{pre + "53.domain": "dns.example.com"}, published: Published{"53/udp": {"5353"}, "53/tcp": {"5354"}}, routes: 1,
			check: func(t *testing.T, r []resolvedRoute) {
				if r[0].Backend != (Backend{Address: "192.0.2.10", HostPort: "5354", Probe: true}) {
					t.Errorf("backend %+v", r[0].Backend)
				}
			}},
		{name: "a udp host port is not the labelled host port", labels: map[string]string{pre + "8003.domain": "a.example.com"}, published: Published{"53/udp": {"8003"}}, routes: 1,
			problems: []string{`port_not_published: container port 8003 is not published`}},
		{name: "label names the host port", labels: map[string]string{pre + "8003.domain": "a.example.com"}, published: Published{"80/tcp": {"8003"}}, routes: 1,
			problems: []string{`label_port_is_host_port: port 8003 is the host port published for container port 80/tcp; label the container port instead`},
			check: func(t *testing.T, r []resolvedRoute) {
				if r[0].Backend != (Backend{Address: "192.0.2.10", HostPort: "8003", Probe: true}) {
					t.Errorf("backend %+v", r[0].Backend)
				}
			}},
		{name: "flat defaults, an unknown flat key is a problem", labels: map[string]string{pre + "domain": "a.example.com", pre + "team": "infra"},
			published: Published{"80/tcp": {"8080"}}, routes: 1,
			problems: []string{`unknown_property: snadboy.revp.team: "team" is not a RevP property`},
			check: func(t *testing.T, r []resolvedRoute) {
				want := Route{
					Grammar: "flat", Port: 80, Domains: []Domain{{Name: "a.example.com", Redirect: true}},
					BackendHost: "localhost", BackendProto: "http", BackendPath: "/", StripPrefix: false,
					ForceSSL: true, Websocket: false,
					// Not settable in this grammar; exported as these defaults.
					HTTPS: true, CloudflareTunnel: false,
					// Port-indexed only; not exported.
					RedirectHTTPS: true, CertResolver: "letsencrypt", PassHostHeader: true, Notify: true, NotifyPriority: 5,
				}
				if !reflect.DeepEqual(r[0].Route, want) {
					t.Errorf("got %+v\nwant %+v", r[0].Route, want)
				}
			}},
		{name: "flat backend-host elsewhere, allowed", labels: map[string]string{pre + "domain": "a.example.com", pre + "backend-host": "10.0.0.5", pre + "backend-port": "3000"},
			published: Published{"3000/tcp": {"3000"}}, allowed: []string{"nas.lan", "10.0.0.5"}, routes: 1,
			check: func(t *testing.T, r []resolvedRoute) {
				if r[0].Backend != (Backend{Address: "10.0.0.5", HostPort: "3000", Probe: true}) || r[0].Port != 3000 {
					t.Errorf("%+v %+v", r[0].Route, r[0].Backend)
				}
			}},
		{name: "flat backend-host elsewhere, not allowed", labels: map[string]string{pre + "domain": "a.example.com", pre + "backend-host": "10.0.0.5", pre + "backend-port": "3000"},
			published: Published{"3000/tcp": {"3000"}}, allowed: []string{"10.0.0.6"}, routes: 1,
			problems: []string{`backend_host_not_allowed: backend-host "10.0.0.5" is neither this Docker host (192.0.2.10) nor an allowed backend host; the route is not probed`},
			check: func(t *testing.T, r []resolvedRoute) {
				if r[0].Backend != (Backend{Address: "192.0.2.10", HostPort: "3000", Probe: false}) {
					t.Errorf("backend %+v, want the Docker host's own address, not probed", r[0].Backend)
				}
			}},
		{name: "flat missing domain", labels: map[string]string{pre + "backend-port": "8080"},
			problems: []string{`missing_domain: snadboy.revp.domain: flat RevP properties without a domain`}},
		{name: "flat bad port", labels: map[string]string{pre + "domain": "a.example.com", pre + "container-port": "http"}, published: Published{"80/tcp": {"1"}}, routes: 1,
			problems: []string{`bad_port: snadboy.revp.container-port: port "http" is not in 1..65535; using 80`}},
		{name: "mixed grammars", labels: map[string]string{pre + "domain": "a.example.com", pre + "80.domain": "b.example.com"},
			published: Published{"80/tcp": {"1"}}, routes: 2,
			problems: []string{`mixed_grammars: both port-indexed and flat RevP labels; both are routed`}},
		{name: "empty domain", labels: map[string]string{pre + "80.domain": " , "},
			problems: []string{`missing_domain: snadboy.revp.80.domain: the domain list has no valid entry`}},
		{name: "no valid domain", labels: map[string]string{pre + "domain": "bad_name"},
			problems: []string{
				`bad_domain: snadboy.revp.domain: "bad_name": label "bad_name" has '_'; only letters, digits and '-' are allowed`,
				`missing_domain: snadboy.revp.domain: the domain list has no valid entry`}},
		{name: "only unknown keys", labels: map[string]string{pre + "enabled": "true", "traefik.enable": "true"},
			problems: []string{`unknown_property: snadboy.revp.enabled: "enabled" is not a RevP property`}},
		{name: "other prefix ignored", labels: map[string]string{"snadboy.revpx.80.domain": "a.example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := parseAndResolve(tc.labels, tc.published, tc.allowed...)
			if len(p.Routes) != tc.routes {
				t.Errorf("%d routes, want %d: %+v", len(p.Routes), tc.routes, p.Routes)
			}
			if !reflect.DeepEqual(p.Problems, tc.problems) && !(len(p.Problems) == 0 && len(tc.problems) == 0) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(p.Problems, "\n"), strings.Join(tc.problems, "\n"))
			}
			if tc.check != nil && len(p.Routes) == tc.routes {
				tc.check(t, p.Routes)
			}
		})
	}
}

func TestPrefix(t *testing.T) {
	routes, _ := Parse(map[string]string{"acme.rp.80.domain": "a.example.com", "snadboy.revp.81.domain": "b.example.com"}, "acme.rp")
	if len(routes) != 1 || routes[0].Port != 80 {
		t.Errorf("routes %+v", routes)
	}
}

// knownKey matches the keys of both grammars, whatever their values; every
// other key under the prefix must come back as a problem.
var knownKey = regexp.MustCompile(`^snadboy\.revp\.(?:[1-9][0-9]{0,4}\.(?:` + strings.Join(slices.Sorted(mapKeys(portProperties)), "|") +
	`)|(?:` + strings.Join(slices.Sorted(mapKeys(flatProperties)), "|") + `))$`)

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(regexp.QuoteMeta(k)) {
				return
			}
		}
	}
}

// FuzzParse: any label set parses without panicking, the result does not
// depend on the order in which the map is built or walked, no route lists a
// domain twice, no key under the prefix is silently ignored, no value is
// read past MaxValueLen, and a probe URL never leaves the backend.
func FuzzParse(f *testing.F) {
	f.Add("snadboy.revp.80.domain", "a.example.com, b.example.com:noredirect", "snadboy.revp.80.https", "nope")
	f.Add("snadboy.revp.domain", "x.example.com", "snadboy.revp.container-port", "99999")
	f.Add("snadboy.revp.8080.notify-priority", "1e9", "snadboy.revp..domain", ":redirect")
	f.Add("snadboy.revp.80.domain", "a.example.com,A.example.com", "snadboy.revp.domain", "a.example.com:redirect,a.example.com:noredirect")
	f.Add("snadboy.revp", "x", "snadboy.revp.080", "y")
	f.Add("snadboy.revp.443.health", "//evil.example/x", "snadboy.revp.443.backend-path", strings.Repeat("é", 600))
	f.Add("snadboy.revp.health-check.path", "http://evil.example/", "snadboy.revp.backend-host", "evil.example")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		a := map[string]string{k1: v1, k2: v2, "snadboy.revp.443.domain": v1}
		b := map[string]string{"snadboy.revp.443.domain": v1, k2: v2, k1: v1}
		ra, pa := Parse(a, DefaultPrefix)
		rb, pb := Parse(b, DefaultPrefix)
		if !reflect.DeepEqual(ra, rb) || !reflect.DeepEqual(pa, pb) {
			t.Fatalf("order-dependent result for %q", a)
		}
		for k := range a {
			under := k == DefaultPrefix || strings.HasPrefix(k, DefaultPrefix+".")
			if under && !knownKey.MatchString(k) && !slices.ContainsFunc(pa, func(p Problem) bool { return p.Key == k }) {
				t.Fatalf("key %q is neither a property nor a problem: %v", k, pa)
			}
		}
		for _, p := range pa {
			if !slices.Contains(Reasons, p.Reason) {
				t.Fatalf("reason %q is not in Reasons", p.Reason)
			}
		}
		checkValues(t, ra, utf8.ValidString(v1) && utf8.ValidString(v2))
		ports := map[int]bool{}
		for _, r := range ra {
			// A domain appears at most once in a route, whatever its case
			// or redirect mode; so does a port among port-indexed routes.
			seen := map[string]bool{}
			for _, d := range r.Domains {
				if seen[d.Name] || d.Name != strings.ToLower(d.Name) {
					t.Fatalf("port %d: domain %q repeated or not lower case in %+v", r.Port, d.Name, r.Domains)
				}
				seen[d.Name] = true
			}
			if r.Grammar == PortIndexed {
				if ports[r.Port] {
					t.Fatalf("two port-indexed routes for port %d", r.Port)
				}
				ports[r.Port] = true
			}
			b, _ := Resolve(r, Published{v1: {v2}}, "h", []string{k2})
			if u, err := ProbeURL(r, b); err == nil && !strings.HasPrefix(u, "http://"+net.JoinHostPort(b.Address, b.HostPort)+"/") &&
				!strings.HasPrefix(u, "https://"+net.JoinHostPort(b.Address, b.HostPort)+"/") {
				t.Fatalf("probe URL %q leaves the backend %+v", u, b)
			}
		}
	})
}

// checkValues: no string a route carries is longer than MaxValueLen, the
// cut keeps valid UTF-8 valid, and a kept health path is a path.
func checkValues(t *testing.T, routes []Route, valid bool) {
	t.Helper()
	for _, r := range routes {
		for _, v := range []string{r.BackendProto, r.BackendPath, r.TunnelDomain, r.CertResolver, r.Health, r.Info,
			r.BackendHost, r.LoadBalancer, r.HealthCheckInterval, r.HealthCheckTimeout} {
			if len(v) > MaxValueLen || valid && !utf8.ValidString(v) {
				t.Fatalf("value of %d bytes (valid UTF-8 %t) in %+v", len(v), utf8.ValidString(v), r)
			}
		}
		if r.Health != "" && checkHealthPath(r.Health) != nil {
			t.Fatalf("health path %q kept", r.Health)
		}
	}
}

// Every shape of key under the prefix that is not a property is a problem,
// named after the key, and leaves the container's valid route alone.
func TestKeyShapes(t *testing.T) {
	const pre = "snadboy.revp"
	for _, tc := range []struct {
		key     string
		problem string // "" for a key that is not under the prefix
	}{
		{pre, `unknown_property: snadboy.revp: the prefix alone names no property`},
		{pre + ".", `unknown_property: snadboy.revp.: the key has an empty segment (a leading, trailing or doubled dot)`},
		{pre + "..", `unknown_property: snadboy.revp..: the key has an empty segment (a leading, trailing or doubled dot)`},
		{pre + "..domain", `unknown_property: snadboy.revp..domain: the key has an empty segment (a leading, trailing or doubled dot)`},
		{pre + ".80..domain", `unknown_property: snadboy.revp.80..domain: the key has an empty segment (a leading, trailing or doubled dot)`},
		{pre + ".81.domain.", `unknown_property: snadboy.revp.81.domain.: the key has an empty segment (a leading, trailing or doubled dot)`},
		{pre + ".domain.", `unknown_property: snadboy.revp.domain.: the key has an empty segment (a leading, trailing or doubled dot)`},
		{pre + ".health-check..path", `unknown_property: snadboy.revp.health-check..path: the key has an empty segment (a leading, trailing or doubled dot)`},
		{pre + ".80", `unknown_property: snadboy.revp.80: port 80 is not followed by a property`},
		{pre + ".080", `unknown_property: snadboy.revp.080: port 080 is not followed by a property`},
		{pre + ".99999999999999999999", `unknown_property: snadboy.revp.99999999999999999999: port 99999999999999999999 is not followed by a property`},
		{pre + ".80.colour", `unknown_property: snadboy.revp.80.colour: "colour" is not a RevP property`},
		{pre + ".80.Domain", `unknown_property: snadboy.revp.80.Domain: "Domain" is not a RevP property`},
		{pre + ".80.health-check.path", `unknown_property: snadboy.revp.80.health-check.path: "health-check.path" is not a RevP property`},
		{pre + ".team", `unknown_property: snadboy.revp.team: "team" is not a RevP property`},
		{pre + ".health-check", `unknown_property: snadboy.revp.health-check: "health-check" is not a RevP property`},
		{pre + ".health-check.path.x", `unknown_property: snadboy.revp.health-check.path.x: "health-check.path.x" is not a RevP property`},
		{pre + ".https", `unknown_property: snadboy.revp.https: "https" is a port-indexed property: snadboy.revp.<port>.https`},
		{pre + ".health", `unknown_property: snadboy.revp.health: "health" is a port-indexed property: snadboy.revp.<port>.health`},
		{pre + ".web.domain", `bad_port: snadboy.revp.web.domain: port "web" is not a number`},
		{pre + ".-80.domain", `bad_port: snadboy.revp.-80.domain: port "-80" is not a number`},
		{pre + ".+80.domain", `bad_port: snadboy.revp.+80.domain: port "+80" is not a number`},
		{pre + ". 80.domain", `bad_port: snadboy.revp. 80.domain: port " 80" is not a number`},
		{pre + ".８０.domain", `bad_port: snadboy.revp.８０.domain: port "８０" is not a number`},
		{pre + ".080.domain", `bad_port: snadboy.revp.080.domain: port "080" has a leading zero`},
		{pre + ".00.domain", `bad_port: snadboy.revp.00.domain: port "00" has a leading zero`},
		{pre + ".0.domain", `bad_port: snadboy.revp.0.domain: port "0" is not in 1..65535`},
		{pre + ".65536.domain", `bad_port: snadboy.revp.65536.domain: port "65536" is not in 1..65535`},
		{pre + ".99999999999999999999.domain", `bad_port: snadboy.revp.99999999999999999999.domain: port "99999999999999999999" is not in 1..65535`},
		{"snadboy.revpx", ""},
		{"snadboy.revpx.80.domain", ""},
		{"Snadboy.revp.80.domain", ""},
		{".snadboy.revp.80.domain", ""},
	} {
		t.Run(tc.key, func(t *testing.T) {
			labels := map[string]string{pre + ".80.domain": "a.example.com", tc.key: "b.example.com"}
			p := parseAndResolve(labels, Published{"80/tcp": {"8000"}})
			var want []string
			if tc.problem != "" {
				want = []string{tc.problem}
			}
			if !reflect.DeepEqual(p.Problems, want) {
				t.Errorf("problems %q, want %q", p.Problems, want)
			}
			if len(p.Routes) != 1 || p.Routes[0].Port != 80 || len(p.Routes[0].Domains) != 1 || p.Routes[0].Domains[0].Name != "a.example.com" {
				t.Errorf("routes %+v, want only port 80's", p.Routes)
			}
		})
	}
}

// A value over MaxValueLen is cut at a UTF-8 boundary.
func TestValueTooLong(t *testing.T) {
	const key = "snadboy.revp.80.backend-path"
	for _, tc := range []struct {
		name, value string
		keep        int // bytes kept
	}{
		{"exactly the limit", strings.Repeat("a", MaxValueLen), MaxValueLen},
		{"one over", strings.Repeat("a", MaxValueLen+1), MaxValueLen},
		{"ascii", strings.Repeat("a", 2000), MaxValueLen},
		{"two-byte runes", "/" + strings.Repeat("é", 600), MaxValueLen - 1},
		{"four-byte runes on the boundary", strings.Repeat("😀", 300), MaxValueLen},
		{"four-byte runes across it", "ab" + strings.Repeat("😀", 300), MaxValueLen - 2},
		{"invalid UTF-8", strings.Repeat("\x80", 2000), MaxValueLen - 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			routes, problems := Parse(map[string]string{"snadboy.revp.80.domain": "a.example.com", key: tc.value}, DefaultPrefix)
			if len(routes) != 1 || routes[0].BackendPath != tc.value[:tc.keep] {
				t.Fatalf("backend path of %d bytes, want the first %d", len(routes[0].BackendPath), tc.keep)
			}
			var want []Problem
			if tc.keep < len(tc.value) {
				want = []Problem{{ValueTooLong, key, fmt.Sprintf("%d bytes; only the first %d are read", len(tc.value), tc.keep)}}
			}
			if !reflect.DeepEqual(problems, want) {
				t.Errorf("problems %v, want %v", problems, want)
			}
			if utf8.ValidString(tc.value) && !utf8.ValidString(routes[0].BackendPath) {
				t.Error("the cut split a rune")
			}
		})
	}
}

// A cut domain list loses the entry the cut went through rather than
// claim a shorter name that nobody wrote.
func TestValueTooLongDomainList(t *testing.T) {
	// Entries of 17 bytes with their comma, after a first entry of f bytes:
	// with f = 4 a comma sits right at the cut, with f = 5 the cut takes
	// d059.example.com to d059.example.co.
	list := func(first string) string {
		var b strings.Builder
		b.WriteString(first)
		for i := range 80 {
			fmt.Fprintf(&b, ",d%03d.example.com", i)
		}
		return b.String()
	}
	for _, tc := range []struct {
		first string
		last  string // the last domain kept
	}{{"a.co", "d059.example.com"}, {"ab.co", "d058.example.com"}} {
		routes, problems := Parse(map[string]string{"snadboy.revp.80.domain": list(tc.first)}, DefaultPrefix)
		if len(routes) != 1 || len(problems) != 1 || problems[0].Reason != ValueTooLong {
			t.Fatalf("first entry %q: routes %+v, problems %v", tc.first, routes, problems)
		}
		d := routes[0].Domains
		if d[0].Name != tc.first || d[len(d)-1].Name != tc.last {
			t.Errorf("first entry %q: domains %s .. %s, want %s .. %s", tc.first, d[0].Name, d[len(d)-1].Name, tc.first, tc.last)
		}
	}
}

// A health path is a path: a label must not name the scheme, host or port
// the probe connects to.
func TestHealthPath(t *testing.T) {
	for _, tc := range []struct {
		health string
		url    string // the probe URL, "" if refused
		detail string // the bad_health_path detail
	}{
		{health: "/healthz", url: "http://192.0.2.10:8000/healthz"},
		{health: "healthz", url: "http://192.0.2.10:8000/healthz"},
		{health: "/x?a=b&c", url: "http://192.0.2.10:8000/x?a=b&c"},
		{health: "/x#frag", url: "http://192.0.2.10:8000/x"},
		{health: "?ready", url: "http://192.0.2.10:8000/?ready"},
		{health: "/a%2Fb", url: "http://192.0.2.10:8000/a%2Fb"},
		{health: "/a b", url: "http://192.0.2.10:8000/a%20b"},
		{health: "@evil.example/x", url: "http://192.0.2.10:8000/@evil.example/x"},
		{health: "/@evil.example:80/x", url: "http://192.0.2.10:8000/@evil.example:80/x"},
		{health: `\\evil.example\x`, url: "http://192.0.2.10:8000/%5C%5Cevil.example%5Cx"},
		{health: "/../../admin", url: "http://192.0.2.10:8000/../../admin"},
		{health: "//evil.example/x", detail: "a path must not start with //"},
		{health: "///x", detail: "a path must not start with //"},
		{health: "//user:pw@evil.example:80/x", detail: "a path must not start with //"},
		{health: "http://evil.example/x", detail: "must be a path, without a scheme or host"},
		{health: "HTTPS://evil.example", detail: "must be a path, without a scheme or host"},
		{health: "evil.example:80/x", detail: "must be a path, without a scheme or host"},
		{health: "mailto:x", detail: "must be a path, without a scheme or host"},
		{health: "file:///etc/passwd", detail: "must be a path, without a scheme or host"},
		{health: "user@evil.example:80", detail: "not a URL path"},
		{health: "/x\x7f", detail: "not a URL path"},
		{health: "/%zz", detail: "not a URL path"},
	} {
		t.Run(tc.health, func(t *testing.T) {
			key := "snadboy.revp.80.health"
			routes, problems := Parse(map[string]string{"snadboy.revp.80.domain": "a.example.com", key: tc.health}, DefaultPrefix)
			if len(routes) != 1 {
				t.Fatalf("routes %+v", routes)
			}
			var want []Problem
			if tc.detail != "" {
				want = []Problem{{BadHealthPath, key, fmt.Sprintf("%q: %s; not probed", tc.health, tc.detail)}}
			}
			if !reflect.DeepEqual(problems, want) {
				t.Errorf("problems %v, want %v", problems, want)
			}
			u, err := ProbeURL(routes[0], Backend{Address: "192.0.2.10", HostPort: "8000", Probe: true})
			if u != tc.url || (err == nil) != (tc.url != "") {
				t.Errorf("probe URL %q, %v; want %q", u, err, tc.url)
			}
			// The flat grammar's health-check.path follows the same rule.
			_, problems = Parse(map[string]string{"snadboy.revp.domain": "a.example.com", "snadboy.revp.health-check.path": tc.health}, DefaultPrefix)
			if (len(problems) == 1 && problems[0].Reason == BadHealthPath) != (tc.detail != "") {
				t.Errorf("flat: problems %v", problems)
			}
		})
	}
}

// Every reason has a row in docs/revp.md's problem table and is listed in
// docs/metrics.md: it is a label value that users alert on.
func TestReasonsDocumented(t *testing.T) {
	for _, doc := range []string{"../docs/revp.md", "../docs/metrics.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range Reasons {
			if !strings.Contains(string(b), "`"+r+"`") {
				t.Errorf("%s does not document reason %s", doc, r)
			}
		}
	}
	b, _ := os.ReadFile("../docs/revp.md")
	for _, r := range Reasons {
		if !strings.Contains(string(b), "| `"+r+"` |") {
			t.Errorf("docs/revp.md has no problem-table row for %s", r)
		}
	}
}
