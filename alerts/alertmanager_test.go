package alerts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/snadboy/docker-monitor/internal/testlab"
)

// hostHealth are the alerts examples/alertmanager.yml routes to docker-hosts.
var hostHealth = []string{
	"DockerMonitorDown", "DockerHostDown", "DockerHostEventsStreamDown",
	"DockerMonitorCollectorFailing", "DockerMonitorConfigReloadFailed",
}

func TestAmtoolCheckConfig(t *testing.T) {
	amtool := requireTool(t, "amtool", "prometheus-alertmanager")
	run(t, amtool, "check-config", amConfigPath)
}

// Where examples/alertmanager.yml sends each alert, with the labels the
// rules give it.
func TestAlertmanagerRoutes(t *testing.T) {
	amtool := requireTool(t, "amtool", "prometheus-alertmanager")
	_, rules := loadRules(t, Rules)
	for _, r := range rules {
		want := "docker-containers"
		switch {
		case slices.Contains(hostHealth, r.Alert):
			want = "docker-hosts"
		case r.Labels["severity"] == "info":
			want = "docker-info"
		}
		run(t, amtool, "config", "routes", "test", "--config.file="+amConfigPath, "--verify.receivers="+want,
			"alertname="+r.Alert, "severity="+r.Labels["severity"], "job=docker-monitor", "instance=dm:9742", "host=h1")
	}
}

// amAlert is an alert as the Alertmanager API v2 takes and returns it.
type amAlert struct {
	Labels map[string]string `json:"labels"`
	Status struct {
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status,omitzero"`
}

func mkAlert(name string, kv ...string) amAlert {
	a := amAlert{Labels: map[string]string{"alertname": name, "job": "docker-monitor", "instance": "dm:9742", "severity": "warning"}}
	for i := 0; i+1 < len(kv); i += 2 {
		a.Labels[kv[i]] = kv[i+1]
	}
	return a
}

// The inhibit rules of examples/alertmanager.yml, in a real Alertmanager:
// an alert is muted only by the right alert of the same exporter and host.
func TestAlertmanagerInhibitions(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not starting an Alertmanager")
	}
	cases := []struct {
		alert     amAlert
		inhibited bool
	}{
		{mkAlert("DockerHostDown", "host", "h1"), false},
		{mkAlert("ContainerUnhealthy", "host", "h1", "name", "web"), true},                                 // its host is down
		{mkAlert("ContainerUnhealthy", "host", "h2", "name", "web"), false},                                // another host
		{mkAlert("ContainerUnhealthy", "host", "h1", "name", "web", "instance", "other:9742"), false},      // another exporter's "h1"
		{mkAlert("RevPRouteDown", "host", "h1", "container", "app", "port", "80", "domain", "a.io"), true}, // host down
		{mkAlert("RevPProbeFailing", "host", "h2", "container", "api", "port", "8080"), false},
		{mkAlert("RevPRouteDown", "host", "h2", "container", "api", "port", "8080", "domain", "b.io"), true},  // its probe fails
		{mkAlert("RevPRouteDown", "host", "h2", "container", "api", "port", "9090", "domain", "c.io"), false}, // another port
		{mkAlert("DockerMonitorDown", "instance", "down:9742"), false},
		{mkAlert("DockerHostDown", "host", "h3", "instance", "down:9742"), true},                    // exporter down
		{mkAlert("ContainerOOMKilled", "host", "h3", "name", "big", "instance", "down:9742"), true}, // both
		{mkAlert("RevPDomainConflict", "domain", "d.io"), false},                                    // no host, its exporter up
		{mkAlert("DockerHostEventsStreamDown", "host", "h2"), false},                                // exporter up
		{mkAlert("DockerMonitorCollectorFailing", "collector", "stats", "instance", "up:9742"), false},
		{mkAlert("ContainerHighMemory", "host", "h1", "name", "web", "job", "other"), false}, // another job
	}
	var alerts []amAlert
	want := map[string]bool{}
	for _, c := range cases {
		alerts = append(alerts, c.alert)
		want[labelsKey(c.alert.Labels)] = c.inhibited
	}
	base := testlab.StartAlertmanager(t, readFile(t, amConfigPath)).URL + "/api/v2/alerts"
	deadline := time.Now().Add(20 * time.Second)
	postAlerts(t, base, alerts, deadline)
	pollInhibitions(t, base, want, deadline)
}

// postAlerts posts alerts to url until the Alertmanager, which may still
// be starting, accepts them.
func postAlerts(t *testing.T, url string, alerts []amAlert, deadline time.Time) {
	t.Helper()
	body, err := json.Marshal(alerts)
	if err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := http.Post(url, "application/json", bytes.NewReader(body))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("POST %s: %s", url, resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager did not accept the alerts: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pollInhibitions reads the alerts from url until each of want (by
// labelsKey) is present and inhibited or not as it says.
func pollInhibitions(t *testing.T, url string, want map[string]bool, deadline time.Time) {
	t.Helper()
	for {
		got := getAlerts(t, url)
		var wrong []string
		for k, w := range want {
			if v, ok := got[k]; !ok || v != w {
				wrong = append(wrong, fmt.Sprintf("%s: present %v, inhibited %v, want inhibited %v", k, ok, v, w))
			}
		}
		if len(wrong) == 0 {
			return
		}
		if time.Now().After(deadline) {
			slices.Sort(wrong)
			t.Fatalf("inhibitions:\n%s", strings.Join(wrong, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// getAlerts returns whether each alert at url is inhibited, by labelsKey.
func getAlerts(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []amAlert
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	inhibited := map[string]bool{}
	for _, a := range got {
		inhibited[labelsKey(a.Labels)] = len(a.Status.InhibitedBy) > 0
	}
	return inhibited
}

func labelsKey(l map[string]string) string {
	s := model.LabelSet{}
	for k, v := range l {
		s[model.LabelName(k)] = model.LabelValue(v)
	}
	return s.String()
}
