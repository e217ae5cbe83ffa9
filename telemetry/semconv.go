package telemetry

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/containerconv"
)

// semconvScope names the semconv copy of the container metrics apart from the
// bridged Prometheus ones. The version is derived from the imported package so
// bumping the import cannot leave a stale version behind.
var semconvScope = instrumentation.Scope{
	Name:      "github.com/snadboy/docker-monitor/semconv",
	Version:   strings.TrimPrefix(semconv.SchemaURL, "https://opentelemetry.io/schemas/"),
	SchemaURL: semconv.SchemaURL,
}

// Package-level names here carry an "sc" prefix because the package is shared
// with the bridge and exporter code, whose generic names (dataPoints, ...) they
// would otherwise collide with.
const (
	scFamInfo          = "docker_container_info"
	scFamState         = "docker_container_state"
	scFamStarted       = "docker_container_started_timestamp_seconds"
	scFamCreated       = "docker_container_created_timestamp_seconds"
	scFamCPUUser       = "docker_container_cpu_user_seconds_total"
	scFamCPUSystem     = "docker_container_cpu_system_seconds_total"
	scFamMemUsage      = "docker_container_memory_usage_bytes"
	scFamMemWorkingSet = "docker_container_memory_working_set_bytes"
	scFamNetReceive    = "docker_container_network_receive_bytes_total"
	scFamNetTransmit   = "docker_container_network_transmit_bytes_total"
	scFamBlockRead     = "docker_container_block_io_read_bytes_total"
	scFamBlockWrite    = "docker_container_block_io_write_bytes_total"
)

// scKind is the OTLP data type a semconv metric is emitted as.
type scKind int

const (
	scFloatCounter scKind = iota // monotonic cumulative Sum[float64]
	scIntCounter                 // monotonic cumulative Sum[int64]
	scIntUpDown                  // non-monotonic cumulative Sum[int64]
	scFloatGauge                 // Gauge[float64]
)

// scSource is one Prometheus family feeding a semconv metric, with the
// attributes that tell its points apart from the other sources' points.
type scSource struct {
	family string
	attrs  []attribute.KeyValue
	// iface copies the Prometheus interface label, without which network
	// points of one container would collide.
	iface bool
}

type scSpec struct {
	name, unit, desc string
	kind             scKind
	sources          []scSource
}

var (
	scCPUTime    = containerconv.CPUTime{}
	scMemUsage   = containerconv.MemoryUsage{}
	scWorkingSet = containerconv.MemoryWorkingSet{}
	scNetworkIO  = containerconv.NetworkIO{}
	scDiskIO     = containerconv.DiskIO{}
	scUptime     = containerconv.Uptime{}
)

// scSpecs lists the metrics in output order.
var scSpecs = []scSpec{
	{scCPUTime.Name(), scCPUTime.Unit(), scCPUTime.Description(), scFloatCounter, []scSource{
		{family: scFamCPUUser, attrs: []attribute.KeyValue{scCPUTime.AttrCPUMode(containerconv.CPUModeUser)}},
		// Docker's usage_in_kernelmode is kernel time. semconv v1.42 removed
		// cpu.mode="kernel" from the enum, so "system" is the value left for it.
		{family: scFamCPUSystem, attrs: []attribute.KeyValue{scCPUTime.AttrCPUMode(containerconv.CPUModeSystem)}},
	}},
	// semconv declares container.memory.usage a Counter, but the value falls
	// when memory is freed; a monotonic sum would make backends read every drop
	// as a reset. It goes out as an UpDownCounter-style sum, like the spec's
	// own container.memory.working_set.
	{scMemUsage.Name(), scMemUsage.Unit(), scMemUsage.Description(), scIntUpDown, []scSource{{family: scFamMemUsage}}},
	{scWorkingSet.Name(), scWorkingSet.Unit(), scWorkingSet.Description(), scIntUpDown, []scSource{{family: scFamMemWorkingSet}}},
	{scNetworkIO.Name(), scNetworkIO.Unit(), scNetworkIO.Description(), scIntCounter, []scSource{
		{family: scFamNetReceive, iface: true, attrs: []attribute.KeyValue{
			scNetworkIO.AttrNetworkIODirection(containerconv.NetworkIODirectionReceive)}},
		{family: scFamNetTransmit, iface: true, attrs: []attribute.KeyValue{
			scNetworkIO.AttrNetworkIODirection(containerconv.NetworkIODirectionTransmit)}},
	}},
	{scDiskIO.Name(), scDiskIO.Unit(), scDiskIO.Description(), scIntCounter, []scSource{
		{family: scFamBlockRead, attrs: []attribute.KeyValue{scDiskIO.AttrDiskIODirection(containerconv.DiskIODirectionRead)}},
		{family: scFamBlockWrite, attrs: []attribute.KeyValue{scDiskIO.AttrDiskIODirection(containerconv.DiskIODirectionWrite)}},
	}},
}

// semconvMetrics derives the semantic-convention container metrics from one gather's families.
func semconvMetrics(fams []*dto.MetricFamily, now time.Time) metricdata.ScopeMetrics {
	ix := newSCIndex(fams, now)
	sm := metricdata.ScopeMetrics{Scope: semconvScope}
	add := func(name, unit, desc string, k scKind, pts []scPoint) {
		if len(pts) == 0 {
			return
		}
		sm.Metrics = append(sm.Metrics, metricdata.Metrics{
			Name: name, Unit: unit, Description: desc, Data: scAggregate(k, pts, now),
		})
	}
	for _, s := range scSpecs {
		add(s.name, s.unit, s.desc, s.kind, ix.collect(s.sources))
	}
	add(scUptime.Name(), scUptime.Unit(), scUptime.Description(), scFloatGauge, ix.uptime())
	return sm
}

type scKey struct{ host, name string }

// scContainer is what the non-stats families say about one container.
type scContainer struct {
	attrs   []attribute.KeyValue
	started time.Time // zero if unknown or unusable
	start   time.Time // StartTime of the container's cumulative points
}

type scPoint struct {
	key   scKey
	enc   string // encoded attributes: a total order within one container
	attrs attribute.Set
	start time.Time
	value float64
}

type scIndex struct {
	now      time.Time
	families map[string][]*dto.Metric
	// The first series per container wins, so duplicate series resolve the
	// same way on every gather instead of flapping.
	info, running, started, created map[scKey]*dto.Metric
	containers                      map[scKey]*scContainer
}

func newSCIndex(fams []*dto.MetricFamily, now time.Time) *scIndex {
	ix := &scIndex{now: now, families: map[string][]*dto.Metric{}, containers: map[scKey]*scContainer{}}
	for _, f := range fams {
		// Same-named families are merged: the per-point dedup below copes.
		ix.families[f.GetName()] = append(ix.families[f.GetName()], f.GetMetric()...)
	}
	ix.info = scFirstPerContainer(ix.families[scFamInfo], nil)
	ix.running = scFirstPerContainer(ix.families[scFamState], func(m *dto.Metric) bool {
		s, _ := scLabel(m, "state")
		return s == "running"
	})
	ix.started = scFirstPerContainer(ix.families[scFamStarted], nil)
	ix.created = scFirstPerContainer(ix.families[scFamCreated], nil)
	return ix
}

func scFirstPerContainer(ms []*dto.Metric, keep func(*dto.Metric) bool) map[scKey]*dto.Metric {
	out := map[scKey]*dto.Metric{}
	for _, m := range ms {
		k, ok := scKeyOf(m)
		if !ok || (keep != nil && !keep(m)) {
			continue
		}
		if _, dup := out[k]; !dup {
			out[k] = m
		}
	}
	return out
}

func (ix *scIndex) container(k scKey) *scContainer {
	if c, ok := ix.containers[k]; ok {
		return c
	}
	c := &scContainer{attrs: scIdentity(k, ix.info[k])}
	c.started = ix.timestamp(ix.started[k])
	// The stats counters restart with each run, so the last start is when
	// their accumulation began; created is the best bound short of that.
	c.start = c.started
	if c.start.IsZero() {
		c.start = ix.timestamp(ix.created[k])
	}
	if c.start.IsZero() {
		c.start = ix.now
	}
	ix.containers[k] = c
	return c
}

// scIdentity builds the attributes every point of the container carries.
// Without an info series only host and name are known.
func scIdentity(k scKey, info *dto.Metric) []attribute.KeyValue {
	kvs := []attribute.KeyValue{semconv.HostName(k.host), semconv.ContainerName(k.name)}
	if info == nil {
		return kvs
	}
	if id, _ := scLabel(info, "id"); id != "" {
		kvs = append(kvs, semconv.ContainerID(id))
	}
	ref, _ := scLabel(info, "image")
	name, tag := splitImageRef(ref)
	if name != "" {
		kvs = append(kvs, semconv.ContainerImageName(name))
	}
	if tag != "" {
		kvs = append(kvs, semconv.ContainerImageTags(tag))
	}
	return kvs
}

// splitImageRef splits a Docker image reference into the semconv image name and
// tag, which semconv keeps apart (container.image.tags holds only the tag).
// A digest is dropped: it is not a tag and not part of the name.
func splitImageRef(ref string) (name, tag string) {
	if at := strings.IndexByte(ref, '@'); at >= 0 {
		ref = ref[:at]
	}
	// A container created from an image ID has no name to split; the
	// "algorithm:hex" colon is not a tag separator.
	if strings.HasPrefix(ref, "sha256:") {
		return ref, ""
	}
	// A colon before the last slash belongs to a registry port.
	slash := strings.LastIndexByte(ref, '/')
	if colon := strings.LastIndexByte(ref, ':'); colon > slash {
		return ref[:colon], ref[colon+1:]
	}
	return ref, ""
}

// timestamp returns the Unix-seconds value of m, or the zero time when it is
// absent, not positive, not finite or later than now.
func (ix *scIndex) timestamp(m *dto.Metric) time.Time {
	v, ok := scValue(m)
	if !ok || v <= 0 {
		return time.Time{}
	}
	sec, frac := math.Modf(v)
	t := time.Unix(int64(sec), int64(frac*1e9))
	if t.After(ix.now) {
		return time.Time{}
	}
	return t
}

// collect maps the sources' series to points, dropping any series that lacks
// a container, a usable value or (for network) an interface.
func (ix *scIndex) collect(srcs []scSource) []scPoint {
	var pts []scPoint
	seen := map[attribute.Distinct]bool{}
	for _, s := range srcs {
		for _, m := range ix.families[s.family] {
			k, ok := scKeyOf(m)
			if !ok {
				continue
			}
			v, ok := scValue(m)
			if !ok {
				continue
			}
			c := ix.container(k)
			kvs := slices.Concat(c.attrs, s.attrs)
			if s.iface {
				iface, _ := scLabel(m, "interface")
				if iface == "" {
					continue
				}
				kvs = append(kvs, scNetworkIO.AttrNetworkInterfaceName(iface))
			}
			set := attribute.NewSet(kvs...)
			if seen[set.Equivalent()] {
				continue
			}
			seen[set.Equivalent()] = true
			pts = append(pts, scPoint{key: k, enc: set.Encoded(attribute.DefaultEncoder()), attrs: set, start: c.start, value: v})
		}
	}
	scSortPoints(pts)
	return pts
}

// uptime derives container.uptime for the containers whose running state is 1
// and whose start time is usable.
func (ix *scIndex) uptime() []scPoint {
	var pts []scPoint
	for k, m := range ix.running {
		if v, ok := scValue(m); !ok || v != 1 {
			continue
		}
		c := ix.container(k)
		if c.started.IsZero() {
			continue
		}
		set := attribute.NewSet(c.attrs...)
		pts = append(pts, scPoint{
			key: k, enc: set.Encoded(attribute.DefaultEncoder()), attrs: set,
			value: ix.now.Sub(c.started).Seconds(),
		})
	}
	scSortPoints(pts)
	return pts
}

func scSortPoints(pts []scPoint) {
	slices.SortFunc(pts, func(a, b scPoint) int {
		return cmp.Or(
			strings.Compare(a.key.host, b.key.host),
			strings.Compare(a.key.name, b.key.name),
			strings.Compare(a.enc, b.enc),
		)
	})
}

func scAggregate(k scKind, pts []scPoint, now time.Time) metricdata.Aggregation {
	cumulative := metricdata.CumulativeTemporality
	switch k {
	case scFloatCounter:
		return metricdata.Sum[float64]{DataPoints: scDataPoints[float64](pts, now, true), Temporality: cumulative, IsMonotonic: true}
	case scIntCounter:
		return metricdata.Sum[int64]{DataPoints: scDataPoints[int64](pts, now, true), Temporality: cumulative, IsMonotonic: true}
	case scIntUpDown:
		return metricdata.Sum[int64]{DataPoints: scDataPoints[int64](pts, now, true), Temporality: cumulative}
	default:
		return metricdata.Gauge[float64]{DataPoints: scDataPoints[float64](pts, now, false)}
	}
}

// scDataPoints converts points; withStart is false for gauges, whose StartTime
// OTLP leaves optional.
func scDataPoints[N int64 | float64](pts []scPoint, now time.Time, withStart bool) []metricdata.DataPoint[N] {
	out := make([]metricdata.DataPoint[N], 0, len(pts))
	for _, p := range pts {
		dp := metricdata.DataPoint[N]{Attributes: p.attrs, Time: now, Value: N(p.value)}
		if withStart {
			dp.StartTime = p.start
		}
		out = append(out, dp)
	}
	return out
}

// scKeyOf identifies the container a series belongs to. Series without a host
// or a name cannot be attributed and are skipped.
func scKeyOf(m *dto.Metric) (scKey, bool) {
	host, _ := scLabel(m, "host")
	name, _ := scLabel(m, "name")
	return scKey{host, name}, host != "" && name != ""
}

// scLabel returns the first value of the named label. Values are made valid
// UTF-8 because OTLP's protobuf strings must be, and a single bad value would
// otherwise fail the whole export.
func scLabel(m *dto.Metric, name string) (string, bool) {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return strings.ToValidUTF8(lp.GetValue(), "\uFFFD"), true
		}
	}
	return "", false
}

// scValue returns the series' sample if it is usable by every semconv metric
// here: all of them are non-negative, and the upper bound keeps the int64
// conversion of byte counts exact and defined.
func scValue(m *dto.Metric) (float64, bool) {
	var v float64
	switch {
	case m.GetCounter() != nil:
		v = m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		v = m.GetGauge().GetValue()
	case m.GetUntyped() != nil:
		v = m.GetUntyped().GetValue()
	default:
		return 0, false
	}
	// Both comparisons are false for NaN; +Inf fails the upper bound.
	return v, v >= 0 && v < 0x1p63
}
