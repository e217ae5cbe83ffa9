package collector

import (
	"context"
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/snadboy/docker-monitor/hostpool"
)

var (
	hostUpDesc = prometheus.NewDesc("docker_host_up",
		"1 if the Docker daemon answered a ping in this scrape.", []string{"host"}, nil)
	hostInfoLabels = []string{"host", "version", "api_version", "os", "kernel_version", "architecture"}
	hostInfoHelp   = "The Docker daemon's version, API version, operating system, kernel and architecture, and the host's labels from the hosts file; always 1."
	hostInfoDesc   = prometheus.NewDesc("docker_host_info", hostInfoHelp, hostInfoLabels, nil)
	hostConnDesc   = prometheus.NewDesc("docker_host_connection_info",
		"How the exporter reaches the host: connection (local, ssh, tcp) and endpoint; always 1.",
		[]string{"host", "connection", "endpoint"}, nil)
	hostPingDesc = prometheus.NewDesc("docker_host_ping_duration_seconds",
		"How long the daemon took to answer this scrape's ping.", []string{"host"}, nil)
	hostContainersDesc = prometheus.NewDesc("docker_host_containers",
		"Containers on the host by state.", []string{"host", "state"}, nil)
	hostImagesDesc = prometheus.NewDesc("docker_host_images",
		"Images on the host, intermediate layers included.", []string{"host"}, nil)
	hostSyncedDesc = prometheus.NewDesc("docker_host_synced",
		"1 once a full list of the host's containers has completed since it joined the pool; until then its container, stats and RevP series are absent, not zero.", []string{"host"}, nil)
	hostStreamDesc = prometheus.NewDesc("docker_host_events_stream_up",
		"1 if the exporter is following the host's event stream and its container cache is current.", []string{"host"}, nil)
	hostCPUsDesc = prometheus.NewDesc("docker_host_cpus",
		"CPUs the Docker daemon reports.", []string{"host"}, nil)
	hostMemoryDesc = prometheus.NewDesc("docker_host_memory_bytes",
		"Memory the Docker daemon reports, in bytes.", []string{"host"}, nil)
)

type hostConcern struct{}

func (hostConcern) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{hostUpDesc, hostInfoDesc, hostConnDesc, hostPingDesc, hostContainersDesc,
		hostImagesDesc, hostSyncedDesc, hostStreamDesc, hostCPUsDesc, hostMemoryDesc} {
		ch <- d
	}
}

func (hostConcern) update(_ context.Context, views []*hostView, ch chan<- prometheus.Metric) error {
	infoDesc, extra := hostInfoWithLabels(views)
	for _, v := range views {
		name := v.host.Alias
		ch <- prometheus.MustNewConstMetric(hostUpDesc, prometheus.GaugeValue, boolToFloat(v.up), name)
		ch <- prometheus.MustNewConstMetric(hostConnDesc, prometheus.GaugeValue, 1, name, v.host.Connection, v.host.Endpoint)
		ch <- prometheus.MustNewConstMetric(hostStreamDesc, prometheus.GaugeValue, boolToFloat(v.up && v.snap.StreamUp), name)
		ch <- prometheus.MustNewConstMetric(hostSyncedDesc, prometheus.GaugeValue, boolToFloat(v.snap.Synced), name)
		if !v.up {
			continue
		}
		in := v.snap.Info
		ch <- prometheus.MustNewConstMetric(hostPingDesc, prometheus.GaugeValue, v.pingDur.Seconds(), name)
		if in.Version != "" {
			values := []string{name, in.Version, in.APIVersion, in.OS, in.KernelVersion, in.Architecture}
			for _, k := range extra {
				values = append(values, v.host.Labels[k])
			}
			ch <- prometheus.MustNewConstMetric(infoDesc, prometheus.GaugeValue, 1, values...)
			ch <- prometheus.MustNewConstMetric(hostImagesDesc, prometheus.GaugeValue, float64(in.Images), name)
			ch <- prometheus.MustNewConstMetric(hostCPUsDesc, prometheus.GaugeValue, float64(in.CPUs), name)
			ch <- prometheus.MustNewConstMetric(hostMemoryDesc, prometheus.GaugeValue, float64(in.MemoryBytes), name)
		}
		if !v.snap.Synced {
			continue
		}
		counts := make(map[string]int, len(hostpool.States))
		for _, c := range v.snap.Containers {
			counts[c.State]++
		}
		for _, s := range statesByValue {
			ch <- prometheus.MustNewConstMetric(hostContainersDesc, prometheus.GaugeValue, float64(counts[s]), name, s)
		}
	}
	return nil
}

// hostInfoWithLabels adds the hosts file's labels to docker_host_info. All
// series of a metric must have the same label names, so every host gets the
// union, empty where a host does not set one.
func hostInfoWithLabels(views []*hostView) (*prometheus.Desc, []string) {
	seen := map[string]bool{}
	var extra []string
	for _, v := range views {
		for k := range v.host.Labels {
			if !seen[k] {
				seen[k] = true
				extra = append(extra, k)
			}
		}
	}
	if len(extra) == 0 {
		return hostInfoDesc, nil
	}
	sort.Strings(extra)
	return prometheus.NewDesc("docker_host_info", hostInfoHelp, append(append([]string(nil), hostInfoLabels...), extra...), nil), extra
}
