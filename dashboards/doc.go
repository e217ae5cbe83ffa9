// Package dashboards holds docker-monitor's Grafana dashboards: the JSON
// files in this directory, generated from Go by internal/gen with the
// Grafana Foundation SDK, and the Board API that tests and tools use to
// read them (board.go). Edit the Go code, not the JSON, then run
// `make dashboards` (or `go generate ./dashboards`); the golden test fails
// while the committed JSON differs from what the code generates.
package dashboards

//go:generate go run ./cmd/gendashboards -out .
