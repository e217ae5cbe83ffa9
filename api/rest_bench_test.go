package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// restDiscard is a ResponseWriter that keeps nothing, so that the benchmark
// measures the handler: reading the cache, filtering, the route table,
// redaction and JSON encoding.
type restDiscard struct {
	h http.Header
	n int
}

func (d *restDiscard) Header() http.Header         { return d.h }
func (d *restDiscard) WriteHeader(int)             {}
func (d *restDiscard) Write(b []byte) (int, error) { d.n += len(b); return len(b), nil }

// BenchmarkListContainers1000 is GET /api/v1/containers with 1,000 cached
// containers (the recording's 9 and 991 copies of its "web").
func BenchmarkListContainers1000(b *testing.B) {
	fake := restFakeServer(b)
	if err := fake.Scale("web", 991); err != nil {
		b.Fatal(err)
	}
	a, pool := restAPI(b, hostpool.DefaultOptions, DefaultOptions, true, testlab.Host(b, "fake", fake.Host))
	if n := len(pool.Host("fake").Snapshot().Containers); n != 1000 {
		b.Fatalf("%d containers cached, want 1000", n)
	}
	req := httptest.NewRequest(http.MethodGet, Prefix+"/containers", nil)
	w := &restDiscard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		w.n = 0
		a.ServeHTTP(w, req)
	}
	b.ReportMetric(float64(w.n), "bytes/response")
}
