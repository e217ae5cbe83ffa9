package collector

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkScrapeFake50 measures the exporter's own cost of one scrape of 50
// running containers, against replayed daemon answers so that only our side
// is measured (make bench measures the real thing).
func BenchmarkScrapeFake50(b *testing.B) {
	exp, fake, _ := startFake(b, Options{})
	_ = fake
	b.StopTimer()
	if err := fake.Scale("web", 46); err != nil {
		b.Fatal(err)
	}
	exp.pool.Hosts()[0].Resync()
	time.Sleep(200 * time.Millisecond)
	srv := httptest.NewServer(exp.Handler(prometheus.NewRegistry(), HandlerOptions{DefaultTimeout: 10 * time.Second}, nil))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	b.ReportAllocs()
	b.StartTimer()
	for i := 0; i < b.N; i++ {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
