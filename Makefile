# JoinedUp build entry points. Every target is a thin wrapper so that what CI
# runs (.ci/run -> make test) is exactly what a developer runs.
#
# Overridable: GO, PORT, DATA_DIR, FUZZTIME, BENCHCOUNT, IMAGE, TEST_TIMEOUT,
# CHAOS_PHONES, CHAOS_DURATION, CHAOS_SEED.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Fresh Debian machines have Go at /usr/local/go but not always on PATH.
GO           ?= $(or $(shell command -v go 2>/dev/null),/usr/local/go/bin/go)
PORT         ?= 8080
DATA_DIR     ?= ./data
FUZZTIME     ?= 30s
BENCHCOUNT   ?= 1
IMAGE        ?= joinedup
TEST_TIMEOUT ?= 15m
CHAOS_PHONES   ?= 20
CHAOS_DURATION ?= 20m
CHAOS_SEED     ?= 0
BIN          := ./joinedup
CMD          := ./server/cmd/joinedup

# go-sqlite3 is a cgo package: without cgo the store compiles but fails at run time.
export CGO_ENABLED := 1
# Full-text search needs go-sqlite3's FTS5, compiled in only with this tag: a
# binary without it refuses to open its database (server/sqlite/search.go).
# Every go command below, and every script it runs, inherits it.
export GOFLAGS := $(strip $(filter-out -tags=sqlite_fts5,$(GOFLAGS)) -tags=sqlite_fts5)

.PHONY: help all build webapp run test test-race chaos bench fuzz docker fmt vet gobind-check clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

all: vet test ## vet, then test

build: webapp ## build the server binary ./joinedup (and the field app's engine)
	$(GO) build -o $(BIN) $(CMD)

webapp: ## build the field app's engine (WebAssembly) into bin/webapp, served at /app/, with its Brotli and gzip copies
	mkdir -p bin/webapp
	GOOS=js GOARCH=wasm CGO_ENABLED=0 $(GO) build -trimpath -ldflags=-s -o bin/webapp/app.wasm ./mobile-sdk/webapp/wasm
	cp "$$($(GO) env GOROOT)/lib/wasm/wasm_exec.js" bin/webapp/
	$(GO) run ./mobile-sdk/webapp/cmd/precompress bin/webapp

run: build ## build and run the server (PORT=8080 DATA_DIR=./data)
	mkdir -p "$(DATA_DIR)"
	PORT="$(PORT)" DATA_DIR="$(DATA_DIR)" $(BIN)

test: ## all tests, no race detector (CI runs this)
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

test-race: ## all tests under the race detector (slow on 2 cores)
	$(GO) test -race -count=1 -timeout 45m ./...

chaos: ## fault-injection soak: CHAOS_PHONES phones (20) for CHAOS_DURATION (20m) against the real server
	$(GO) test -count=1 -timeout 0 -v -run 'TestChaos$$' ./mobile-sdk/ \
		-args -chaos.phones=$(CHAOS_PHONES) -chaos.duration=$(CHAOS_DURATION) -chaos.seed=$(CHAOS_SEED) \
		| grep -E '^(=== RUN|--- |\s+chaos_test\.go|PASS|FAIL|ok )'

bench: ## run bench/*/run.sh and every package's Go benchmarks
	GO="$(GO)" BENCHCOUNT="$(BENCHCOUNT)" bash scripts/bench.sh

fuzz: ## run each Fuzz* target for FUZZTIME (default 30s)
	GO="$(GO)" FUZZTIME="$(FUZZTIME)" bash scripts/fuzz.sh

docker: ## build the container image (needs a Docker engine)
	docker build -t $(IMAGE) .

fmt: ## gofmt -s every Go package
	"$$($(GO) env GOROOT)/bin/gofmt" -s -w $$($(GO) list -f '{{.Dir}}' ./...)

vet: ## go vet ./...
	$(GO) vet ./...

gobind-check: ## check mobile-sdk binds for Java with gobind
	@if [ -f scripts/gobind-check.sh ]; then GO="$(GO)" bash scripts/gobind-check.sh; \
	else echo "gobind-check: scripts/gobind-check.sh not present, skipping"; fi

clean: ## remove build, bench and test outputs (never DATA_DIR)
	rm -f $(BIN)
	rm -rf artifacts bench-results
	$(GO) clean -testcache
