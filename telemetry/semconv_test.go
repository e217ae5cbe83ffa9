package telemetry

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

var scNow = time.Unix(2000, 0)

// parseProm parses a text exposition into families sorted by name, the order
// a Gatherer returns them in.
func parseProm(t testing.TB, text string) []*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	fams := make([]*dto.MetricFamily, 0, len(byName))
	for _, f := range byName {
		fams = append(fams, f)
	}
	slices.SortFunc(fams, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return fams
}

// renderSemconv flattens the output into one line per point, in output order,
// so whole results compare as string slices. Every point's Time must be now,
// whatever the case, so that is checked here rather than in each case.
func renderSemconv(t *testing.T, sm metricdata.ScopeMetrics, now time.Time) []string {
	t.Helper()
	var out []string
	line := func(m metricdata.Metrics, kind string, attrs attribute.Set, start, ts time.Time, v any) {
		if !ts.Equal(now) {
			t.Errorf("%s: point Time %v, want %v", m.Name, ts, now)
		}
		st := "-"
		if !start.IsZero() {
			st = fmt.Sprintf("%g", float64(start.UnixNano())/1e9)
		}
		var kvs []string
		for _, kv := range attrs.ToSlice() {
			kvs = append(kvs, string(kv.Key)+"="+kv.Value.String())
		}
		out = append(out, fmt.Sprintf("%s %s %s {%s} start=%s value=%v",
			m.Name, m.Unit, kind, strings.Join(kvs, ","), st, v))
	}
	for _, m := range sm.Metrics {
		switch d := m.Data.(type) {
		case metricdata.Sum[float64]:
			for _, p := range d.DataPoints {
				line(m, sumKind(d.IsMonotonic, d.Temporality, "float"), p.Attributes, p.StartTime, p.Time, p.Value)
			}
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				line(m, sumKind(d.IsMonotonic, d.Temporality, "int"), p.Attributes, p.StartTime, p.Time, p.Value)
			}
		case metricdata.Gauge[float64]:
			for _, p := range d.DataPoints {
				line(m, "gauge/float", p.Attributes, p.StartTime, p.Time, p.Value)
			}
		default:
			t.Errorf("%s: unexpected data type %T", m.Name, m.Data)
		}
	}
	return out
}

func sumKind(mono bool, temp metricdata.Temporality, typ string) string {
	k := "sum/updown/"
	if mono {
		k = "sum/mono/"
	}
	if temp != metricdata.CumulativeTemporality {
		k += temp.String() + "/"
	}
	return k + typ
}

// webIdentity is the attribute prefix of a container with an info series,
// up to container.name; cpu.mode sorts between it and host.name.
const webIdentity = `container.id=20db3203d118,container.image.name=nginx,container.image.tags=["1.25"],container.name=web`

const webFull = `
docker_container_info{host="h1",name="web",id="20db3203d118",image="nginx:1.25",image_id="sha256:aa"} 1
docker_container_state{host="h1",name="web",state="running"} 1
docker_container_state{host="h1",name="web",state="exited"} 0
docker_container_created_timestamp_seconds{host="h1",name="web"} 900
docker_container_started_timestamp_seconds{host="h1",name="web"} 1000.5
docker_container_cpu_usage_seconds_total{host="h1",name="web"} 1.8
docker_container_cpu_user_seconds_total{host="h1",name="web"} 1.5
docker_container_cpu_system_seconds_total{host="h1",name="web"} 0.25
docker_container_memory_usage_bytes{host="h1",name="web"} 4096
docker_container_memory_working_set_bytes{host="h1",name="web"} 2048
docker_container_network_receive_bytes_total{host="h1",name="web",interface="eth0"} 100
docker_container_network_transmit_bytes_total{host="h1",name="web",interface="eth0"} 200
docker_container_block_io_read_bytes_total{host="h1",name="web"} 300
docker_container_block_io_write_bytes_total{host="h1",name="web"} 400
`

func TestSemconvMetrics(t *testing.T) {
	tests := []struct {
		name string
		prom string
		want []string
	}{{
		name: "every metric of one running container",
		prom: webFull,
		want: []string{
			`container.cpu.time s sum/mono/float {` + webIdentity + `,cpu.mode=system,host.name=h1} start=1000.5 value=0.25`,
			`container.cpu.time s sum/mono/float {` + webIdentity + `,cpu.mode=user,host.name=h1} start=1000.5 value=1.5`,
			`container.memory.usage By sum/updown/int {` + webIdentity + `,host.name=h1} start=1000.5 value=4096`,
			`container.memory.working_set By sum/updown/int {` + webIdentity + `,host.name=h1} start=1000.5 value=2048`,
			`container.network.io By sum/mono/int {` + webIdentity + `,host.name=h1,network.interface.name=eth0,network.io.direction=receive} start=1000.5 value=100`,
			`container.network.io By sum/mono/int {` + webIdentity + `,host.name=h1,network.interface.name=eth0,network.io.direction=transmit} start=1000.5 value=200`,
			`container.disk.io By sum/mono/int {` + webIdentity + `,disk.io.direction=read,host.name=h1} start=1000.5 value=300`,
			`container.disk.io By sum/mono/int {` + webIdentity + `,disk.io.direction=write,host.name=h1} start=1000.5 value=400`,
			`container.uptime s gauge/float {` + webIdentity + `,host.name=h1} start=- value=999.5`,
		},
	}, {
		name: "without an info series only host and name identify the container",
		prom: `
docker_container_started_timestamp_seconds{host="h1",name="db"} 1500
docker_container_memory_usage_bytes{host="h1",name="db"} 10
`,
		want: []string{`container.memory.usage By sum/updown/int {container.name=db,host.name=h1} start=1500 value=10`},
	}, {
		name: "start falls back to created when started is in the future, and no uptime",
		prom: `
docker_container_state{host="h1",name="a",state="running"} 1
docker_container_started_timestamp_seconds{host="h1",name="a"} 3000
docker_container_created_timestamp_seconds{host="h1",name="a"} 900
docker_container_cpu_user_seconds_total{host="h1",name="a"} 1
`,
		want: []string{`container.cpu.time s sum/mono/float {container.name=a,cpu.mode=user,host.name=h1} start=900 value=1`},
	}, {
		name: "start falls back to created when started is negative",
		prom: `
docker_container_started_timestamp_seconds{host="h1",name="a"} -5
docker_container_created_timestamp_seconds{host="h1",name="a"} 900
docker_container_block_io_read_bytes_total{host="h1",name="a"} 7
`,
		want: []string{`container.disk.io By sum/mono/int {container.name=a,disk.io.direction=read,host.name=h1} start=900 value=7`},
	}, {
		name: "start falls back to now without usable timestamps",
		prom: `
docker_container_started_timestamp_seconds{host="h1",name="a"} NaN
docker_container_created_timestamp_seconds{host="h1",name="a"} +Inf
docker_container_block_io_write_bytes_total{host="h1",name="a"} 7
`,
		want: []string{`container.disk.io By sum/mono/int {container.name=a,disk.io.direction=write,host.name=h1} start=2000 value=7`},
	}, {
		name: "uptime only for containers whose running state is 1 and that have a start",
		prom: `
docker_container_state{host="h1",name="up",state="running"} 1
docker_container_state{host="h1",name="stopped",state="running"} 0
docker_container_state{host="h1",name="stopped",state="exited"} 1
docker_container_state{host="h1",name="nostart",state="running"} 1
docker_container_state{host="h1",name="paused",state="paused"} 1
docker_container_started_timestamp_seconds{host="h1",name="up"} 1990
docker_container_started_timestamp_seconds{host="h1",name="stopped"} 1000
docker_container_started_timestamp_seconds{host="h1",name="paused"} 1000
`,
		want: []string{`container.uptime s gauge/float {container.name=up,host.name=h1} start=- value=10`},
	}, {
		name: "network points per interface; series without an interface are dropped",
		prom: `
docker_container_network_receive_bytes_total{host="h1",name="a",interface="eth1"} 2
docker_container_network_receive_bytes_total{host="h1",name="a",interface="eth0"} 1
docker_container_network_receive_bytes_total{host="h1",name="a"} 99
docker_container_network_transmit_bytes_total{host="h1",name="a",interface=""} 99
`,
		want: []string{
			`container.network.io By sum/mono/int {container.name=a,host.name=h1,network.interface.name=eth0,network.io.direction=receive} start=2000 value=1`,
			`container.network.io By sum/mono/int {container.name=a,host.name=h1,network.interface.name=eth1,network.io.direction=receive} start=2000 value=2`,
		},
	}, {
		name: "same container name on two hosts, sorted by host then name",
		prom: `
docker_container_memory_usage_bytes{host="h2",name="a"} 2
docker_container_memory_usage_bytes{host="h1",name="b"} 3
docker_container_memory_usage_bytes{host="h1",name="a"} 1
`,
		want: []string{
			`container.memory.usage By sum/updown/int {container.name=a,host.name=h1} start=2000 value=1`,
			`container.memory.usage By sum/updown/int {container.name=b,host.name=h1} start=2000 value=3`,
			`container.memory.usage By sum/updown/int {container.name=a,host.name=h2} start=2000 value=2`,
		},
	}, {
		name: "hostile values and missing labels are skipped",
		prom: `
docker_container_cpu_user_seconds_total{host="h1",name="nan"} NaN
docker_container_cpu_user_seconds_total{host="h1",name="inf"} +Inf
docker_container_cpu_user_seconds_total{host="h1",name="neg"} -1
docker_container_cpu_user_seconds_total{host="h1",name="ok"} 2
docker_container_cpu_user_seconds_total{name="nohost"} 2
docker_container_cpu_user_seconds_total{host="h1"} 2
docker_container_cpu_user_seconds_total{host="h1",name=""} 2
docker_container_memory_usage_bytes{host="h1",name="huge"} 1e300
docker_container_memory_usage_bytes{host="h1",name="minf"} -Inf
`,
		want: []string{`container.cpu.time s sum/mono/float {container.name=ok,cpu.mode=user,host.name=h1} start=2000 value=2`},
	}, {
		name: "no container families, no metrics",
		prom: `
docker_container_info{host="h1",name="web",id="x",image="y"} 1
docker_container_state{host="h1",name="web",state="exited"} 1
docker_host_up{host="h1"} 1
`,
	}, {
		name: "empty exposition",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sm := semconvMetrics(parseProm(t, tc.prom), scNow)
			got := renderSemconv(t, sm, scNow)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for _, m := range sm.Metrics {
				if m.Description == "" {
					t.Errorf("%s has no description", m.Name)
				}
			}
		})
	}
}

func TestSemconvScope(t *testing.T) {
	sm := semconvMetrics(nil, scNow)
	if sm.Scope.Name != "github.com/snadboy/docker-monitor/semconv" ||
		sm.Scope.Version != "1.43.0" ||
		sm.Scope.SchemaURL != "https://opentelemetry.io/schemas/1.43.0" {
		t.Errorf("scope = %+v", sm.Scope)
	}
	if len(sm.Metrics) != 0 {
		t.Errorf("metrics from no families: %d", len(sm.Metrics))
	}
}

func TestSplitImageRef(t *testing.T) {
	tests := []struct{ ref, name, tag string }{
		{"nginx:1.25", "nginx", "1.25"},
		{"nginx", "nginx", ""},
		{"registry.example.com:5000/team/app", "registry.example.com:5000/team/app", ""},
		{"registry.example.com:5000/team/app:v2", "registry.example.com:5000/team/app", "v2"},
		{"app@sha256:abcd", "app", ""},
		{"app:v1@sha256:abcd", "app", "v1"},
		{"sha256:ae50b445d0a7", "sha256:ae50b445d0a7", ""},
		{"app:", "app", ""},
		{":v1", "", "v1"},
		{"@", "", ""},
		{"", "", ""},
	}
	for _, tc := range tests {
		name, tag := splitImageRef(tc.ref)
		if name != tc.name || tag != tc.tag {
			t.Errorf("splitImageRef(%q) = %q, %q; want %q, %q", tc.ref, name, tag, tc.name, tc.tag)
		}
	}
}

func scLabels(kv ...string) []*dto.LabelPair {
	var out []*dto.LabelPair
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, &dto.LabelPair{Name: &kv[i], Value: &kv[i+1]})
	}
	return out
}

func scGauge(v float64, kv ...string) *dto.Metric {
	return &dto.Metric{Label: scLabels(kv...), Gauge: &dto.Gauge{Value: &v}}
}

func scFamily(name string, typ dto.MetricType, ms ...*dto.Metric) *dto.MetricFamily {
	return &dto.MetricFamily{Name: &name, Type: &typ, Metric: ms}
}

// TestSemconvMetricsHandBuilt covers input the text parser refuses to produce.
func TestSemconvMetricsHandBuilt(t *testing.T) {
	gauge := dto.MetricType_GAUGE
	tests := []struct {
		name string
		fams []*dto.MetricFamily
		want []string
	}{{
		name: "nil families, metrics, labels and values",
		fams: []*dto.MetricFamily{
			nil,
			{},
			scFamily(scFamMemUsage, gauge, nil, &dto.Metric{}, &dto.Metric{Label: []*dto.LabelPair{nil, {}}},
				&dto.Metric{Label: scLabels("host", "h1", "name", "a"), Gauge: &dto.Gauge{}}),
			scFamily(scFamInfo, gauge, &dto.Metric{Label: scLabels("host", "h1", "name", "a")}),
		},
		want: []string{`container.memory.usage By sum/updown/int {container.name=a,host.name=h1} start=2000 value=0`},
	}, {
		name: "duplicate series and families: the first wins",
		fams: []*dto.MetricFamily{
			scFamily(scFamInfo, gauge,
				scGauge(1, "host", "h1", "name", "a", "id", "first", "image", "img"),
				scGauge(1, "host", "h1", "name", "a", "id", "second", "image", "img")),
			scFamily(scFamMemUsage, gauge, scGauge(1, "host", "h1", "name", "a"), scGauge(2, "host", "h1", "name", "a")),
			scFamily(scFamMemUsage, gauge, scGauge(3, "host", "h1", "name", "a")),
			scFamily(scFamStarted, gauge, scGauge(1000, "host", "h1", "name", "a"), scGauge(1500, "host", "h1", "name", "a")),
			scFamily(scFamState, gauge,
				scGauge(1, "host", "h1", "name", "a", "state", "running"),
				scGauge(0, "host", "h1", "name", "a", "state", "running")),
		},
		want: []string{
			`container.memory.usage By sum/updown/int {container.id=first,container.image.name=img,container.name=a,host.name=h1} start=1000 value=1`,
			`container.uptime s gauge/float {container.id=first,container.image.name=img,container.name=a,host.name=h1} start=- value=1000`,
		},
	}, {
		name: "duplicate label names: the first wins",
		fams: []*dto.MetricFamily{scFamily(scFamMemUsage, gauge, scGauge(5, "host", "h1", "name", "a", "name", "b"))},
		want: []string{`container.memory.usage By sum/updown/int {container.name=a,host.name=h1} start=2000 value=5`},
	}, {
		name: "invalid UTF-8 in labels is replaced, and colliding results dedup",
		fams: []*dto.MetricFamily{scFamily(scFamNetReceive, gauge,
			scGauge(1, "host", "h\xff", "name", "a", "interface", "e\xfe"),
			scGauge(2, "host", "h\xfe", "name", "a", "interface", "e\xff"))},
		want: []string{`container.network.io By sum/mono/int {container.name=a,host.name=h` + "\uFFFD" +
			`,network.interface.name=e` + "\uFFFD" + `,network.io.direction=receive} start=2000 value=1`},
	}, {
		name: "untyped and counter samples are read, histograms are not",
		fams: []*dto.MetricFamily{
			scFamily(scFamCPUUser, dto.MetricType_UNTYPED, &dto.Metric{
				Label: scLabels("host", "h1", "name", "a"), Untyped: &dto.Untyped{Value: ptr(1.0)}}),
			scFamily(scFamCPUSystem, dto.MetricType_COUNTER, &dto.Metric{
				Label: scLabels("host", "h1", "name", "a"), Counter: &dto.Counter{Value: ptr(2.0)}}),
			scFamily(scFamMemUsage, dto.MetricType_HISTOGRAM, &dto.Metric{
				Label: scLabels("host", "h1", "name", "a"), Histogram: &dto.Histogram{SampleSum: ptr(3.0)}}),
		},
		want: []string{
			`container.cpu.time s sum/mono/float {container.name=a,cpu.mode=system,host.name=h1} start=2000 value=2`,
			`container.cpu.time s sum/mono/float {container.name=a,cpu.mode=user,host.name=h1} start=2000 value=1`,
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := renderSemconv(t, semconvMetrics(tc.fams, scNow), scNow)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestSemconvMetricsOrder checks the output does not depend on the order of
// families or series, which a Gatherer does not promise across versions.
func TestSemconvMetricsOrder(t *testing.T) {
	prom := webFull + strings.NewReplacer(`"web"`, `"api"`, `"h1"`, `"h0"`, "20db3203d118", "5ca1ab1e0000").Replace(webFull)
	want := renderSemconv(t, semconvMetrics(parseProm(t, prom), scNow), scNow)
	if len(want) != 18 {
		t.Fatalf("baseline has %d points, want 18", len(want))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		fams := parseProm(t, prom)
		rng.Shuffle(len(fams), func(i, j int) { fams[i], fams[j] = fams[j], fams[i] })
		for _, f := range fams {
			rng.Shuffle(len(f.Metric), func(i, j int) { f.Metric[i], f.Metric[j] = f.Metric[j], f.Metric[i] })
		}
		if got := renderSemconv(t, semconvMetrics(fams, scNow), scNow); !slices.Equal(got, want) {
			t.Fatalf("order changed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// TestSemconvMetricsGolden runs on the collector's golden exposition, which is
// what a real gather of the fake daemon yields.
func TestSemconvMetricsGolden(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "collector", "testdata", "metrics.prom"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1795628200, 0)
	sm := semconvMetrics(parseProm(t, string(raw)), now)
	lines := renderSemconv(t, sm, now)
	for _, name := range []string{
		"container.cpu.time", "container.memory.usage", "container.memory.working_set",
		"container.network.io", "container.disk.io", "container.uptime",
	} {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, name+" ") }) {
			t.Errorf("no %s point", name)
		}
	}
	var running []string
	for _, m := range sm.Metrics {
		if g, ok := m.Data.(metricdata.Gauge[float64]); ok && m.Name == "container.uptime" {
			for _, p := range g.DataPoints {
				v, _ := p.Attributes.Value("container.name")
				running = append(running, v.AsString())
				if p.Value <= 0 {
					t.Errorf("uptime of %s = %v", v.AsString(), p.Value)
				}
			}
		}
	}
	if want := []string{"healthy", "unhealthy", "web", "writer"}; !slices.Equal(running, want) {
		t.Errorf("uptime for %v, want the running containers %v", running, want)
	}
	webIO := `container.network.io By sum/mono/int {container.id=20db3203d118,container.image.name=fx,container.name=web,` +
		`host.name=fake,network.interface.name=eth0,network.io.direction=receive} start=1.7956280760894725e+09 value=876`
	if !slices.Contains(lines, webIO) {
		t.Errorf("missing %s in\n%s", webIO, strings.Join(lines, "\n"))
	}
}

// FuzzSemconvMetrics feeds arbitrary label values and samples, which reach
// this code unvalidated when the families come from another Gatherer.
func FuzzSemconvMetrics(f *testing.F) {
	f.Add("h1", "web", "eth0", "nginx:1.25", 1.5, 1000.0, 900.0)
	f.Add("", "\xff", "", "@:/", math.NaN(), math.Inf(1), -1.0)
	f.Add("h", "n", "i", "sha256:", 1e300, 3000.0, 0.0)
	f.Fuzz(func(t *testing.T, host, name, iface, image string, v, started, created float64) {
		id := []string{"host", host, "name", name}
		gauge := dto.MetricType_GAUGE
		fams := []*dto.MetricFamily{
			scFamily(scFamInfo, gauge, scGauge(1, append(id, "id", name, "image", image)...)),
			scFamily(scFamState, gauge, scGauge(v, append(id, "state", "running")...)),
			scFamily(scFamStarted, gauge, scGauge(started, id...)),
			scFamily(scFamCreated, gauge, scGauge(created, id...)),
		}
		for _, s := range scSpecs {
			for _, src := range s.sources {
				fams = append(fams, scFamily(src.family, gauge, scGauge(v, append(id, "interface", iface)...)))
			}
		}
		sm := semconvMetrics(fams, scNow)
		for _, m := range sm.Metrics {
			if m.Name == "" || m.Unit == "" {
				t.Errorf("metric without name or unit: %+v", m)
			}
		}
	})
}
