package dockerfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// RunningTemplates are the recorded containers that run and have stats:
// two without a healthcheck, one healthy and one unhealthy.
var RunningTemplates = []string{"web", "writer", "healthy", "unhealthy"}

// source is a recorded container as Populate clones it: compact JSON, as
// a daemon sends it, and what its healthcheck events say.
type source struct {
	id, name string
	entry    []byte // its entry in the container list
	inspect  []byte
	stats    []byte // nil: not running
	health   *healthcheck
}

// healthcheck is what a container's healthcheck events carry.
type healthcheck struct {
	cmd, image, exitCode string
}

// healthChecked is a clone whose healthcheck runs (see RunHealthchecks).
type healthChecked struct {
	id, name string
	*healthcheck
}

// Populate adds n containers cloned round-robin from the recorded
// containers named templates, for a fleet: IDs begin with tag, so the
// daemons of one fleet share none, names are "<template>-<number>", and
// every answer is compact JSON, as a daemon sends it. Scale is the
// original, for tests that compare with what was recorded.
func (s *Server) Populate(tag uint16, n int, templates ...string) error {
	if len(templates) == 0 {
		return fmt.Errorf("populate: no template")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []json.RawMessage
	if err := json.Unmarshal(s.files["containers"], &list); err != nil {
		return fmt.Errorf("populate: container list: %w", err)
	}
	srcs := make([]*source, len(templates))
	for i, name := range templates {
		src, err := s.sourceLocked(list, name)
		if err != nil {
			return fmt.Errorf("populate: %w", err)
		}
		srcs[i] = src
	}
	first := s.populated
	s.populated += n
	for i := range n {
		src := srcs[i%len(srcs)]
		id := fmt.Sprintf("f1ee%04x%056x", tag, first+i+1)
		name := fmt.Sprintf("%s-%05d", src.name, first+i)
		list = append(list, rewrite(src.entry, src.id, id, src.name, name))
		s.inspect[id] = rewrite(src.inspect, src.id, id, src.name, name)
		if src.stats != nil {
			s.stats[id] = rewrite(src.stats, src.id, id, src.name, name)
		}
		s.byName[name] = id
		if src.health != nil {
			s.hc = append(s.hc, healthChecked{id: id, name: name, healthcheck: src.health})
		}
	}
	b, err := json.Marshal(list)
	s.files["containers"] = b
	return err
}

// sourceLocked reads the recorded container named name, once; s.mu is held.
func (s *Server) sourceLocked(list []json.RawMessage, name string) (*source, error) {
	if src, ok := s.clone[name]; ok {
		return src, nil
	}
	id, ok := s.byName[name]
	if !ok {
		return nil, fmt.Errorf("no recorded container %q", name)
	}
	src := &source{id: id, name: name}
	for _, raw := range list {
		var e struct {
			ID string `json:"Id"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("container list: %w", err)
		}
		if e.ID == id {
			src.entry = compact(raw)
		}
	}
	if src.entry == nil {
		return nil, fmt.Errorf("container %q is not in the list", name)
	}
	src.inspect = compact(s.inspect[id])
	if st, ok := s.stats[id]; ok {
		src.stats = compact(st)
	}
	var in struct {
		Config struct {
			Image       string
			Healthcheck *struct{ Test []string }
		}
		State struct {
			Health *struct{ Log []struct{ ExitCode int } }
		}
	}
	if err := json.Unmarshal(src.inspect, &in); err != nil {
		return nil, fmt.Errorf("inspect of %q: %w", name, err)
	}
	if hc := in.Config.Healthcheck; hc != nil && in.State.Health != nil && len(hc.Test) > 1 {
		h := &healthcheck{image: in.Config.Image, exitCode: "0", cmd: strings.Join(hc.Test[1:], " ")}
		if hc.Test[0] == "CMD-SHELL" {
			h.cmd = "/bin/sh -c " + h.cmd
		}
		if l := in.State.Health.Log; len(l) > 0 {
			h.exitCode = fmt.Sprint(l[len(l)-1].ExitCode)
		}
		src.health = h
	}
	if s.clone == nil {
		s.clone = map[string]*source{}
	}
	s.clone[name] = src
	return src, nil
}

// compact is b without the indentation the recorded files have; b is
// valid JSON, since load or the list's decoding read it.
func compact(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}
