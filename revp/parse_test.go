package revp

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

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

func parseAndResolve(labels map[string]string, published Published) parsed {
	routes, problems := Parse(labels, DefaultPrefix)
	var out parsed
	for _, r := range routes {
		b, ps := Resolve(r, published, "192.0.2.10")
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
				if r[0].Backend != (Backend{Address: "192.0.2.10", HostPort: "8000"}) {
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
		{name: "udp when tcp is absent", labels: map[string]string{pre + "53.domain": "dns.example.com"}, published: Published{"53/udp": {"5353"}}, routes: 1,
			check: func(t *testing.T, r []resolvedRoute) {
				if r[0].Backend.HostPort != "5353" {
					t.Errorf("host port %q", r[0].Backend.HostPort)
				}
			}},
		{name: "label names the host port", labels: map[string]string{pre + "8003.domain": "a.example.com"}, published: Published{"80/tcp": {"8003"}}, routes: 1,
			problems: []string{`label_port_is_host_port: port 8003 is the host port published for container port 80/tcp; label the container port instead`}},
		{name: "flat defaults and additional labels", labels: map[string]string{pre + "domain": "a.example.com", pre + "team": "infra"},
			published: Published{"80/tcp": {"8080"}}, routes: 1,
			check: func(t *testing.T, r []resolvedRoute) {
				want := Route{
					Grammar: "flat", Port: 80, Domains: []Domain{{Name: "a.example.com", Redirect: true}},
					BackendHost: "localhost", BackendProto: "http", BackendPath: "/", StripPrefix: false,
					ForceSSL: true, Websocket: false,
					// Not settable in this grammar; exported as these defaults.
					HTTPS: true, CloudflareTunnel: false,
					// Port-indexed only; not exported.
					RedirectHTTPS: true, CertResolver: "letsencrypt", PassHostHeader: true, Notify: true, NotifyPriority: 5,
					AdditionalLabels: map[string]string{"team": "infra"},
				}
				if !reflect.DeepEqual(r[0].Route, want) {
					t.Errorf("got %+v\nwant %+v", r[0].Route, want)
				}
			}},
		{name: "flat backend-host elsewhere", labels: map[string]string{pre + "domain": "a.example.com", pre + "backend-host": "10.0.0.5", pre + "backend-port": "3000"},
			published: Published{"3000/tcp": {"3000"}}, routes: 1,
			check: func(t *testing.T, r []resolvedRoute) {
				if r[0].Backend.Address != "10.0.0.5" || r[0].Port != 3000 {
					t.Errorf("%+v %+v", r[0].Route, r[0].Backend)
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
		{name: "only unrelated keys", labels: map[string]string{pre + "enabled": "true", "traefik.enable": "true"}},
		{name: "other prefix ignored", labels: map[string]string{"snadboy.revpx.80.domain": "a.example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := parseAndResolve(tc.labels, tc.published)
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

// FuzzParse: any label set parses without panicking, the result does not
// depend on the order in which the map is built or walked, and no route
// lists a domain twice.
func FuzzParse(f *testing.F) {
	f.Add("snadboy.revp.80.domain", "a.example.com, b.example.com:noredirect", "snadboy.revp.80.https", "nope")
	f.Add("snadboy.revp.domain", "x.example.com", "snadboy.revp.container-port", "99999")
	f.Add("snadboy.revp.8080.notify-priority", "1e9", "snadboy.revp..domain", ":redirect")
	f.Add("snadboy.revp.80.domain", "a.example.com,A.example.com", "snadboy.revp.domain", "a.example.com:redirect,a.example.com:noredirect")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		a := map[string]string{k1: v1, k2: v2, "snadboy.revp.443.domain": v1}
		b := map[string]string{"snadboy.revp.443.domain": v1, k2: v2, k1: v1}
		ra, pa := Parse(a, DefaultPrefix)
		rb, pb := Parse(b, DefaultPrefix)
		if !reflect.DeepEqual(ra, rb) || !reflect.DeepEqual(pa, pb) {
			t.Fatalf("order-dependent result for %q", a)
		}
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
			Resolve(r, Published{v1: {v2}}, "h")
		}
	})
}
