package hostpool

import (
	"io"
	"log/slog"
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := DefaultBackoff.Delay(i + 1); got != w {
			t.Errorf("Delay(%d) = %s, want %s", i+1, got, w)
		}
	}
	if got := DefaultBackoff.Delay(1000); got != 10*time.Second {
		t.Errorf("Delay(1000) = %s, want the cap", got)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
