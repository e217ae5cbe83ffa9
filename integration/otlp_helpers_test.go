package integration

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"testing"

	"github.com/snadboy/docker-monitor/internal/otlplab"
)

func ready(base string) bool {
	resp, err := http.Get(base + "/-/ready")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// scrapeTraced scrapes as a traced caller would, with a W3C traceparent.
func scrapeTraced(t *testing.T, url, traceparent string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("traceparent", traceparent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
}

// spanTree is one trace's spans by parent.
type spanTree map[string][]otlplab.Span

func newSpanTree(spans []otlplab.Span, traceID string) spanTree {
	tree := spanTree{}
	for _, s := range spans {
		if s.TraceID == traceID {
			tree[s.ParentID] = append(tree[s.ParentID], s)
		}
	}
	return tree
}

func (st spanTree) children(parent string) []otlplab.Span { return st[parent] }

// only is the one child of parent with that name.
func (st spanTree) only(t *testing.T, name, parent string) otlplab.Span {
	t.Helper()
	var found []otlplab.Span
	for _, s := range st[parent] {
		if s.Name == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans %q under %s, want 1; children: %v", len(found), name, parent, names(st[parent]))
	}
	return found[0]
}

func names(spans []otlplab.Span) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}
