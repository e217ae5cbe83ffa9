package api

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/snadboy/docker-monitor/hostpool"
)

// maxStreamValue bounds one filter value: a host alias, container name or
// action is far shorter, and a longer one is an attempt at something else.
const maxStreamValue = 256

// maxStreamValues bounds how many values one request may give in all: each
// event is matched against every one of them.
const maxStreamValues = 64

// streamFilter selects the feed events a stream client gets. A field that
// is empty does not filter; a field with values passes an event that
// matches any of them.
type streamFilter struct {
	hosts      []string
	types      []string
	actions    []string
	containers []string
	// since and afterSeq select the history replayed before the live
	// events: nothing when both are zero.
	since    time.Time
	afterSeq uint64
	replay   bool
}

// streamParams are the query parameters of /events.
var streamParams = map[string]bool{"host": true, "type": true, "action": true, "container": true, "since": true}

// parseStreamFilter reads the query and the Last-Event-ID header; the
// error names the parameter at fault, for a 400.
func parseStreamFilter(r *http.Request) (streamFilter, error) {
	var f streamFilter
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return f, fmt.Errorf("malformed query: %w", err)
	}
	n := 0
	for k, vs := range q {
		if !streamParams[k] {
			return f, fmt.Errorf("unknown parameter %s: the event stream takes host, type, action, container and since", echo(k))
		}
		n += len(vs)
	}
	if n > maxStreamValues {
		return f, fmt.Errorf("too many parameter values (%d): at most %d", n, maxStreamValues)
	}
	if f.hosts, err = streamValues(q, "host", validStreamHost); err != nil {
		return f, err
	}
	if f.types, err = streamValues(q, "type", validStreamType); err != nil {
		return f, err
	}
	if f.actions, err = streamValues(q, "action", validStreamAction); err != nil {
		return f, err
	}
	if f.containers, err = streamValues(q, "container", validStreamContainer); err != nil {
		return f, err
	}
	if err := f.parseReplay(q, r.Header.Values("Last-Event-ID")); err != nil {
		return f, err
	}
	return f, nil
}

// parseReplay reads since and Last-Event-ID: either asks for a replay of
// the kept history, both for the events that satisfy both.
func (f *streamFilter) parseReplay(q url.Values, lastID []string) error {
	if vs, ok := q["since"]; ok {
		if len(vs) != 1 {
			return fmt.Errorf("parameter since: given %d times, at most once", len(vs))
		}
		t, err := parseStreamSince(vs[0])
		if err != nil {
			return fmt.Errorf("parameter since: %w", err)
		}
		f.since, f.replay = t, true
	}
	if len(lastID) > 0 {
		if len(lastID) != 1 {
			return fmt.Errorf("header Last-Event-ID: given %d times", len(lastID))
		}
		id, err := strconv.ParseUint(strings.TrimSpace(lastID[0]), 10, 64)
		if err != nil {
			return fmt.Errorf("header Last-Event-ID: %s is not an event id (a seq number)", echo(lastID[0]))
		}
		f.afterSeq, f.replay = id, true
	}
	return nil
}

// parseStreamSince accepts RFC 3339 or unix seconds, with a fraction or not.
func parseStreamSince(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	secs, err := strconv.ParseFloat(s, 64)
	// Beyond 2^53 s a float loses whole seconds, and such a time is
	// nonsense anyway; NaN and infinities parse, so they are checked too.
	if err != nil || math.IsNaN(secs) || secs < 0 || secs > 1<<53 {
		return time.Time{}, fmt.Errorf("%s is neither an RFC 3339 time nor unix seconds", echo(s))
	}
	whole, frac := math.Modf(secs)
	return time.Unix(int64(whole), int64(frac*1e9)), nil
}

// streamValues returns the parameter's values, each checked by valid.
func streamValues(q url.Values, name string, valid func(string) error) ([]string, error) {
	vs := q[name]
	for _, v := range vs {
		if len(v) > maxStreamValue {
			return nil, fmt.Errorf("parameter %s: a value is longer than %d bytes", name, maxStreamValue)
		}
		if err := valid(v); err != nil {
			return nil, fmt.Errorf("parameter %s: %w", name, err)
		}
	}
	return vs, nil
}

func validStreamHost(v string) error {
	if v == "" || !streamPrintable(v) {
		return fmt.Errorf("%s is not a host name", echo(v))
	}
	return nil
}

func validStreamType(v string) error {
	if !slices.Contains(hostpool.EventTypes, v) {
		return fmt.Errorf("%s is not one of %s", echo(v), strings.Join(hostpool.EventTypes, ", "))
	}
	return nil
}

func validStreamAction(v string) error {
	if strings.TrimSpace(v) == "" || !streamPrintable(v) {
		return fmt.Errorf("%s is not an action", echo(v))
	}
	return nil
}

// validStreamContainer accepts what Docker accepts as a container name
// ([a-zA-Z0-9][a-zA-Z0-9_.-]*), which covers ID prefixes too, with the
// leading slash Docker's API puts on names.
func validStreamContainer(v string) error {
	name := strings.TrimPrefix(v, "/")
	ok := name != ""
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		ok = alnum || i > 0 && (c == '_' || c == '.' || c == '-')
	}
	if !ok {
		return fmt.Errorf("%s is not a container name or ID prefix", echo(v))
	}
	return nil
}

// streamPrintable refuses control characters, which have no place in an alias
// or an action and would garble a log line or an error.
func streamPrintable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == 0xfffd })
}

// keep says whether the history replays e: after since and Last-Event-ID,
// and through the filters. The feed calls it under its lock, which every
// publisher waits for: it must stay cheap and call nothing of the pool.
func (f *streamFilter) keep(e *hostpool.Event) bool {
	return e.Seq > f.afterSeq && !e.Time.Before(f.since) && f.match(e)
}

// match says whether e goes to the client. The lagged marker always
// does; host_status (and a host leaving) passes every filter but host,
// since a client must learn that what it shows of a host may be stale.
func (f *streamFilter) match(e *hostpool.Event) bool {
	if e.Kind == hostpool.KindLagged {
		return true
	}
	if len(f.hosts) > 0 && !slices.Contains(f.hosts, e.Host) {
		return false
	}
	switch e.Kind {
	case hostpool.KindDockerEvent:
		return f.matchType(e.Type) && f.matchAction(e.Action) && f.matchDockerContainer(e)
	case hostpool.KindContainerUpdate:
		// An update has no Docker action: a client that asked for some
		// actions asked for those events only.
		return f.matchType("container") && len(f.actions) == 0 && f.matchUpdate(e)
	default:
		return true
	}
}

func (f *streamFilter) matchType(t string) bool {
	return len(f.types) == 0 || slices.Contains(f.types, t)
}

func (f *streamFilter) matchAction(a string) bool {
	if len(f.actions) == 0 {
		return true
	}
	short := hostpool.NormalizeAction(a)
	return slices.ContainsFunc(f.actions, func(v string) bool { return v == a || v == short })
}

// matchDockerContainer matches a container's own events, and a network's
// about a container (connect, disconnect), which name it in the
// "container" attribute by ID only: those match an ID prefix, not a name
// (resolving it would take a copy of the host's cache for each event).
func (f *streamFilter) matchDockerContainer(e *hostpool.Event) bool {
	if len(f.containers) == 0 {
		return true
	}
	switch e.Type {
	case "container":
		return f.matchContainer(e.ActorID, e.Name)
	case "network":
		return f.matchContainer(e.Attributes["container"], "")
	default:
		return false
	}
}

func (f *streamFilter) matchUpdate(e *hostpool.Event) bool {
	if len(f.containers) == 0 {
		return true
	}
	for _, c := range []*hostpool.Container{e.Container, e.Previous} {
		if c != nil && f.matchContainer(c.ID, c.Name) {
			return true
		}
	}
	return false
}

// matchContainer matches a name exactly or an ID by prefix.
func (f *streamFilter) matchContainer(id, name string) bool {
	name = strings.TrimPrefix(name, "/")
	for _, v := range f.containers {
		v = strings.TrimPrefix(v, "/")
		if v == name || id != "" && strings.HasPrefix(id, v) {
			return true
		}
	}
	return false
}
