package alerts

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

func TestShortenFor(t *testing.T) {
	out, err := ShortenFor(Rules, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, before := loadRules(t, Rules)
	_, after := loadRules(t, out)
	if len(after) != len(before) {
		t.Fatalf("%d rules after, %d before", len(after), len(before))
	}
	for i, r := range after {
		if r.For != "30s" {
			t.Errorf("%s: for: %q, want 30s", r.Alert, r.For)
		}
		// Everything else is unchanged.
		r.For = before[i].For
		if fmt.Sprint(r) != fmt.Sprint(before[i]) {
			t.Errorf("%s changed beyond for:\n%+v\n%+v", r.Alert, r, before[i])
		}
	}
	if !bytes.Contains(out, []byte("# Absent series.")) {
		t.Error("comments were lost")
	}

	// A rule without for: gets none; a quoted for: is replaced; a whole
	// hour prints as Prometheus writes it.
	in := []byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        for: \"5m\"\n      - alert: B\n        expr: up == 0\n")
	out, err = ShortenFor(in, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, rs := loadRules(t, out)
	if len(rs) != 2 || rs[0].For != "1h" || rs[1].For != "" {
		t.Errorf("got %+v", rs)
	}
	if _, err := ShortenFor(in, 0); err != nil {
		t.Errorf("0: %v", err)
	}

	for _, c := range []struct {
		in []byte
		d  time.Duration
	}{
		{in, -time.Second},
		{in, 1500 * time.Microsecond},
		{[]byte("groups: [\n"), time.Second},
		{[]byte("rules: []\n"), time.Second},
		{[]byte("groups: {}\n"), time.Second},
		{[]byte("groups:\n  - name: g\n    rules: {}\n"), time.Second},
	} {
		if _, err := ShortenFor(c.in, c.d); err == nil {
			t.Errorf("ShortenFor(%q, %v): no error", c.in, c.d)
		}
	}
}
