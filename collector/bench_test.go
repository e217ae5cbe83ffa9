package collector

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/snadboy/docker-monitor/dockerstats"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/dockerfake"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// BenchmarkScrapeFake50 measures the exporter's own cost of one scrape of 50
// running containers, against replayed daemon answers so that only our side
// is measured (make bench measures the real thing).
func BenchmarkScrapeFake50(b *testing.B) { benchScrapeFake50(b, hostpool.DefaultOptions) }

// BenchmarkScrapeFake50Cached reuses one round of stats (--stats.max-age),
// so that what is left is the exporter's gathering, exposition and gzip of
// the same series, plus one ping.
func BenchmarkScrapeFake50Cached(b *testing.B) {
	opts := hostpool.DefaultOptions
	opts.StatsMaxAge = time.Hour
	benchScrapeFake50(b, opts)
}

func benchScrapeFake50(b *testing.B, opts hostpool.Options) {
	fake := dockerfake.StartT(b)
	exp, _ := startHostsWith(b, opts, Options{}, testlab.Host(b, "fake", fake.Host))
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

// BenchmarkDecodeStats decodes one recorded Docker 20.10 stats sample the
// way hostpool.Host.Stats does; a scrape does this once per running
// container.
func BenchmarkDecodeStats(b *testing.B) {
	data, err := os.ReadFile("testdata/stats-cgroupv1-docker20.10.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var s dockerstats.Stats
		if err := json.Unmarshal(data, &s); err != nil {
			b.Fatal(err)
		}
	}
}
