package metricsdoc

import "testing"

func TestLoad(t *testing.T) {
	m, err := Load("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, labels := range map[string][]string{
		"docker_host_up":                   {"host", "job", "instance"},
		"docker_container_cpu_limit_cores": {"host", "name"},
		"revp_route_up":                    {"host", "container", "port", "domain"},
		"docker_monitor_api_request_duration_seconds_bucket": {"host", "endpoint"},
	} {
		got, ok := m[name]
		if !ok {
			t.Errorf("%s not found", name)
			continue
		}
		for _, l := range labels {
			if !got.Labels[l] {
				t.Errorf("%s: label %s missing from %v", name, l, got.Labels)
			}
		}
	}
	if m["docker_container_restarts_total"].Type != "counter" {
		t.Errorf("docker_container_restarts_total: type %q", m["docker_container_restarts_total"].Type)
	}
}
