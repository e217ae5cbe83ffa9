package config

import "errors"

// Source is where the hosts to watch come from: the hosts file when File is
// set, else the DOCKER_HOST-style URIs (--docker.host), with TLS for their
// tcp:// hosts.
type Source struct {
	File string
	URIs []string
	TLS  TCP
}

// Load reads the hosts. It fails when none is enabled: an exporter that
// watches nothing is a mistake, not a configuration.
func (s Source) Load() ([]Host, error) {
	var (
		hosts []Host
		err   error
	)
	if s.File != "" {
		hosts, err = Load(s.File)
	} else {
		hosts, err = FromURIs(s.URIs, s.TLS)
	}
	if err != nil {
		return nil, err
	}
	for _, h := range hosts {
		if h.Enabled {
			return hosts, nil
		}
	}
	return nil, errors.New("no enabled hosts to watch")
}
