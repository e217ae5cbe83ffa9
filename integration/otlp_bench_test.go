package integration

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/internal/otlplab"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// BenchmarkScrapeOTLPDown compares scrapes of 10 running containers with
// OTLP off, with the push and traces aimed at an endpoint that refuses
// (receiver stopped), and at one that accepts and never answers. Reports
// the exporter's RSS after the scrapes and the data points and spans it
// counted as failed or dropped.
func BenchmarkScrapeOTLPDown(b *testing.B) {
	d := testlab.Shared(b)
	for i := range 10 {
		d.Run(b, fmt.Sprintf("otlpb-%d", i), nil)
	}
	on := []string{"--otlp.metrics", "--otlp.traces", "--otlp.interval=1s"}
	for _, bc := range []struct {
		name string
		addr func() string
		args []string
	}{
		{"off", nil, nil},
		{"stopped", func() string { return otlplab.FreeAddr(b) }, on},
		{"hanging", func() string { return otlplab.StartHanging(b) }, on},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var env []string
			if bc.addr != nil {
				env = []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + bc.addr(), "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
					"OTEL_EXPORTER_OTLP_INSECURE=true", "OTEL_EXPORTER_OTLP_TIMEOUT=2000", "OTEL_BSP_SCHEDULE_DELAY=200"}
			}
			exp := testlab.StartExporter(b, testlab.ExporterBinary(b), env, append([]string{"--docker.host=" + d.Host}, bc.args...)...)
			deadline := time.Now().Add(60 * time.Second)
			for !ready(exp.URL) && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			scrapeURL(b, exp.URL+"/metrics")
			b.ResetTimer()
			for b.Loop() {
				scrapeURL(b, exp.URL+"/metrics")
			}
			b.StopTimer()
			b.ReportMetric(rssMiB(b, exp.PID), "rss_MiB")
			m := scrapeURL(b, exp.URL+"/metrics")
			lost := 0.0
			for _, r := range []string{"failure", "dropped"} {
				for _, s := range []string{"metrics", "traces"} {
					v, _ := m.get("docker_monitor_otlp_exports_total", lbl("signal", s, "result", r))
					lost += v
				}
			}
			b.ReportMetric(lost, "otlp_lost")
		})
	}
}

func rssMiB(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
