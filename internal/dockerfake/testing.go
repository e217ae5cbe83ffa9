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
