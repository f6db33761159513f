# syntax=docker/dockerfile:1
#
# packet-exporter container image: one static binary on a distroless base (no
# shell, no package manager). The bpf2go output (Go bindings and the compiled
# eBPF objects) is committed, so the build stage needs neither clang nor kernel
# headers.
#
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" -t packet-exporter .
#   docker run -d --name packet-exporter --network host \
#     --cap-drop ALL --cap-add BPF --cap-add NET_ADMIN --cap-add PERFMON \
#     --security-opt no-new-privileges --read-only \
#     -v "$PWD/packet-exporter.example.yaml:/etc/packet-exporter/config.yaml:ro" \
#     packet-exporter
#
# Run it on the host network (it counts the host's interfaces) with exactly the
# three capabilities above, never --privileged:
#   CAP_BPF        create the counter maps and load the programs
#   CAP_NET_ADMIN  attach the programs to the interfaces (tcx, legacy tc, XDP)
#   CAP_PERFMON    without it the verifier refuses the parser's pointer
#                  arithmetic ("pointer arithmetic ... prohibited for !root")
# Linux 5.8 introduced CAP_BPF and CAP_PERFMON; before 5.8 the only way is
# CAP_SYS_ADMIN. Before 5.11 BPF memory is charged to RLIMIT_MEMLOCK: the
# exporter raises that limit itself, which needs CAP_SYS_RESOURCE there (or
# `--ulimit memlock=-1`). Counting uses tcx (Linux 6.6+) or, on older kernels,
# legacy tc (a clsact qdisc and cls_bpf filters, which outlive a killed
# container until the next start replaces them; see SECURITY.md).
# Recent Docker's and containerd's default seccomp profiles allow bpf() and
# perf_event_open() to containers holding CAP_BPF / CAP_PERFMON; where a
# runtime's profile allows them only to CAP_SYS_ADMIN the exporter exits 1
# naming the seccomp filter (SECURITY.md: the two rules to add).
# `make image` builds this image stage without a daemon, for amd64 and arm64.
#
# The configuration is a file: the image carries the example configuration
# (which equals the built-in defaults) at /etc/packet-exporter/config.yaml;
# mount your own over it. `--check-config` validates it and exits.
#
# The Go build command below is the one `make build` runs (the deploy tests
# extract it from this file, compare it with the Makefile's and run it).

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=bind,source=go.mod,target=go.mod \
    --mount=type=bind,source=go.sum,target=go.sum \
    go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/packet-exporter ./cmd/packet-exporter

FROM gcr.io/distroless/static-debian12:latest
ARG VERSION=dev
LABEL org.opencontainers.image.title="packet-exporter" \
      org.opencontainers.image.description="Per-interface packet and byte counters from eBPF (tcx or XDP), as OpenTelemetry and Prometheus metrics" \
      org.opencontainers.image.source="https://github.com/packet-exporter/packet-exporter" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/packet-exporter /usr/local/bin/packet-exporter
COPY packet-exporter.example.yaml /etc/packet-exporter/config.yaml
# uid 0 inside the container so that the capabilities the runtime grants
# (--cap-add, Kubernetes capabilities.add) are effective; the runtime's
# bounding set (--cap-drop ALL) leaves it only those. Nothing in the image is
# setuid, and the root filesystem can be read-only.
USER 0:0
EXPOSE 9743
ENTRYPOINT ["/usr/local/bin/packet-exporter"]
CMD ["--config", "/etc/packet-exporter/config.yaml"]
