package hostpool

import (
	"io"
	"log/slog"

	"github.com/snadboy/docker-monitor/config"
)

// Check loads what connecting to h needs, without connecting: a TCP host's
// certificate files, an SSH host's key (decrypted), password and
// known_hosts. A running host with such a problem is down with reason tls,
// auth or host_key; --config.check runs Check so that it is found first.
// It reads the files with the code that connecting uses.
func Check(h config.Host) error {
	switch {
	case usesTLS(h):
		_, err := tlsConfig(h)
		return err
	case h.Connection == config.ConnSSH:
		d := newSSHDialer(h, 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
		_, done, err := d.clientConfig()
		done()
		return err
	}
	return nil
}
