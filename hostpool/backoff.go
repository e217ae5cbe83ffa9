package hostpool

import "time"

// Backoff spaces out reconnect attempts: Initial, then multiplied by Factor up
// to Max, and then Max for as long as the host stays away. Retries is the
// number of attempts after which a host is reported as down in the logs at
// error level rather than as a transient warning; reconnects never stop.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
	Factor  float64
	Retries int
}

// DefaultBackoff is the design spec's seed: 3 tries from 2s, doubling, capped at 10s.
var DefaultBackoff = Backoff{Initial: 2 * time.Second, Max: 10 * time.Second, Factor: 2, Retries: 3}

// Delay returns the wait before reconnect attempt n (1-based).
func (b Backoff) Delay(n int) time.Duration {
	d := float64(b.Initial)
	for i := 1; i < n && d < float64(b.Max); i++ {
		d *= b.Factor
	}
	if d > float64(b.Max) {
		d = float64(b.Max)
	}
	return time.Duration(d)
}
