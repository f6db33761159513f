# packet-exporter container image: a static binary on a minimal base.
# The bpf2go output is committed, so the build stage needs no clang.
#
#   docker build -t packet-exporter .
#   docker run --network host --cap-drop ALL \
#     --cap-add BPF --cap-add NET_ADMIN --cap-add PERFMON \
#     -v "$PWD/packet-exporter.example.yaml:/etc/packet-exporter/config.yaml:ro" \
#     packet-exporter --config /etc/packet-exporter/config.yaml

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/packet-exporter ./cmd/packet-exporter

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/packet-exporter /usr/local/bin/packet-exporter
# Loading BPF programs needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON; the image
# runs as root inside the container so those capabilities are effective, and
# the runtime should grant no others.
USER 0:0
EXPOSE 9743
ENTRYPOINT ["/usr/local/bin/packet-exporter"]
