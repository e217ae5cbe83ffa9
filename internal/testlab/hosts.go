package testlab

import (
	"testing"

	"github.com/snadboy/docker-monitor/config"
)

// Host is the hosts-file model of a daemon given by a DOCKER_HOST-style URI
// (unix:// or plain tcp://), named alias, as --docker.host makes it.
func Host(t testing.TB, alias, uri string) config.Host {
	t.Helper()
	h, err := config.FromURI(alias, uri, config.TCP{})
	if err != nil {
		t.Fatalf("testlab: host %s: %v", alias, err)
	}
	return h
}
