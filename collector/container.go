package collector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/snadboy/docker-monitor/hostpool"
)

var (
	containerLabels = []string{"host", "name"}

	containerStateDesc = prometheus.NewDesc("docker_container_state",
		"1 for the container's current state, 0 for the others (created, running, paused, restarting, removing, exited, dead).",
		[]string{"host", "name", "state"}, nil)
	containerHealthDesc = prometheus.NewDesc("docker_container_health_status",
		"1 for the container's current health (starting, healthy, unhealthy), 0 for the others; only for running containers with a healthcheck.",
		[]string{"host", "name", "status"}, nil)
	containerFailingStreakDesc = prometheus.NewDesc("docker_container_health_failing_streak",
		"Consecutive failed healthchecks; only for running containers with a healthcheck.", containerLabels, nil)
	containerRestartsDesc = prometheus.NewDesc("docker_container_restarts_total",
		"Times Docker restarted the container under its restart policy.", containerLabels, nil)
	containerExitCodeDesc = prometheus.NewDesc("docker_container_exit_code",
		"Exit code of the container's last run (0 while it has never exited).", containerLabels, nil)
	containerOOMDesc = prometheus.NewDesc("docker_container_oom_killed",
		"1 if the kernel OOM-killed the container's last run.", containerLabels, nil)
	containerCreatedDesc = prometheus.NewDesc("docker_container_created_timestamp_seconds",
		"When the container was created, in seconds since the Unix epoch.", containerLabels, nil)
	containerStartedDesc = prometheus.NewDesc("docker_container_started_timestamp_seconds",
		"When the container last started, in seconds since the Unix epoch; absent if it never started.", containerLabels, nil)
	containerCPULimitDesc = prometheus.NewDesc("docker_container_cpu_limit_cores",
		"CPU limit of the container in cores (--cpus, or --cpu-quota over --cpu-period); absent without a limit.", containerLabels, nil)
	containerFinishedDesc = prometheus.NewDesc("docker_container_finished_timestamp_seconds",
		"When the container last stopped, in seconds since the Unix epoch; absent if it never stopped.", containerLabels, nil)
)

// statesByValue and healthByValue are hostpool.States and
// hostpool.HealthStatuses sorted. The registry sorts each family's series
// by label values: emitted already in that order (hosts by alias,
// containers by name, then these), a family costs its sort one pass
// instead of n log n comparisons that each chase pointers through memory,
// which was the largest part of gathering 10 hosts of 1,000 containers.
var (
	statesByValue = slices.Sorted(slices.Values(hostpool.States))
	healthByValue = slices.Sorted(slices.Values(hostpool.HealthStatuses))
)

type containerConcern struct {
	infoDesc  *prometheus.Desc
	labelKeys []string // Docker label keys, in the order of the extra label names
}

// CheckLabelAllowlist rejects an empty key, which would add a label_ that
// no Docker label can fill, and keys that would become the same label.
func CheckLabelAllowlist(allow []string) error {
	seen := map[string]string{}
	for _, k := range allow {
		if strings.TrimSpace(k) == "" {
			return errors.New("container label allowlist: an empty key")
		}
		n := LabelName(k)
		if prev, ok := seen[n]; ok {
			return fmt.Errorf("container label allowlist: %q and %q both become label %s", prev, k, n)
		}
		seen[n] = k
	}
	return nil
}

func newContainerConcern(allow []string) (*containerConcern, error) {
	if err := CheckLabelAllowlist(allow); err != nil {
		return nil, err
	}
	names := []string{"host", "name", "id", "image", "image_id", "compose_project", "compose_service"}
	for _, k := range allow {
		names = append(names, LabelName(k))
	}
	return &containerConcern{
		infoDesc: prometheus.NewDesc("docker_container_info",
			"Container identity: short ID, image, image ID, compose project and service, and allow-listed Docker labels; always 1.",
			names, nil),
		labelKeys: allow,
	}, nil
}

// LabelName turns a Docker label key into a Prometheus label name:
// "com.example.team" becomes "label_com_example_team".
func LabelName(key string) string {
	b := []byte("label_" + key)
	for i, c := range b {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

func (cc *containerConcern) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cc.infoDesc, containerStateDesc, containerHealthDesc, containerFailingStreakDesc,
		containerRestartsDesc, containerExitCodeDesc, containerOOMDesc, containerCreatedDesc, containerStartedDesc, containerFinishedDesc, containerCPULimitDesc} {
		ch <- d
	}
}

func (cc *containerConcern) update(_ context.Context, views []*hostView, ch chan<- prometheus.Metric) error {
	for _, v := range views {
		if !v.cacheUsable() {
			continue
		}
		for _, c := range v.snap.Containers {
			cc.emit(ch, v.host.Alias, c)
		}
	}
	return anySyncing(views)
}

func (cc *containerConcern) emit(ch chan<- prometheus.Metric, host string, c *hostpool.Container) {
	gauge := func(d *prometheus.Desc, v float64, extra ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{host, c.Name}, extra...)...)
	}
	info := []string{hostpool.ShortID(c.ID), c.Image, c.ImageID, c.ComposeProject, c.ComposeService}
	for _, k := range cc.labelKeys {
		info = append(info, c.Labels[k])
	}
	gauge(cc.infoDesc, 1, info...)
	for _, s := range statesByValue {
		gauge(containerStateDesc, boolToFloat(c.State == s), s)
	}
	if c.Health != "" {
		for _, s := range healthByValue {
			gauge(containerHealthDesc, boolToFloat(c.Health == s), s)
		}
		gauge(containerFailingStreakDesc, float64(c.FailingStreak))
	}
	ch <- prometheus.MustNewConstMetric(containerRestartsDesc, prometheus.CounterValue, float64(c.RestartCount), host, c.Name)
	gauge(containerExitCodeDesc, float64(c.ExitCode))
	gauge(containerOOMDesc, boolToFloat(c.OOMKilled))
	timestamp := func(d *prometheus.Desc, t time.Time) {
		if !t.IsZero() {
			gauge(d, float64(t.UnixNano())/1e9)
		}
	}
	timestamp(containerCreatedDesc, c.Created)
	timestamp(containerStartedDesc, c.StartedAt)
	timestamp(containerFinishedDesc, c.FinishedAt)
	if c.CPULimit > 0 {
		gauge(containerCPULimitDesc, c.CPULimit)
	}
}
