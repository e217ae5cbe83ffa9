package api

import (
	"testing"
)

func TestSecretKey(t *testing.T) {
	for _, tc := range []struct {
		key    string
		secret bool
	}{
		// Secrets.
		{"password", true},
		{"DB_PASSWORD", true},
		{"db.password", true},
		{"mysql.root-password", true},
		{"dbPassword", true},
		{"smtp.passwd", true},
		{"gpg.passphrase", true},
		{"db.pass", true},
		{"DB_PWD", true},
		{"token", true},
		{"github.token", true},
		{"authToken", true},
		{"client_secret", true},
		{"secrets.enabled", true},
		{"aws.credentials", true},
		{"registry.creds", true},
		{"key", true},
		{"KEY", true},
		{"api_key", true},
		{"apikey", true},
		{"apiKey", true},
		{"API-KEY", true},
		{"ssh.key", true},
		{"private-key", true},
		{"privatekey", true},
		{"access.keys", true},
		{"key2", true},
		{"license.key.v1", true},
		{"auth", true},
		{"traefik.http.middlewares.x.basicauth.users", true},
		{"oauth.client", true},
		{"http.authorization", true},
		{"auth2.proxy", true},
		// Not secrets.
		{"com.docker.compose.project.config_files", false},
		{"com.docker.compose.project.working_dir", false},
		{"com.docker.compose.config-hash", false},
		{"com.docker.compose.service", false},
		{"org.opencontainers.image.authors", false},
		{"maintainer.author", false},
		{"tls.authority", false},
		{"keyname", false},
		{"sort.keyword", false},
		{"app.monkey", false},
		{"bypass", false},
		{"compass.heading", false},
		{"team", false},
		{"snadboy.revp.80.domain", false},
		{"traefik.http.routers.x.middlewares", false},
		{"", false},
	} {
		if got := secretKey(tc.key); got != tc.secret {
			t.Errorf("secretKey(%q) = %v, want %v", tc.key, got, tc.secret)
		}
	}
}

func TestRedactLabels(t *testing.T) {
	in := map[string]string{
		"api_key":    "abc",
		"team":       "payments",
		"db.url":     "postgres://app:hunter2@db:5432/app",
		"docs.url":   "https://user@example.com/docs", // a user, no password
		"plain.url":  "https://example.com/a@b",
		"weird":      "://:@",
		"com.docker": "",
	}
	got := redactLabels(in)
	want := map[string]string{
		"api_key":    redacted,
		"team":       "payments",
		"db.url":     redacted,
		"docs.url":   "https://user@example.com/docs",
		"plain.url":  "https://example.com/a@b",
		"weird":      "://:@",
		"com.docker": "",
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if in["api_key"] != "abc" {
		t.Error("redactLabels changed the cached labels")
	}
	if m := redactLabels(nil); m == nil || len(m) != 0 {
		t.Errorf("redactLabels(nil) = %#v, want an empty map ({} in JSON)", m)
	}
}

func TestEnvRedaction(t *testing.T) {
	vars := []string{"DB_PASSWORD=hunter2", "TZ=UTC", "PASSTHROUGH", "EMPTY=", "EQ=a=b"}
	for _, tc := range []struct {
		expose bool
		want   []EnvVar
	}{
		{false, []EnvVar{{"DB_PASSWORD", redacted}, {"TZ", redacted}, {"PASSTHROUGH", ""}, {"EMPTY", redacted}, {"EQ", redacted}}},
		{true, []EnvVar{{"DB_PASSWORD", "hunter2"}, {"TZ", "UTC"}, {"PASSTHROUGH", ""}, {"EMPTY", ""}, {"EQ", "a=b"}}},
	} {
		a := &API{opts: Options{ExposeEnv: tc.expose}}
		got := a.env(vars)
		if len(got) != len(tc.want) {
			t.Fatalf("expose %v: %v", tc.expose, got)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("expose %v: %v, want %v", tc.expose, got[i], tc.want[i])
			}
		}
	}
	if got := (&API{}).env(nil); got == nil {
		t.Error("no variables: nil, want [] in JSON")
	}
}
