package api

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/snadboy/docker-monitor/hostpool"
)

// containerParams are the query parameters of GET /containers.
var containerParams = []string{"compose_project", "health", "host", "image", "label", "limit", "name", "offset", "revp", "state"}

// Bounds on what a client may ask for. A Go regexp runs in linear time,
// so bounding its length bounds its cost; the rest bounds the work and
// memory one request can cause.
const (
	maxRegexpLen = 512
	maxValueLen  = 1024
	maxValues    = 64 // values of one repeatable parameter
	maxLimit     = 10000
	maxOffset    = 1 << 20
)

// noHealth is the health filter's value for containers without a
// healthcheck (or not running, which the cache keeps no health for).
const noHealth = "none"

// filter selects containers for GET /containers. Repeated values of one
// parameter are alternatives (any of); different parameters must all match,
// and so must every label.
type filter struct {
	hosts, states, healths, projects map[string]bool // nil: any
	name                             string          // lower case; "" any
	nameRE                           *regexp.Regexp
	image                            string // lower case
	labels                           []labelMatch
	revp                             *bool
	limit, offset                    int
}

type labelMatch struct {
	key, value string
	hasValue   bool
}

// parseFilter reads GET /containers' query; an unknown parameter or a bad
// value is a 400 that names the parameter.
func parseFilter(r *http.Request) (*filter, error) {
	q, err := query(r, containerParams...)
	if err != nil {
		return nil, err
	}
	for _, k := range containerParams { // in order, so that the first bad one is named
		vs := q[k]
		if len(vs) > maxValues {
			return nil, badParam(k, "given %d times, at most %d", len(vs), maxValues)
		}
		for _, v := range vs {
			if len(v) > maxValueLen {
				return nil, badValue(k, v, "longer than %d bytes", maxValueLen)
			}
		}
	}
	f := &filter{hosts: set(q["host"]), projects: set(q["compose_project"])}
	if f.states, err = oneOf(q, "state", hostpool.States); err != nil {
		return nil, err
	}
	if f.healths, err = oneOf(q, "health", append(slices.Clone(hostpool.HealthStatuses), noHealth)); err != nil {
		return nil, err
	}
	for _, parse := range []func(url.Values) error{f.parseName, f.parseImage, f.parseLabels, f.parseRevP, f.parsePage} {
		if err := parse(q); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// badValue is a 400 for a bad value of param, which it quotes.
func badValue(param, value, format string, args ...any) error {
	return badParam(param+" "+echo(value), format, args...)
}

// badParam is a 400 for a misuse of param.
func badParam(param, format string, args ...any) error {
	return errorf(http.StatusBadRequest, "bad %s: "+format, append([]any{param}, args...)...)
}

// single is the value of a parameter that may be given once.
func single(q url.Values, param string) (string, bool, error) {
	vs, ok := q[param]
	if !ok {
		return "", false, nil
	}
	if len(vs) > 1 {
		return "", false, badParam(param, "given %d times, at most once", len(vs))
	}
	return vs[0], true, nil
}

func set(vs []string) map[string]bool {
	if vs == nil {
		return nil
	}
	m := make(map[string]bool, len(vs))
	for _, v := range vs {
		m[v] = true
	}
	return m
}

// oneOf is the set of a parameter's values, each of which must be in valid.
func oneOf(q url.Values, param string, valid []string) (map[string]bool, error) {
	for _, v := range q[param] {
		if !slices.Contains(valid, v) {
			return nil, badValue(param, v, "one of %s", strings.Join(valid, ", "))
		}
	}
	return set(q[param]), nil
}

// parseName reads name: a case-insensitive substring, or after "~" a Go
// regexp (case-sensitive unless it starts with (?i)).
func (f *filter) parseName(q url.Values) error {
	v, _, err := single(q, "name")
	if err != nil {
		return err
	}
	expr, isRE := strings.CutPrefix(v, "~")
	if !isRE {
		f.name = strings.ToLower(v)
		return nil
	}
	if len(expr) > maxRegexpLen {
		return badParam("name", "a regexp of %d bytes, at most %d", len(expr), maxRegexpLen)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return badValue("name", v, "%v", err)
	}
	f.nameRE = re
	return nil
}

func (f *filter) parseImage(q url.Values) error {
	v, _, err := single(q, "image")
	f.image = strings.ToLower(v)
	return err
}

// parseLabels reads label=key or label=key=value.
func (f *filter) parseLabels(q url.Values) error {
	for _, v := range q["label"] {
		key, value, hasValue := strings.Cut(v, "=")
		if key == "" {
			return badValue("label", v, "want key or key=value")
		}
		f.labels = append(f.labels, labelMatch{key: key, value: value, hasValue: hasValue})
	}
	return nil
}

func (f *filter) parseRevP(q url.Values) error {
	v, ok, err := single(q, "revp")
	if err != nil || !ok {
		return err
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return badValue("revp", v, "want true or false")
	}
	f.revp = &b
	return nil
}

func (f *filter) parsePage(q url.Values) error {
	var err error
	if f.limit, err = intParam(q, "limit", maxLimit); err != nil {
		return err
	}
	f.offset, err = intParam(q, "offset", maxOffset)
	return err
}

func intParam(q url.Values, param string, most int) (int, error) {
	v, ok, err := single(q, param)
	if err != nil || !ok {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > most {
		return 0, badValue(param, v, "want a whole number from 0 to %d", most)
	}
	return n, nil
}

// match says whether c of host passes every filter but revp (which needs
// the route table; see matchRevP).
func (f *filter) match(host string, c *hostpool.Container) bool {
	switch {
	case f.hosts != nil && !f.hosts[host],
		f.states != nil && !f.states[c.State],
		f.healths != nil && !f.healths[healthName(c)],
		f.projects != nil && !f.projects[c.ComposeProject],
		f.nameRE != nil && !f.nameRE.MatchString(c.Name),
		f.name != "" && !containsFold(c.Name, f.name),
		f.image != "" && !containsFold(c.Image, f.image):
		return false
	}
	return f.matchLabels(c.Labels)
}

// matchLabels compares values as the API shows them: a redacted label
// matches its key alone, or "<redacted>", so that a filter cannot be used
// to guess a secret one request at a time.
func (f *filter) matchLabels(labels map[string]string) bool {
	for _, l := range f.labels {
		v, ok := labels[l.key]
		if !ok {
			return false
		}
		if !l.hasValue {
			continue
		}
		if secretKey(l.key) || hasURLPassword(v) {
			v = redacted
		}
		if v != l.value {
			return false
		}
	}
	return true
}

func (f *filter) matchRevP(routed bool) bool { return f.revp == nil || *f.revp == routed }

func healthName(c *hostpool.Container) string {
	if c.Health == "" {
		return noHealth
	}
	return c.Health
}

// containsFold says whether s contains lower, which is in lower case.
// strings.ToLower allocates only when s has upper case in it.
func containsFold(s, lower string) bool { return strings.Contains(strings.ToLower(s), lower) }
