# docker-monitor — see README.md.
GO        ?= go
BINARY    ?= docker-monitor
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH    ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
PKG_VER    = github.com/prometheus/common/version
LDFLAGS    = -s -w -X $(PKG_VER).Version=$(VERSION) -X $(PKG_VER).Revision=$(REVISION) \
             -X $(PKG_VER).Branch=$(BRANCH) -X $(PKG_VER).BuildUser=$(shell id -un)@$(shell hostname) \
             -X $(PKG_VER).BuildDate=$(shell date -u +%Y%m%d-%H:%M:%S)

.PHONY: all build run test unit lint bench docker clean dashboards

all: build

# A static binary: it runs FROM scratch in the Docker image.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BINARY) .

# Monitor the local Docker daemon on :9742.
run: build
	./$(BINARY)

# Everything CI runs: system packages (as root, when missing), lint, and the
# unit and integration tests; the tests start and stop their own dockerd.
test: lint
	./scripts/test-deps.sh
	$(GO) test -race -count=1 -timeout 20m ./...

# Unit tests only: the packages that need no daemon, sshd or root (alerts
# needs promtool and amtool, and skips without them).
UNIT_PKGS = ./config/... ./dockerstats/... ./revp/... ./reload/... ./collector/... ./hostpool/... ./api/... ./dashboards/... ./alerts/... ./telemetry/... ./internal/otlplab/... ./examples/...
unit:
	$(GO) test -count=1 $(UNIT_PKGS)

lint:
	@fmt=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$fmt" ]; then echo "gofmt needed: $$fmt"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# 50 running containers on a test daemon; prints scrape and docker stats
# figures. Then the event feed's lag in bursts of 20 `docker run` (about
# 15 s a burst), and the API's own costs (no daemon).
bench:
	./scripts/test-deps.sh
	$(GO) test -run '^$$' -bench 'Scrape50|StreamCheck50' -benchtime 30x -count 1 -timeout 20m ./integration/
	$(GO) test -run '^$$' -bench FeedLagBurst20 -benchtime 5x -count 1 -timeout 20m ./integration/
	$(GO) test -run '^$$' -bench ScrapeOTLPDown -benchtime 20x -count 1 -timeout 20m ./integration/
	$(GO) test -run '^$$' -bench . -count 1 ./api/ ./hostpool/
	$(GO) test -run '^$$' -bench Scale -benchtime 10x -count 3 -timeout 60m ./integration/
	$(GO) test -run '^$$' -bench Read -count 3 ./cgroupstats/

# Regenerate the Grafana dashboards in dashboards/ from their Go code.
dashboards:
	$(GO) generate ./dashboards

docker: build
	docker build -t docker-monitor:$(VERSION) .

clean:
	rm -f $(BINARY)
