package dockerfake

import "testing"

// StartT serves the recorded dataset in a temporary directory of t, until
// the end of the test.
func StartT(t testing.TB) *Server {
	t.Helper()
	s, err := Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// StartFleetT starts a fleet in a temporary directory of t, until the end
// of the test.
func StartFleetT(t testing.TB, o FleetOptions) *Fleet {
	t.Helper()
	f, err := StartFleet(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
