# packet-exporter build, test and benchmark entry points.
#
#   make build           static binary ./packet-exporter (no clang needed)
#   make generate        regenerate the bpf2go bindings with the pinned clang
#   make check-generate  fail if regenerating changes the committed bindings
#   make test            the whole test suite (kernel tests need root), then test-e2e
#   make test-e2e        end-to-end tests (module e2e/): OTLP to a real collector (root)
#   make bench           benchmarks, BENCHTIME per benchmark
#   make lint            gofmt and go vet

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BENCHTIME ?= 10x
TESTFLAGS ?=

.PHONY: build generate check-generate test test-e2e bench lint clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o packet-exporter ./cmd/packet-exporter

# bpf/gen.go pins the compiler: Debian's clang-19 and llvm-strip-19.
generate:
	$(GO) generate ./bpf/...

check-generate: generate
	@git diff --exit-code -- bpf/ || { echo "bpf2go output differs from what is committed: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- bpf/)" || { git status --porcelain -- bpf/; echo "untracked bpf2go output"; exit 1; }

test:
	$(GO) test -race -count=1 $(TESTFLAGS) ./...
	$(MAKE) test-e2e

# e2e/ is its own module (it builds an OpenTelemetry Collector, whose
# dependencies stay out of the product's go.mod) and uses the product through
# a replace directive: after changing the product's go.mod, run
# `cd e2e && go mod tidy`, or the go command stops with "updates to go.mod needed".
test-e2e:
	cd e2e && $(GO) test -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./...

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

clean:
	rm -f packet-exporter
