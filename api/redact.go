package api

import (
	"net/url"
	"strings"
)

// redacted replaces a value the API must not show.
const redacted = "<redacted>"

// redactLabels returns labels with the values of secret-looking keys
// replaced by "<redacted>", and so the values that are URLs with a
// password in them, whatever their key. Labels are set by whoever writes a
// compose file, and a token in one is common enough. It returns labels
// itself when nothing is redacted (the cache's maps are never modified, and
// neither may the caller modify the result), and never nil, so that no
// labels are {} in JSON.
func redactLabels(labels map[string]string) map[string]string {
	if labels == nil {
		return map[string]string{}
	}
	var out map[string]string
	for k, v := range labels {
		if !secretKey(k) && !hasURLPassword(v) {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(labels))
			for k, v := range labels {
				out[k] = v
			}
		}
		out[k] = redacted
	}
	if out == nil {
		return labels
	}
	return out
}

// secretKey says whether a label key looks like it names a secret. It is
// split into words at anything that is not a letter or digit, so that
// "ssh.key", "api_key", "private-key" and "KEY" are caught without
// "com.docker.compose.project.config_files" or an image's "authors". It
// reads every label of every container listed: it does not allocate for
// words of up to 64 bytes.
func secretKey(key string) bool {
	var buf [64]byte
	for i := 0; i < len(key); {
		if !isAlnum(key[i]) {
			i++
			continue
		}
		j := i
		for j < len(key) && isAlnum(key[j]) {
			j++
		}
		word := key[i:j]
		if len(word) <= len(buf) {
			w := buf[:len(word)]
			for k := range len(word) {
				w[k] = lower(word[k])
			}
			if secretWord(string(w)) {
				return true
			}
		} else if secretWord(strings.ToLower(word)) {
			return true
		}
		i = j
	}
	return false
}

// isAlnum is an ASCII letter or digit: anything else, multi-byte letters
// included, separates words.
func isAlnum(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

func lower(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// secretSubstrings are secret wherever they appear in a word:
// "dbpassword", "authtoken", "client_secret", "aws.credentials".
var secretSubstrings = []string{"password", "passwd", "passphrase", "secret", "token", "credential"}

// secretWords are secret as whole words only: "pass" is in "bypass" and
// "compass", "creds" in nothing else worth keeping.
var secretWords = map[string]bool{"pass": true, "pwd": true, "creds": true}

// notKeys are words ending in "key" that name no key.
var notKeys = map[string]bool{"monkey": true, "donkey": true, "turkey": true, "hockey": true, "jockey": true, "whiskey": true, "hotkey": true}

// secretWord says whether one lower-case word of a key looks secret.
func secretWord(w string) bool {
	for _, s := range secretSubstrings {
		if strings.Contains(w, s) {
			return true
		}
	}
	if secretWords[w] {
		return true
	}
	// "key", "apikey", "privatekey", "key2", "sshkeys"; "keyname" is a name.
	base := strings.TrimRight(w, "0123456789")
	base = strings.TrimSuffix(base, "s")
	if strings.HasSuffix(base, "key") && !notKeys[base] {
		return true
	}
	// "auth", "oauth", "basicauth", "authorization", "auth2"; but an
	// image's "authors" and a certificate "authority" are no secrets.
	if i := strings.Index(w, "auth"); i >= 0 {
		rest := w[i:]
		return !strings.HasPrefix(rest, "author") || strings.HasPrefix(rest, "authoriz")
	}
	return false
}

// hasURLPassword says whether v is a URL with a password in it
// ("postgres://app:hunter2@db/app"), which is a secret whatever the key.
func hasURLPassword(v string) bool {
	if !strings.Contains(v, "://") || !strings.Contains(v, "@") {
		return false
	}
	u, err := url.Parse(v)
	if err != nil {
		return false
	}
	_, ok := u.User.Password()
	return ok
}
