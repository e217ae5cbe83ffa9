package api

import (
	"strings"
	"testing"
	"time"

	"github.com/snadboy/docker-monitor/config"
	"github.com/snadboy/docker-monitor/hostpool"
	"github.com/snadboy/docker-monitor/internal/testlab"
)

// TestHostDown: a host whose daemon went away is down with a reason, and
// its containers, which nothing confirms any more, are left out.
func TestHostDown(t *testing.T) {
	fake := restFakeServer(t)
	a, pool := restAPI(t, hostpool.DefaultOptions, DefaultOptions, true, testlab.Host(t, "fake", fake.Host))
	var h Host
	restGetJSON(t, a, "/hosts/fake", 200, &h)
	if h.Status != statusUp || h.Containers["running"] != 4 || h.ContainersTotal != 9 || h.Reason != "" {
		t.Fatalf("before: %+v", h)
	}
	fake.Close()
	restWaitFor(t, "the event stream to break", func() bool { return !pool.Host("fake").Snapshot().StreamUp })

	restGetJSON(t, a, "/hosts/fake", 200, &h)
	if h.Status != statusDown || h.Reason == "" || h.LastError == nil || h.LastError.Reason != h.Reason || h.LastError.At == nil ||
		h.EventStreamUp || !h.Synced || h.Containers != nil || h.ContainersTotal != 0 {
		t.Errorf("down: %+v (last error %+v)", h, h.LastError)
	}
	var list ContainerList
	restGetJSON(t, a, "/containers", 200, &list)
	if list.Total != 0 || list.Containers == nil || len(list.Containers) != 0 {
		t.Errorf("containers of a host that is down: %+v", list)
	}
	restWantError(t, a, "/containers/fake/web", 503, `host "fake" is down (`+h.Reason+`): its containers cannot be confirmed`)
	restWantError(t, a, "/containers/fake/web/stats", 503, `host "fake" is down`)
	var hosts HostList
	restGetJSON(t, a, "/hosts", 200, &hosts)
	if len(hosts.Hosts) != 1 || hosts.Hosts[0].Status != statusDown {
		t.Errorf("/hosts: %+v", hosts)
	}
}

// TestHostConnecting: until its first sync attempt ends, a host is
// connecting, and has no containers to show.
func TestHostConnecting(t *testing.T) {
	fake := restFakeServer(t)
	release := fake.Hold("containers")
	t.Cleanup(release)
	a, _ := restAPI(t, hostpool.DefaultOptions, DefaultOptions, false, testlab.Host(t, "fake", fake.Host))
	var h Host
	restGetJSON(t, a, "/hosts/fake", 200, &h)
	if h.Status != statusConnecting || h.Synced || h.EventStreamUp || h.Containers != nil || h.Reason != "" {
		t.Errorf("connecting: %+v", h)
	}
	restWantError(t, a, "/containers/fake/web", 503, `host "fake" is connecting`)
	rec := restGet(t, a, "/containers")
	if !strings.Contains(rec.Body.String(), `"containers":[]`) {
		t.Errorf("/containers: %s", rec.Body)
	}
}

// TestHostNoCredentials: nothing of how the exporter authenticates to a
// host is shown, only its endpoint.
func TestHostNoCredentials(t *testing.T) {
	hc := config.Host{
		Alias: "ssh1", Connection: config.ConnSSH, Endpoint: "ssh://me@127.0.0.1:1", Address: "127.0.0.1", Port: 1, User: "me",
		Enabled: true, Description: "a host", Labels: map[string]string{"site": "lab"},
		SSH: config.SSH{KeyFile: "/secret/id_ed25519", PasswordFile: "/secret/password", PassphraseFile: "/secret/passphrase",
			KnownHosts: "/secret/known_hosts", HostKeyPolicy: "strict", RemoteSocket: "/secret/docker.sock", Timeout: time.Second},
	}
	a, pool := restAPI(t, hostpool.DefaultOptions, DefaultOptions, false, hc)
	restWaitFor(t, "the first connection to fail", func() bool { return pool.Host("ssh1").Snapshot().Status.LastErr != nil })
	rec := restGet(t, a, "/hosts/ssh1")
	if strings.Contains(rec.Body.String(), "/secret") {
		t.Errorf("a host's credentials in its answer: %s", rec.Body)
	}
	var h Host
	restGetJSON(t, a, "/hosts/ssh1", 200, &h)
	if h.Endpoint != hc.Endpoint || h.Connection != "ssh" || h.Description != "a host" || h.Labels["site"] != "lab" {
		t.Errorf("%+v", h)
	}
}
