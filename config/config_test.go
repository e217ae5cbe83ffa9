package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const home = "/home/monitor"

// sshDefaults is what an ssh host gets when it sets nothing in ssh:.
func sshDefaults(keyFile string) SSH {
	return SSH{
		KeyFile:       keyFile,
		KnownHosts:    home + "/.ssh/known_hosts",
		HostKeyPolicy: "strict",
		RemoteSocket:  "/var/run/docker.sock",
		Mode:          "auto",
		Timeout:       30 * time.Second,
		Keepalive:     30 * time.Second,
	}
}

func TestLoadValid(t *testing.T) {
	t.Setenv("HOME", home)
	localSocket := "/var/run/docker.sock"
	fleet := map[string]string{"env": "prod", "team": "infra"}
	for _, tc := range []struct {
		file string
		want []Host
	}{
		{"docker-revp-hosts.yml", []Host{
			{
				Alias: "fabric", Connection: "ssh", Endpoint: "ssh://admin@fabric.example.lan:2222",
				Address: "fabric.example.lan", Port: 2222, User: "admin",
				Description: "Fabric services host - uptime monitoring", Enabled: false,
				SSH: sshDefaults("testdata/keys/id_ed25519"),
			},
			{
				Alias: "media-arr", Connection: "ssh", Endpoint: "ssh://revp@192.0.2.229:22",
				Address: "192.0.2.229", Port: 22, User: "revp",
				Description: "Media host - Sonarr, Radarr, SABnzbd, Prowlarr", Enabled: true,
				SSH: sshDefaults("testdata/keys/docker_monitor_key"),
			},
			{
				Alias: "switchboard", Connection: "ssh", Endpoint: "ssh://revp@192.0.2.32:22",
				Address: "192.0.2.32", Port: 22, User: "revp",
				Description: "Primary Docker host - main services and the RevP controller", Enabled: true,
				SSH: sshDefaults("testdata/keys/docker_monitor_key"),
			},
		}},
		{"sb-traefik-hosts.yml", []Host{
			{
				Alias: "dev", Connection: "ssh", Endpoint: "ssh://deploy@dev.tail1234.ts.net:2222",
				Address: "dev.tail1234.ts.net", Port: 2222, User: "deploy", BackendHost: "dev.example.lan",
				Description: "Development Docker host", Enabled: true, SSH: sshDefaults(""),
			},
			{
				Alias: "media", Connection: "ssh", Endpoint: "ssh://docker@media.tail1234.ts.net:22",
				Address: "media.tail1234.ts.net", Port: 22, User: "docker", BackendHost: "192.0.2.20",
				Description: "Media server", Enabled: true, SSH: sshDefaults(""),
			},
			{
				Alias: "nas", Connection: "ssh", Endpoint: "ssh://docker@nas:22",
				Address: "nas", Port: 22, User: "docker", Description: "NAS", Enabled: true, SSH: sshDefaults(""),
			},
			{
				Alias: "staging", Connection: "ssh", Endpoint: "ssh://docker@staging.tail1234.ts.net:22",
				Address: "staging.tail1234.ts.net", Port: 22, User: "docker",
				Description: "Staging Docker host", Enabled: false, SSH: sshDefaults(""),
			},
			{
				Alias: "switchboard", Connection: "local", Endpoint: "unix://" + localSocket, Address: localSocket,
				Description: "RevP and Traefik run here", Enabled: true,
			},
		}},
		{"full.yml", []Host{
			{
				Alias: "builder", Connection: "ssh", Endpoint: "ssh://ci@builder.tail1234.ts.net:2222",
				Address: "builder.tail1234.ts.net", Port: 2222, User: "ci", BackendHost: "192.0.2.5",
				Description: "CI builder", Enabled: true, Labels: map[string]string{"env": "staging", "team": "infra"},
				SSH: SSH{
					KeyFile: "testdata/keys/id_ed25519", KnownHosts: home + "/.ssh/known_hosts_ci", HostKeyPolicy: "strict",
					PasswordFile: "testdata/keys/password", PassphraseFile: "testdata/keys/passphrase",
					RemoteSocket: "/run/user/1000/docker.sock", Mode: "dial-stdio", Agent: true,
					Timeout: 45 * time.Second, Keepalive: time.Minute,
				},
			},
			{
				Alias: "edge", Connection: "ssh", Endpoint: "ssh://deploy@[2001:db8::10]:22",
				Address: "2001:db8::10", Port: 22, User: "deploy", Enabled: true, Labels: fleet,
				SSH: SSH{
					KnownHosts: "testdata/known_hosts", HostKeyPolicy: "accept-new", RemoteSocket: "/var/run/docker.sock",
					Mode: "auto", Timeout: 10 * time.Second, Keepalive: 30 * time.Second,
				},
			},
			{
				Alias: "legacy-local", Connection: "local", Endpoint: "unix://" + localSocket, Address: localSocket,
				Enabled: false, Labels: fleet,
			},
			{
				Alias: "local", Connection: "local", Endpoint: "unix:///run/docker.sock", Address: "/run/docker.sock",
				Description: "The exporter's own machine", Enabled: true,
				Labels: map[string]string{"env": "prod", "team": "infra", "rack": "a1"},
			},
			{
				Alias: "plain", Connection: "tcp", Endpoint: "tcp://192.0.2.10:2375", Address: "192.0.2.10", Port: 2375,
				Enabled: true, Labels: fleet, TCP: TCP{TLSVerify: false, ServerName: "docker.example.net"},
			},
			{
				Alias: "remote", Connection: "tcp", Endpoint: "tcp://remote.example.net:2377", Address: "remote.example.net", Port: 2377,
				Enabled: true, Labels: fleet, TCP: TCP{TLSVerify: true, CertPath: "testdata/certs", ServerName: "docker.example.net"},
			},
			{
				Alias: "rootless", Connection: "local", Endpoint: "unix://" + home + "/docker.sock", Address: home + "/docker.sock",
				Enabled: true, Labels: fleet,
			},
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := Load(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Load:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestLoadInvalid(t *testing.T) {
	t.Setenv("HOME", home)
	table := map[string]string{
		"bool":                   `:4: host "web": enabled "maybe" is not true or false`,
		"cert-path-missing-dir":  `:6: host "web": tcp.cert_path "testdata/no-such-certs": no such file or directory`,
		"cert-path-missing-file": `:6: host "web": tcp.cert_path "testdata/keys": ca.pem: no such file or directory`,
		"connection":             `:3: host "web": connection "telnet" is not one of local, ssh, tcp`,
		"defaults-hostname":      `:3: defaults: hostname cannot have a default; set it on each host`,
		"duplicate-alias":        `:8: host "web" defined twice (first at line 4)`,
		"duplicate-field":        `:5: host "web": field "user" repeated (first at line 3)`,
		"duration":               `:5: host "web": ssh.timeout "30" is not a duration such as 30s or 1m30s`,
		"duration-zero":          `:5: host "web": ssh.keepalive "0s" must be positive`,
		"empty":                  `: no hosts defined (hosts: is missing or empty)`,
		"empty-alias":            `:2: host alias is empty`,
		"host-key-policy":        `:4: defaults: ssh.host_key_policy "yes" is not one of strict, accept-new, insecure`,
		"host-not-mapping":       `:2: host "web": must be a mapping of settings, not a single value`,
		"hostname-with-port":     `:3: host "web": hostname "web.example.net:2222" is not a host name or IP address (port and user have fields of their own)`,
		"hosts-list":             `:2: hosts must be a mapping of alias to settings, not a list`,
		"key-file":               `:3: host "web": key_file: no such file or directory (relative to testdata)`,
		"key-file-directory":     `:4: host "web": key_file: is a directory (relative to testdata)`,
		"label-name":             `:5: host "web": labels: "1rack" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __)`,
		"label-reserved":         `:3: defaults: labels: "version" is reserved: docker_host_info sets it itself`,
		"local-and-ssh":          `:4: host "web": is_local: true contradicts connection: ssh`,
		"merge-bomb":             `:4: host "web": the file expands to more than 1000000 nodes through YAML aliases and merge keys (<<)`,
		"mode":                   `:5: host "web": ssh.mode "socket" is not one of auto, streamlocal, dial-stdio`,
		"no-hosts":               `: no hosts defined (hosts: is missing or empty)`,
		"passphrase-file":        `:6: host "web": ssh.passphrase_file: no such file or directory (relative to testdata)`,
		"passphrase-without-key": `:5: host "web": ssh.passphrase_file without key_file: it decrypts the key in key_file`,
		"password-file":          `:5: host "web": ssh.password_file: no such file or directory (relative to testdata)`,
		"port-range":             `:4: host "web": port 70000 is out of range 1..65535`,
		"port-type":              `:4: host "web": port "ssh" is not an integer`,
		"socket-on-ssh":          `:5: host "web": socket is only for local hosts (an ssh host's socket is ssh.remote_socket)`,
		"ssh-no-user":            `:2: host "web": ssh host needs user (set it on the host or in defaults)`,
		"syntax":                 `: yaml: line 1: did not find expected key`,
		"tcp-block-on-ssh":       `:6: host "web": tcp settings on an ssh host (set connection: tcp for a TCP daemon)`,
		"tcp-no-hostname":        `:2: host "web": tcp host needs hostname or tailscale_hostname`,
		"tcp-port-range":         `:6: host "web": tcp.port 0 is out of range 1..65535`,
		"two-documents":          `:4: a second YAML document (---); the file must hold one`,
		"unknown-field":          `:4: host "web": unknown field "colour"`,
		"unknown-ssh-field":      `:6: host "web": unknown field "ssh.password"`,
		"unknown-top-field":      `:1: unknown field "host"`,
	}
	for file, want := range table {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join("testdata", "invalid-"+file+".yml")
			hosts, err := Load(path)
			if err == nil {
				t.Fatalf("Load(%s) = %+v, want error", path, hosts)
			}
			if got := err.Error(); got != path+want {
				t.Errorf("Load(%s) error\n got %s\nwant %s", path, got, path+want)
			}
		})
	}
	// Every invalid-*.yml must be in the table above.
	files, err := filepath.Glob("testdata/invalid-*.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "invalid-"), ".yml")
		if _, ok := table[name]; !ok {
			t.Errorf("%s has no expected error in the table", f)
		}
	}
}

// Nothing read from a secret file may reach an error or a printed Host:
// config never reads them, and this keeps it that way.
func TestSecretsStayOut(t *testing.T) {
	const secret = "correct-horse-battery-staple"
	dir := t.TempDir()
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pw := write("password", secret+"\n")
	if err := os.Mkdir(filepath.Join(dir, "pwdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	write("pwdir/password", secret+"\n")
	locked := write("locked", secret+"\n")
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}

	host := func(ssh string) []byte {
		return []byte("hosts:\n  web:\n    user: deploy\n    ssh:\n" + ssh)
	}
	cases := map[string][]byte{
		"password_file is a directory":   host("      password_file: " + filepath.Join(dir, "pwdir") + "\n"),
		"passphrase_file without key":    host("      password_file: " + pw + "\n      passphrase_file: " + pw + "\n"),
		"another field is wrong":         host("      password_file: " + pw + "\n      mode: nope\n"),
		"secret pasted in as a field":    host("      password: " + secret + "\n"),
		"password_file holds the secret": host("      password_file: " + secret + "\n"),
		"key_file holds a pasted key":    []byte("hosts:\n  web:\n    user: deploy\n    key_file: |\n      -----BEGIN KEY-----\n      " + secret + "\n"),
	}
	if os.Geteuid() != 0 { // root opens any file
		cases["password_file unreadable"] = host("      password_file: " + locked + "\n")
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(data, "hosts.yml")
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error contains the secret: %v", err)
			}
		})
	}

	hosts, err := Parse(host("      password_file: "+pw+"\n"), "hosts.yml")
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%v %+v %#v", hosts, hosts, hosts); strings.Contains(s, secret) {
		t.Errorf("printed hosts contain the secret: %s", s)
	}
	if hosts[0].SSH.PasswordFile != pw {
		t.Errorf("PasswordFile = %q, want %q", hosts[0].SSH.PasswordFile, pw)
	}
}

// Forms the RevP tools' files use, read the way their YAML libraries do.
func TestParseLenient(t *testing.T) {
	t.Setenv("HOME", home)
	hosts, err := Parse([]byte(`
defaults: &d
  user: deploy
  port: "2222"
hosts:
  a:
  b:
    enabled: no
    description: ~
  c:
    <<: *d
    user: other
    enabled: "true"
`), "dir/hosts.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := []Host{
		{Alias: "a", Connection: "ssh", Endpoint: "ssh://deploy@a:2222", Address: "a", Port: 2222, User: "deploy", Enabled: true, SSH: sshDefaults("")},
		{Alias: "b", Connection: "ssh", Endpoint: "ssh://deploy@b:2222", Address: "b", Port: 2222, User: "deploy", Enabled: false, SSH: sshDefaults("")},
		{Alias: "c", Connection: "ssh", Endpoint: "ssh://other@c:2222", Address: "c", Port: 2222, User: "other", Enabled: true, SSH: sshDefaults("")},
	}
	if !reflect.DeepEqual(hosts, want) {
		t.Errorf("got  %+v\nwant %+v", hosts, want)
	}
}

func TestParseMore(t *testing.T) {
	t.Setenv("HOME", home)
	for _, tc := range []struct{ name, yaml, want string }{
		{"float port", "hosts:\n  web:\n    user: u\n    port: 22.5\n", `h.yml:4: host "web": port "22.5" is not an integer`},
		{"list as user", "hosts:\n  web:\n    user: [a, b]\n", `h.yml:3: host "web": user must be a string, not a list`},
		{"alias as host name", "hosts:\n  my host:\n    user: u\n", `h.yml:2: host "my host": no hostname is set, and the alias, which stands in for it, is not a host name or IP address (letters, digits, '.', '-' and '_' only)`},
		{"duplicate label", "hosts:\n  web:\n    user: u\n    labels:\n      a: x\n      a: y\n", `h.yml:6: host "web": label "a" repeated (first at line 5)`},
		{"double underscore label", "hosts:\n  web:\n    user: u\n    labels:\n      __x: y\n", `h.yml:5: host "web": labels: "__x" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __)`},
		{"ssh block on local", "hosts:\n  web:\n    is_local: true\n    ssh:\n      agent: true\n", `h.yml:5: host "web": ssh settings on a local host`},
		{"top level list", "- a\n", `h.yml:1: the file must be a mapping with hosts: and optionally defaults:, not a list`},
		{"merge of a scalar", "hosts:\n  web:\n    <<: x\n", `h.yml:3: host "web": a merge key (<<) must name a mapping, not a single value`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "h.yml")
			if err == nil || err.Error() != tc.want {
				t.Errorf("error\n got %v\nwant %s", err, tc.want)
			}
		})
	}

	t.Run("HOME unset", func(t *testing.T) {
		t.Setenv("HOME", "")
		_, err := Parse([]byte("hosts:\n  web:\n    user: u\n"), "h.yml")
		want := `h.yml:2: host "web": ssh.known_hosts "~/.ssh/known_hosts": cannot expand ~: $HOME is not set`
		if err == nil || err.Error() != want {
			t.Errorf("error\n got %v\nwant %s", err, want)
		}
	})
}

// A port inherited from defaults is an SSH port; it must not become the
// TCP port of a tcp host, while one set on the host itself does.
func TestTCPPort(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		port int
	}{
		{"defaults: {port: 22}\nhosts:\n  d:\n    connection: tcp\n    hostname: d\n", 2376},
		{"defaults: {port: 22}\nhosts:\n  d:\n    connection: tcp\n    hostname: d\n    tcp: {tls_verify: false}\n", 2375},
		{"defaults: {port: 22}\nhosts:\n  d:\n    connection: tcp\n    hostname: d\n    port: 12376\n", 12376},
		{"defaults: {tcp: {port: 3000}}\nhosts:\n  d:\n    connection: tcp\n    hostname: d\n    port: 12376\n", 3000},
	} {
		hosts, err := Parse([]byte(tc.yaml), "h.yml")
		if err != nil {
			t.Fatal(err)
		}
		if hosts[0].Port != tc.port {
			t.Errorf("%s: port %d, want %d", tc.yaml, hosts[0].Port, tc.port)
		}
	}
}

// docker-revp's use_tailscale: false dials hostname even when a Tailscale
// name is set; true (or absent) prefers the Tailscale name.
func TestUseTailscale(t *testing.T) {
	for _, tc := range []struct {
		flag string
		want string
	}{{"", "pi.tailnet.ts.net"}, {"    use_tailscale: true\n", "pi.tailnet.ts.net"}, {"    use_tailscale: false\n", "pi.lan"}} {
		yml := "hosts:\n  pi:\n    hostname: pi.lan\n    tailscale_hostname: pi.tailnet.ts.net\n    user: pi\n" + tc.flag
		hosts, err := Parse([]byte(yml), "hosts.yml")
		if err != nil {
			t.Fatal(err)
		}
		if hosts[0].Address != tc.want {
			t.Errorf("%q: dials %q, want %q", tc.flag, hosts[0].Address, tc.want)
		}
	}
}

// nestedMerges is a mapping that merges 8 copies of one a level down,
// depth levels deep: about 18,700 visits at depth 4.
func nestedMerges(depth int) string {
	m := "&m0 {hostname: h.example}"
	for l := 1; l <= depth; l++ {
		m = fmt.Sprintf("&m%d {<<: [%s%s]}", l, m, strings.Repeat(fmt.Sprintf(", *m%d", l-1), 7))
	}
	return m
}

// The bound on alias and merge expansion is per file: many hosts, each
// cheap enough alone, add up to it rather than each getting its own.
func TestExpansionBoundPerFile(t *testing.T) {
	t.Setenv("HOME", home)
	one := "hosts:\n  h0: &h {user: u, <<: " + nestedMerges(4) + "}\n"
	if _, err := Parse([]byte(one), "h.yml"); err != nil {
		t.Fatalf("one host: %v", err)
	}
	many := one
	for i := 1; i < 100; i++ {
		many += fmt.Sprintf("  h%d: *h\n", i)
	}
	_, err := Parse([]byte(many), "h.yml")
	want := "the file expands to more than 1000000 nodes through YAML aliases and merge keys (<<)"
	if err == nil || !strings.HasPrefix(err.Error(), "h.yml:2: host ") || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("100 hosts: error\n got %v\nwant h.yml:2: host \"h…\": %s", err, want)
	}
}

// The merge bomb found by a hostile tester took 17 s of CPU before the
// bound; this shows what refusing it costs now.
func BenchmarkLoadMergeBomb(b *testing.B) {
	for b.Loop() {
		if _, err := Load("testdata/invalid-merge-bomb.yml"); err == nil {
			b.Fatal("merge bomb loaded")
		}
	}
}
