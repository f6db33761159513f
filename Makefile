# packet-exporter build, test and benchmark entry points.
#
#   make build           static binary ./packet-exporter (no clang needed)
#   make run             the exporter on its embedded default configuration (root;
#                        through sudo from a user shell)
#   make generate        regenerate the bpf2go bindings with the pinned clang, and
#                        README.md's metric tables from internal/metricdef/metadata.yaml
#   make check-generate  fail if regenerating changes the committed bindings or README.md
#   make test            the whole test suite (root; through sudo from a user shell),
#                        then test-otelcol, test-e2e, test-deploy, test-collector and test-kernels
#   make test-otelcol    the OpenTelemetry Collector receiver component (module
#                        otelcol/packetexporterreceiver/; root)
#   make test-e2e        end-to-end tests (module e2e/): OTLP to the collector built with ocb
#                        from deploy/otelcol, that collector counting traffic, the live view
#                        in chromium (root)
#   make test-deploy     deployment tests (module deploy/): Dockerfile build, compose,
#                        Kubernetes, systemd, a real Prometheus running the dashboard's queries (root)
#   make manifests       deploy/kubernetes's manifests from the Helm chart (deploy/helm/)
#   make image           the container image for amd64 and arm64 without a daemon, in IMAGE_DIR:
#                        an OCI image layout (oci/) and one tarball per platform for docker/podman load
#   make test-collector  otel-collector.yaml validated and run by the collector of deploy/otelcol
#                        reduced to that file's components (module tools/collector/)
#   make bench           the benchmark suite (root, ~19 min): writes BENCHMARKS.md
#   make bench-smoke     every benchmark once at a small size (root, CI): writes nothing
#   make fuzz            every Go fuzz target for FUZZTIME each (make test runs their seeds)
#   make lint            gofmt, go vet and staticcheck over every module; clang-format
#                        over the BPF C
#   make test-kernels    the kernel-facing tests under each kernel of KERNELS, in QEMU
#                        (software emulation, no KVM needed; root; ~5 min for Debian 12's 6.1
#                        on amd64, ~30 s for its bpf tests on arm64)

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BENCHTIME ?= 10x
LOAD_DURATION ?= 45s
E2E_ARTIFACTS ?= $(or $(TMPDIR),/tmp)/packet-exporter-e2e-artifacts
FUZZTIME  ?= 30s
TESTFLAGS ?=
# The modules of this repository, and the staticcheck release make lint runs on them.
MODULES   := . otelcol/packetexporterreceiver e2e deploy tools/collector tools/mdatagen
STATICCHECK_VERSION := v0.8.2
# The formatter of the BPF C, Debian's like the compiler (bpf/gen.go); style in .clang-format.
CLANG_FORMAT ?= clang-format-19

# The kernels make test-kernels boots, one spec each (see tools/vmtest):
# debian:GLOB is the newest Debian package apt-cache knows whose name matches
# GLOB, where * stands for one part without '-' (the ABI number, so the rt and
# cloud flavours do not match); a path to a .deb, an unpacked package or a
# kernel image works too. Downloads are kept under $XDG_CACHE_HOME (~/.cache)
# /packet-exporter-kernels. A kernel may be amd64 or arm64 (told by its image),
# whatever this machine's architecture: an arm64 one boots in
# qemu-system-aarch64, and Debian's arm64 packages need
# `dpkg --add-architecture arm64` and apt-get update first (.ci/run does both).
KERNELS ?= debian:linux-image-6.1.0-*-amd64-unsigned debian:linux-image-6.1.0-*-arm64-unsigned
# The packages run under each kernel of this machine's architecture (dropcategory: its
# table has every drop reason that kernel names)...
KERNEL_TEST_PACKAGES ?= ./bpf ./receiver ./cmd/packet-exporter ./internal/dropcategory
# ...and under each kernel of another architecture (cross-compiled). There
# this machine's executables cannot run: the guest has the kernel
# architecture's busybox and iproute2 (ip, tc) over this machine's root file
# system, but no nft, go or promtool, which the receiver's and the binary's
# tests run. Empty: KERNEL_TEST_PACKAGES.
KERNEL_FOREIGN_TEST_PACKAGES ?= ./bpf
# Flags of the test binaries (-test.v, -test.run=X; not go test's short forms).
KERNEL_TESTFLAGS ?=
# Limit for one package under one kernel, boot included; the VM is killed after it.
KERNEL_TEST_TIMEOUT ?= 10m

.PHONY: build run generate manifests image check-generate test test-otelcol test-e2e test-deploy test-collector test-kernels bench bench-smoke lint clean fuzz

# What needs root (loading programs, creating network namespaces) runs as it
# from a user shell through sudo, keeping the caller's PATH (where go is),
# and as is from a root shell, which may have no sudo.
ROOT := $(if $(filter 0,$(shell id -u)),,sudo env "PATH=$$PATH")

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o packet-exporter ./cmd/packet-exporter

# bpf/gen.go and bench/gen.go pin the compiler: Debian's clang-19 and llvm-strip-19.
# internal/metricdef/gen.go rewrites README.md's metric tables, the metrics' Go names
# (internal/metricdef/metadata_generated.go) and the Collector receiver's documentation.md (by
# mdatagen, pinned in tools/mdatagen) from metadata.yaml (internal/metricdef/cmd/metricgen).
generate:
	$(GO) generate ./bpf/... ./bench/... ./internal/metricdef/...

# The exporter on its embedded default configuration (every interface but lo,
# /metrics on :9743), until Ctrl-C.
run:
	$(ROOT) CGO_ENABLED=0 $(GO) run ./cmd/packet-exporter

check-generate: generate
	@git diff --exit-code -- bpf/ bench/ || { echo "bpf2go output differs from what is committed: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- bpf/ 'bench/*_bpfel.*')" || { git status --porcelain -- bpf/ 'bench/*_bpfel.*'; echo "untracked bpf2go output"; exit 1; }
	@git diff --exit-code -- README.md internal/metricdef/metadata_generated.go otelcol/packetexporterreceiver/documentation.md || { echo "README.md's metric tables, the metrics' Go definitions or the receiver's documentation.md differ from what internal/metricdef/metadata.yaml makes: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- otelcol/packetexporterreceiver/documentation.md)" || { echo "untracked otelcol/packetexporterreceiver/documentation.md"; exit 1; }

test:
ifneq ($(shell id -u),0)
	$(ROOT) $(MAKE) test
else
	$(GO) test -race -count=1 $(TESTFLAGS) ./...
	$(MAKE) test-otelcol
	$(MAKE) test-e2e
	$(MAKE) test-deploy
	$(MAKE) test-collector
	$(MAKE) test-kernels
endif

# otelcol/packetexporterreceiver/ is the collector receiver component, a
# module of its own so that the collector's dependencies stay out of the
# product's go.mod; it uses the product through a replace directive, with
# the same `go mod tidy` rule as e2e/.
test-otelcol:
	cd otelcol/packetexporterreceiver && $(GO) test -race -count=1 ./...

# e2e/ is its own module (its jsonfile exporter is a collector component, whose
# dependencies stay out of the product's go.mod) and uses the product through
# a replace directive: after changing the product's go.mod, run
# `cd e2e && go mod tidy`, or the go command stops with "updates to go.mod needed".
# Every collector of the repository is built with ocb from deploy/otelcol/manifest.yaml
# by internal/testing/otelcolbuild; ocb is pinned by deploy/otelcol/go.mod. A cold build of
# e2e's (the distribution plus the jsonfile exporter) takes about 5 minutes on
# 2 vCPUs, hence the timeout; it is cached under the user cache directory.
# Files the tests leave for a person (the live view's screenshots) are kept
# under E2E_ARTIFACTS; the test log gives each path.
test-e2e:
	mkdir -p "$(E2E_ARTIFACTS)"
	@cd e2e && $(GO) test -count=1 -timeout 20m -artifacts -outputdir "$(E2E_ARTIFACTS)" ./...; \
		status=$$?; echo "make test-e2e: artifacts (the live view's screenshots) in $(E2E_ARTIFACTS)"; exit $$status

# deploy/ is its own module too (k8s.io/api, the compose-spec loader and
# BuildKit's Dockerfile parser stay out of the product's go.mod), with the
# same replace directive and the same `go mod tidy` rule. It needs root and
# prometheus, promtool, strace, setpriv and systemd-analyze (.ci/run installs them).
test-deploy:
	cd deploy && $(GO) test -count=1 ./...

# deploy/kubernetes/packet-exporter.yaml and servicemonitor.yaml are the Helm
# chart deploy/helm/packet-exporter rendered with its defaults (Helm's Go SDK);
# make test-deploy fails when they differ.
manifests:
	cd deploy && $(GO) run ./cmd/manifests

# The image of the Dockerfile's image stage on an empty base, for every platform
# of deploy/internal/image (amd64, arm64), built by go-containerregistry (deploy/cmd/image)
# without a daemon: IMAGE_DIR/oci is an OCI image layout whose index names both, and
# IMAGE_DIR/packet-exporter-linux-ARCH.tar the image of one platform for `docker load` or
# `podman load`, tagged VERSION and the Helm chart's default tag on its repository. The files
# are dated SOURCE_DATE_EPOCH (the last commit's time): the same commit gives the same image.
IMAGE_DIR ?= $(CURDIR)/_image
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
image:
	cd deploy && SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./cmd/image -version $(VERSION) -out $(IMAGE_DIR)

# tools/collector/ is its own module so that its test dependencies (OTLP
# protobufs, gRPC) stay out of the product's go.mod; it uses the product (for
# internal/testing/testexporter and internal/testing/otelcolbuild) through a replace
# directive, with the same `go mod tidy` rule as e2e/. It builds the collector
# of deploy/otelcol/manifest.yaml reduced to otel-collector.yaml's components
# (cold about 3 minutes on 2 vCPUs, then cached like e2e's), validates that
# file and runs it on free loopback ports. No root needed.
test-collector:
	cd tools/collector && $(GO) test -count=1 -timeout 20m ./...

# Each package of KERNEL_TEST_PACKAGES is compiled here (CGO_ENABLED=0 go test
# -c) and run as root under each kernel of KERNELS of this machine's
# architecture, and each of KERNEL_FOREIGN_TEST_PACKAGES (GOARCH=arm64 go test
# -c) under each of another architecture, one QEMU VM per package and kernel,
# on this machine's root file system (read-only, under a tmpfs overlay): see
# tools/vmtest. Needs root, qemu-system-x86, qemu-system-arm, busybox-static
# and, for arm64 kernels, arm64 among dpkg's architectures (the kernel, busybox
# and iproute2 packages are arm64's, downloaded with apt-get).
# It depends on build because cmd/packet-exporter's tests run `go build
# -trimpath` in the VM: with this machine's build cache already holding the
# same compiled packages (make build uses the same flags), the VM only links.
# The upgrade tests' second build (testexporter.VariantProgram) is compiled
# here first, so that the VM finds its packages in the build cache.
test-kernels: build
	CGO_ENABLED=0 $(GO) build -trimpath -tags layoutvariant -o /dev/null ./cmd/packet-exporter
	$(GO) run ./tools/vmtest -timeout $(KERNEL_TEST_TIMEOUT) $(foreach k,$(KERNELS),-kernel '$(k)') \
		-foreign-packages '$(KERNEL_FOREIGN_TEST_PACKAGES)' $(KERNEL_TEST_PACKAGES) -- $(KERNEL_TESTFLAGS)

# The benchmark suite (bench/, and the scrape benchmarks in receiver/) needs
# root. bench/report runs it and writes BENCHMARKS.md; BENCHTIME is the
# iterations of each benchmark, LOAD_DURATION each phase of the user-space
# load benchmark. BENCHTIME=1x (what CI used to pass) means the smoke run.
bench:
ifeq ($(BENCHTIME),1x)
	$(MAKE) bench-smoke
else
	$(GO) run ./bench/report -benchtime $(BENCHTIME) -load-duration $(LOAD_DURATION) -out BENCHMARKS.md
endif

# Every benchmark of the module once, at a small size: they keep compiling and
# working (exactness checks included); numbers are not judged, nothing is written.
bench-smoke:
	$(GO) run ./bench/report -smoke

# Runs each fuzz target (func FuzzXxx in a _test.go file of this module) for
# FUZZTIME, one after the other; a failing input is saved under the package's
# testdata/fuzz/ and fails the target. `make fuzz FUZZTIME=10m` for longer.
fuzz:
	@set -e; $(GO) list -f '{{.ImportPath}} {{.Dir}}' ./... | while read -r pkg dir; do \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$dir"/*_test.go 2>/dev/null); do \
			echo "fuzz $$pkg $$target for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) "$$pkg"; \
		done; \
	done

# gofmt over the Go files git knows or would add (not a collector built under _build/), clang-format over
# the C of bpf/ and bench/ (a file it would change fails, naming the place; `$(CLANG_FORMAT) -i FILE`
# formats it), then go vet and staticcheck (the pinned release, built into bin/) over every module.
lint:
	@test -z "$$(gofmt -l $$(git ls-files --cached --others --exclude-standard "*.go"))" || { gofmt -l $$(git ls-files --cached --others --exclude-standard "*.go"); echo "gofmt needed"; exit 1; }
	@$(CLANG_FORMAT) --dry-run --Werror $$(git ls-files --cached --others --exclude-standard 'bpf/*.[ch]' 'bench/*.[ch]') || { echo "clang-format needed: $(CLANG_FORMAT) -i FILE"; exit 1; }
	GOBIN=$(CURDIR)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@set -e; for module in $(MODULES); do \
		echo "vet and staticcheck: $$module"; \
		(cd $$module && $(GO) vet ./... && $(CURDIR)/bin/staticcheck ./...); \
	done

clean:
	rm -f packet-exporter
