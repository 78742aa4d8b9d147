# detour: make help lists the targets.

GO        ?= go
BIN       ?= bin/detour
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
FUZZTIME  ?= 30s
TESTFLAGS ?=

.DEFAULT_GOAL := help
.PHONY: help build test test-short lint fuzz cover bench bench-failover cluster clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build a static bin/detour (CGO_ENABLED=0, -trimpath)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/detour

test: ## run every test with the race detector (the CI test command)
	$(GO) test -race -timeout 12m $(TESTFLAGS) ./...

.PHONY: test-faults
test-faults: ## run the network fault suite as root (namespaces, nftables, three processes; about 1-2 minutes)
	DETOUR_FAULTS=1 $(GO) test -count=1 -v -timeout 8m $(TESTFLAGS) -run '^TestFaults$$' ./e2e/faults

test-short: ## run the fast tests only (-short skips multi-node and interop tests)
	$(GO) test -short -timeout 5m $(TESTFLAGS) ./...

lint: ## gofmt must list nothing; go vet must pass
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fuzz: ## run every fuzz target for FUZZTIME each (default 30s)
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		dir=$$(dirname $$f); \
		for name in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | cut -d' ' -f2); do \
			echo "== $$dir $$name"; \
			$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$dir; \
		done; \
	done

cover: ## test (-short) with coverage; writes cover.out, prints the total
	$(GO) test -short -timeout 10m -coverprofile=cover.out ./...
	$(GO) tool cover -func=cover.out | tail -n 1

bench: ## run the Go benchmarks briefly (see docs/performance.md for the full commands)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1x ./...

bench-failover: ## failover convergence, 20 trials on three processes (bench/failover.sh, ~50 s)
	./bench/failover.sh

cluster: build ## run a local three-node cluster (scripts/cluster.sh)
	DETOUR=$(BIN) ./scripts/cluster.sh

clean: ## remove build output
	rm -rf bin cover.out
