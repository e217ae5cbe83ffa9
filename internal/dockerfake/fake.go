// Package dockerfake replays Engine API answers recorded from a real Docker
// 20.10 daemon (testdata/docker-20.10) over a unix socket. It exists for what
// a real daemon cannot do on demand: golden output from fixed input, hosts
// that hang, and hundreds of containers for benchmarks. Everything else is
// tested against a real dockerd.
package dockerfake

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is a fake daemon on a unix socket.
type Server struct {
	Host string // "unix://..." for --docker.host

	dir     string
	srv     *http.Server
	ln      net.Listener
	pingHdr http.Header
	hang    atomic.Bool

	mu       sync.RWMutex      // the maps below change under Remove and EndStats while serving
	files    map[string][]byte // version, info, containers, images
	inspect  map[string][]byte // by full ID
	stats    map[string][]byte
	byName   map[string]string
	endStats map[string]bool          // by full ID: stats end with no body
	hold     map[string]chan struct{} // by endpoint: answers wait for it to close
	requests sync.Map                 // endpoint -> *atomic.Int64
	ev       emitter                  // open event streams, for Emit

	opts  Options
	tick  *statsTicker       // nil without Options.StatsTick
	stop  chan struct{}      // closed by Close: ends the server's own goroutines
	once  sync.Once          // closes stop
	clone map[string]*source // recorded containers as Populate clones them, by name
	hc    []healthChecked    // clones with a healthcheck, for RunHealthchecks
	// populated counts the clones Populate made, which number its names.
	populated int
}

// Dataset returns the path of the recorded data shipped with this package.
func Dataset() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "docker-20.10")
}

// Start serves the recorded dataset on a socket in dir, answering at once.
func Start(dir string) (*Server, error) { return StartWith(dir, Options{}) }

// StartWith serves the recorded dataset on a socket in dir, with the
// timing of o.
func StartWith(dir string, o Options) (*Server, error) {
	s := &Server{dir: Dataset(), files: map[string][]byte{}, inspect: map[string][]byte{}, stats: map[string][]byte{},
		byName: map[string]string{}, endStats: map[string]bool{}, hold: map[string]chan struct{}{},
		opts: o, stop: make(chan struct{})}
	if err := s.load(); err != nil {
		return nil, err
	}
	sock := o.Socket
	if sock == "" {
		sock = filepath.Join(dir, "fake.sock")
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("fake daemon: %w", err)
	}
	s.ln, s.Host = ln, "unix://"+sock
	if o.StatsTick > 0 {
		s.tick = startStatsTicker(o.StatsTick, s.stop)
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops serving and the server's own goroutines; open event streams end.
func (s *Server) Close() error {
	s.once.Do(func() { close(s.stop) })
	return s.srv.Close()
}

// SetHang makes the fake accept requests and never answer them, as a wedged
// daemon or a half-open tunnel does.
func (s *Server) SetHang(b bool) { s.hang.Store(b) }

// HoldStats makes stats requests wait until release is called, so a test
// can hold a round of stats calls in flight.
func (s *Server) HoldStats() (release func()) { return s.Hold("stats") }

// Hold makes requests to endpoint ("stats", "containers", "inspect", as Requests
// names them) wait until release is called: a slow daemon, for as long as
// a test needs one.
func (s *Server) Hold(endpoint string) (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.hold[endpoint] = ch
	s.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// Remove makes a container gone, as `docker rm` does: absent from the
// list, and 404 to inspect and stats. No event says so: the fake's event
// stream is quiet, as a stalled one is.
func (s *Server) Remove(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byName[name]
	if !ok {
		return fmt.Errorf("no container %q", name)
	}
	var list []map[string]any
	if err := json.Unmarshal(s.files["containers"], &list); err != nil {
		return err
	}
	list = slices.DeleteFunc(list, func(c map[string]any) bool { return c["Id"] == id })
	b, err := json.Marshal(list)
	s.files["containers"] = b
	delete(s.inspect, id)
	delete(s.stats, id)
	delete(s.byName, name)
	return err
}

// EndStats makes stats calls for a container end with a 200 and no body,
// as Docker 20.10 answers when the container stops while the call waits
// for its next sample.
func (s *Server) EndStats(name string) {
	s.mu.Lock()
	s.endStats[s.byName[name]] = true
	s.mu.Unlock()
}

// Requests returns how many requests an endpoint ("stats", "inspect", ...) got.
func (s *Server) Requests(endpoint string) int64 {
	v, _ := s.requests.LoadOrStore(endpoint, new(atomic.Int64))
	return v.(*atomic.Int64).Load()
}

// Scale adds n copies of the recorded running container named template,
// each with its own ID and name, for scale tests and benchmarks.
func (s *Server) Scale(template string, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byName[template]
	if !ok {
		return fmt.Errorf("no recorded container %q", template)
	}
	var list []map[string]any
	if err := json.Unmarshal(s.files["containers"], &list); err != nil {
		return err
	}
	var tmpl map[string]any
	for _, c := range list {
		if c["Id"] == id {
			tmpl = c
		}
	}
	for i := 0; i < n; i++ {
		newID := fmt.Sprintf("%064x", i+1)
		name := fmt.Sprintf("%s-%03d", template, i)
		c := map[string]any{}
		for k, v := range tmpl {
			c[k] = v
		}
		c["Id"], c["Names"] = newID, []string{"/" + name}
		list = append(list, c)
		s.inspect[newID] = rewrite(s.inspect[id], id, newID, template, name)
		if st, ok := s.stats[id]; ok {
			s.stats[newID] = rewrite(st, id, newID, template, name)
		}
		s.byName[name] = newID
	}
	b, err := json.Marshal(list)
	s.files["containers"] = b
	return err
}

func rewrite(b []byte, oldID, newID, oldName, newName string) []byte {
	out := strings.ReplaceAll(string(b), oldID, newID)
	out = strings.ReplaceAll(out, `"/`+oldName+`"`, `"/`+newName+`"`)
	return []byte(out)
}

func (s *Server) load() error {
	for _, f := range []string{"version", "info", "containers", "images"} {
		b, err := os.ReadFile(filepath.Join(s.dir, f+".json"))
		if err != nil {
			return err
		}
		s.files[f] = b
	}
	hdr, err := os.ReadFile(filepath.Join(s.dir, "ping.headers"))
	if err != nil {
		return err
	}
	s.pingHdr = http.Header{}
	for _, line := range strings.Split(string(hdr), "\n")[1:] {
		if k, v, ok := strings.Cut(line, ": "); ok && k != "Date" && k != "Content-Length" {
			s.pingHdr.Set(k, v)
		}
	}
	for kind, m := range map[string]map[string][]byte{"inspect": s.inspect, "stats": s.stats} {
		paths, _ := filepath.Glob(filepath.Join(s.dir, kind, "*.json"))
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			id := strings.TrimSuffix(filepath.Base(p), ".json")
			m[id] = b
			if kind == "inspect" {
				var in struct{ Name string }
				if err := json.Unmarshal(b, &in); err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
				s.byName[strings.TrimPrefix(in.Name, "/")] = id
			}
		}
	}
	return nil
}

func (s *Server) count(endpoint string) {
	v, _ := s.requests.LoadOrStore(endpoint, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// resolveLocked finds a container by ID or name; s.mu must be held.
func (s *Server) resolveLocked(ref string) string {
	if _, ok := s.inspect[ref]; ok {
		return ref
	}
	return s.byName[ref]
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.hang.Load() {
		<-r.Context().Done()
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) > 0 && strings.HasPrefix(parts[0], "v1.") {
		parts = parts[1:]
	}
	path := strings.Join(parts, "/")
	switch {
	case path == "_ping":
		s.count("ping")
		if !s.delay(r) {
			return
		}
		for k, v := range s.pingHdr {
			w.Header()[k] = v
		}
		_, _ = w.Write([]byte("OK"))
	case path == "version" || path == "info" || path == "images/json" || path == "containers/json":
		name := strings.TrimSuffix(path, "/json")
		if !s.begin(r, name) {
			return
		}
		s.mu.RLock()
		b := s.files[name]
		s.mu.RUnlock()
		s.json(w, b)
	case path == "events":
		s.count("events")
		s.events(w, r)
	case len(parts) == 3 && parts[0] == "containers" && parts[2] == "json":
		if !s.begin(r, "inspect") {
			return
		}
		s.container(w, s.inspect, parts[1])
	case len(parts) == 3 && parts[0] == "containers" && parts[2] == "stats":
		s.count("stats")
		// The daemon's collector publishes at its tick; the answer is
		// written after that.
		if !s.wait(r, "stats") || !s.nextTick(r) || !s.delay(r) {
			return
		}
		s.mu.RLock()
		end := s.endStats[s.resolveLocked(parts[1])]
		s.mu.RUnlock()
		if end {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			return
		}
		s.container(w, s.stats, parts[1])
	default:
		http.Error(w, `{"message":"page not found"}`, http.StatusNotFound)
	}
}

// begin counts a request, then holds it while a test holds its endpoint
// and for the daemon's latency; false: the client left.
func (s *Server) begin(r *http.Request, endpoint string) bool {
	s.count(endpoint)
	return s.wait(r, endpoint) && s.delay(r)
}

// wait holds a request while a test holds its endpoint; false: the client left.
func (s *Server) wait(r *http.Request, endpoint string) bool {
	s.mu.RLock()
	hold := s.hold[endpoint]
	s.mu.RUnlock()
	if hold == nil {
		return true
	}
	select {
	case <-hold:
		return true
	case <-r.Context().Done():
		return false
	}
}

func (s *Server) container(w http.ResponseWriter, m map[string][]byte, ref string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id := s.resolveLocked(ref)
	if id == "" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"message":"No such container: %s"}`, ref)
		return
	}
	b, ok := m[id]
	if !ok {
		// What 20.10 answers for a container that is not running.
		b = []byte(`{"read":"0001-01-01T00:00:00Z","preread":"0001-01-01T00:00:00Z"}`)
	}
	s.json(w, b)
}

func (s *Server) json(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// events opens a stream that stays quiet, as an idle daemon's does, until
// the client leaves; a test can Emit events into it.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if !s.wait(r, "events") {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	s.ev.serve(w, r)
}
