package collector

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

var eventsDesc = prometheus.NewDesc("docker_events_total",
	"Docker events received from the host's event stream, by type (container, image, network, volume, daemon) and action.",
	[]string{"host", "type", "action"}, nil)

// eventsConcern reports the counters the event goroutines keep; they are
// reported for hosts that are down too, since counters must not reset.
type eventsConcern struct{}

func (eventsConcern) describe(ch chan<- *prometheus.Desc) { ch <- eventsDesc }

func (eventsConcern) update(_ context.Context, views []*hostView, ch chan<- prometheus.Metric) error {
	for _, v := range views {
		for k, n := range v.snap.Events {
			ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.CounterValue, n, v.host.Alias, k.Type, k.Action)
		}
	}
	return nil
}
