package testlab

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Recorder is a reverse proxy on a unix socket of its own in front of a
// daemon's socket, which records the method and path of every request
// before forwarding it. A test points the exporter at Host instead of the
// daemon's, to see every Engine API call it makes: a request is recorded
// even when the daemon refuses it or the proxy cannot forward it.
//
// It forwards what the Docker client may use: streaming answers (/events,
// stats streams) are flushed as they come, and a connection upgrade (the
// hijack of attach and exec) is passed through.
type Recorder struct {
	Host   string // unix://...: DOCKER_HOST style
	Socket string

	d   *Daemon
	srv *http.Server

	mu   sync.Mutex
	reqs []RecordedRequest
}

// RecordedRequest is one request the Recorder saw.
type RecordedRequest struct {
	Method  string
	Path    string
	Query   string // the raw query
	Upgrade string // the Upgrade header, if any
	Time    time.Time
}

// Pattern is the request's method and its path with the API version and
// object IDs or names replaced by placeholders, as RequestPattern.
func (r RecordedRequest) Pattern() string { return RequestPattern(r.Method, r.Path) }

// StartRecorder starts a recorder in front of d; t.Cleanup stops it.
func StartRecorder(t testing.TB, d *Daemon) *Recorder {
	t.Helper()
	Require(t)
	// Under the daemon's directory: unix socket paths must stay short.
	dir, err := os.MkdirTemp(d.Dir, "rec-")
	if err != nil {
		t.Fatalf("testlab: recorder: %v", err)
	}
	sock := filepath.Join(dir, "r.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("testlab: recorder: %v", err)
	}
	r := &Recorder{Host: "unix://" + sock, Socket: sock, d: d}
	r.srv = &http.Server{Handler: r.handler(), ReadHeaderTimeout: 10 * time.Second}
	go r.srv.Serve(ln)
	t.Cleanup(func() {
		r.srv.Close() // also ends the streams in flight
		os.RemoveAll(dir)
	})
	return r
}

func (r *Recorder) handler() http.Handler {
	target := &url.URL{Scheme: "http", Host: "docker"}
	daemonSock := r.d.socketPath()
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
		},
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var dl net.Dialer
				return dl.DialContext(ctx, "unix", daemonSock)
			},
		},
		// Flush every write: /events answers one JSON object per event,
		// and the client must see each as it comes.
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			http.Error(w, "recorder: "+err.Error(), http.StatusBadGateway)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.reqs = append(r.reqs, RecordedRequest{
			Method: req.Method, Path: req.URL.Path, Query: req.URL.RawQuery,
			Upgrade: req.Header.Get("Upgrade"), Time: time.Now(),
		})
		r.mu.Unlock()
		proxy.ServeHTTP(w, req)
	})
}

// Requests returns every request recorded so far, oldest first.
func (r *Recorder) Requests() []RecordedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]RecordedRequest(nil), r.reqs...)
}

// Patterns counts the recorded requests by Pattern.
func (r *Recorder) Patterns() map[string]int {
	n := map[string]int{}
	for _, req := range r.Requests() {
		n[req.Pattern()]++
	}
	return n
}

// FormatPatterns lists patterns with their counts, one a line, sorted.
func FormatPatterns(n map[string]int) string {
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%6d  %s\n", n[k], k)
	}
	return b.String()
}

var apiVersionPrefix = regexp.MustCompile(`^/v[0-9]+(\.[0-9]+)*/`)

// objects are the Engine API's collections whose next path segment names
// one object, and the words that follow a collection without naming one.
var (
	objects = map[string]bool{
		"containers": true, "images": true, "networks": true, "volumes": true, "exec": true,
		"plugins": true, "services": true, "tasks": true, "nodes": true, "secrets": true, "configs": true,
	}
	notAnObject = map[string]bool{"json": true, "create": true, "prune": true, "load": true, "search": true, "get": true}
)

// RequestPattern is "METHOD /path" with the API version as v{api} and the
// segment naming an object after a collection as {id}:
// "GET /v1.41/containers/3f2a.../json" is "GET /v{api}/containers/{id}/json".
func RequestPattern(method, path string) string {
	p := apiVersionPrefix.ReplaceAllString(path, "/v{api}/")
	segs := strings.Split(p, "/")
	for i := 1; i < len(segs); i++ {
		if objects[segs[i-1]] && segs[i] != "" && !notAnObject[segs[i]] {
			// An image name may have slashes; everything up to the next
			// known action would be guesswork, so a name is one segment.
			segs[i] = "{id}"
		}
	}
	return method + " " + strings.Join(segs, "/")
}

// Docker runs the docker CLI against the daemon through the recorder, as
// Daemon.Docker does against the daemon itself.
func (r *Recorder) Docker(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := r.d.dockerAt(r.Host, dockerCmdTimeout, args...)
	if err != nil {
		t.Fatalf("testlab: docker %s (via recorder of %s): %v\n%s", strings.Join(args, " "), r.d.Name, err, errOut)
	}
	return out
}

// dockerAt runs the CLI as Daemon.docker does (same CLI config and clean
// environment) against another endpoint of the daemon.
func (d *Daemon) dockerAt(host string, timeout time.Duration, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, dockerPath, append([]string{"-H", host}, args...)...)
	cmd.Env = cleanEnv([]string{
		"DOCKER_CONFIG=" + filepath.Join(d.Dir, "cli"),
		"DOCKER_BUILDKIT=0",
		"DOCKER_CLI_HINTS=false",
	})
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, err)
	}
	return strings.TrimSpace(o.String()), strings.TrimSpace(e.String()), err
}
