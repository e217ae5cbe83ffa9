package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestFromURIs(t *testing.T) {
	t.Setenv("HOME", home)
	t.Setenv("USER", "monitor")
	t.Setenv("SSH_AUTH_SOCK", "")
	certs := TCP{TLSVerify: true, CertPath: "testdata/certs"}
	uriSSH := func(agent bool) SSH {
		s := sshDefaults("")
		s.Agent = agent
		return s
	}
	local := func(alias, path string) Host {
		return Host{Alias: alias, Connection: "local", Endpoint: "unix://" + path, Address: path, Enabled: true}
	}
	for _, tc := range []struct {
		name  string
		uris  []string
		tls   TCP
		agent string // SSH_AUTH_SOCK
		want  []Host
	}{
		{name: "default socket", uris: []string{"unix:///var/run/docker.sock"},
			want: []Host{local("local", "/var/run/docker.sock")}},
		{name: "several sockets", uris: []string{"unix:///var/run/docker.sock", "unix:///run/user/1000/docker.sock", "unix:///run/podman/podman.sock"},
			want: []Host{local("docker", "/var/run/docker.sock"), local("docker-2", "/run/user/1000/docker.sock"), local("podman", "/run/podman/podman.sock")}},
		{name: "ssh with user and port", uris: []string{"ssh://deploy@web.example.net:2222"},
			want: []Host{{Alias: "web.example.net", Connection: "ssh", Endpoint: "ssh://deploy@web.example.net:2222",
				Address: "web.example.net", Port: 2222, User: "deploy", Enabled: true, SSH: uriSSH(false)}}},
		{name: "ssh defaults, agent", uris: []string{"ssh://web"}, agent: "/tmp/agent.sock",
			want: []Host{{Alias: "web", Connection: "ssh", Endpoint: "ssh://monitor@web:22",
				Address: "web", Port: 22, User: "monitor", Enabled: true, SSH: uriSSH(true)}}},
		{name: "ssh IPv6", uris: []string{"ssh://u@[2001:db8::1]:22"},
			want: []Host{{Alias: "2001:db8::1", Connection: "ssh", Endpoint: "ssh://u@[2001:db8::1]:22",
				Address: "2001:db8::1", Port: 22, User: "u", Enabled: true, SSH: uriSSH(false)}}},
		{name: "tcp plain", uris: []string{"tcp://docker.example.net"},
			want: []Host{{Alias: "docker.example.net", Connection: "tcp", Endpoint: "tcp://docker.example.net:2375",
				Address: "docker.example.net", Port: 2375, Enabled: true}}},
		{name: "tcp TLS", uris: []string{"tcp://docker.example.net", "tcp://b.example.net:12376"}, tls: certs,
			want: []Host{
				{Alias: "b.example.net", Connection: "tcp", Endpoint: "tcp://b.example.net:12376",
					Address: "b.example.net", Port: 12376, Enabled: true, TCP: certs},
				{Alias: "docker.example.net", Connection: "tcp", Endpoint: "tcp://docker.example.net:2376",
					Address: "docker.example.net", Port: 2376, Enabled: true, TCP: certs},
			}},
		{name: "TLS verify against system roots", uris: []string{"tcp://d:2376"}, tls: TCP{TLSVerify: true},
			want: []Host{{Alias: "d", Connection: "tcp", Endpoint: "tcp://d:2376", Address: "d", Port: 2376, Enabled: true, TCP: TCP{TLSVerify: true}}}},
		{name: "mixed", uris: []string{"tcp://b:2375", "unix:///var/run/docker.sock", "ssh://u@a"},
			want: []Host{
				{Alias: "a", Connection: "ssh", Endpoint: "ssh://u@a:22", Address: "a", Port: 22, User: "u", Enabled: true, SSH: uriSSH(false)},
				{Alias: "b", Connection: "tcp", Endpoint: "tcp://b:2375", Address: "b", Port: 2375, Enabled: true},
				local("local", "/var/run/docker.sock"),
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SSH_AUTH_SOCK", tc.agent)
			got, err := FromURIs(tc.uris, tc.tls)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("FromURIs(%q):\n got %+v\nwant %+v", tc.uris, got, tc.want)
			}
		})
	}
}

func TestFromURIsInvalid(t *testing.T) {
	t.Setenv("HOME", home)
	t.Setenv("USER", "monitor")
	for _, tc := range []struct {
		name string
		uris []string
		tls  TCP
		want string
	}{
		{"none", nil, TCP{}, `no Docker host given`},
		{"scheme", []string{"http://docker:2375"}, TCP{}, `docker host "http://docker:2375": unsupported scheme "http" (want unix://, ssh:// or tcp://)`},
		{"npipe", []string{"npipe:////./pipe/docker_engine"}, TCP{}, `docker host "npipe:////./pipe/docker_engine": unsupported scheme "npipe" (want unix://, ssh:// or tcp://)`},
		{"no scheme", []string{"docker.example.net:2375"}, TCP{}, `docker host "docker.example.net:2375": not of the form unix:///path, ssh://user@host:port or tcp://host:port`},
		{"bare path", []string{"/var/run/docker.sock"}, TCP{}, `docker host "/var/run/docker.sock": not of the form unix:///path, ssh://user@host:port or tcp://host:port`},
		{"empty socket", []string{"unix://"}, TCP{}, `docker host "unix://": no socket path (want unix:///path/to/docker.sock)`},
		{"no host", []string{"tcp://:2375"}, TCP{}, `docker host "tcp://:2375": no host name`},
		{"path", []string{"ssh://u@h/var/run/docker.sock"}, TCP{}, `docker host "ssh://u@h/var/run/docker.sock": a path, query or fragment is not supported`},
		{"port range", []string{"tcp://h:0"}, TCP{}, `docker host "tcp://h:0": port "0" is out of range 1..65535`},
		{"user on tcp", []string{"tcp://u@h"}, TCP{}, `docker host "tcp://u@h": a user name is only for ssh://`},
		{"password", []string{"ssh://u:hunter2@h"}, TCP{}, `docker host "ssh://u:xxxxx@h": a password in the URI is not supported (use a hosts file with ssh.password_file)`},
		{"same alias", []string{"ssh://u@h", "tcp://h:2375"}, TCP{}, `docker hosts "ssh://u@h" and "tcp://h:2375" both have alias "h"; use a hosts file (--config.file) to name them`},
		{"given twice", []string{"tcp://h", "tcp://h:2375"}, TCP{}, `docker host "tcp://h:2375" given twice`},
		{"socket twice", []string{"unix:///a.sock", "unix:///a.sock"}, TCP{}, `docker host "unix:///a.sock" given twice`},
		{"cert path", []string{"tcp://h"}, TCP{TLSVerify: true, CertPath: "testdata/keys"}, `docker host "tcp://h": TLS cert path "testdata/keys": ca.pem: no such file or directory`},
		{"cert path without verify", []string{"tcp://h"}, TCP{CertPath: "testdata/keys"}, `docker host "tcp://h": TLS cert path "testdata/keys": cert.pem: no such file or directory`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hosts, err := FromURIs(tc.uris, tc.tls)
			if err == nil || err.Error() != tc.want {
				t.Errorf("FromURIs(%q) = %+v, %v\nwant error %s", tc.uris, hosts, err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}

	t.Run("no user", func(t *testing.T) {
		t.Setenv("USER", "")
		_, err := FromURIs([]string{"ssh://h"}, TCP{})
		want := `docker host "ssh://h": no user, and $USER is not set (want ssh://user@host)`
		if err == nil || err.Error() != want {
			t.Errorf("error %v, want %s", err, want)
		}
	})
}

// The ssh defaults of a URI host match those of a hosts-file host.
func TestFromURIsSSHDefaults(t *testing.T) {
	t.Setenv("HOME", home)
	t.Setenv("SSH_AUTH_SOCK", "")
	fromURI, err := FromURIs([]string{"ssh://u@h:22"}, TCP{})
	if err != nil {
		t.Fatal(err)
	}
	fromFile, err := Parse([]byte("hosts:\n  h:\n    user: u\n"), "h.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromURI, fromFile) {
		t.Errorf("URI %+v\nfile %+v", fromURI, fromFile)
	}
	if fromURI[0].SSH.Timeout != 30*time.Second {
		t.Errorf("timeout %v", fromURI[0].SSH.Timeout)
	}
}
