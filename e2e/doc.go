// Package e2e holds packet-exporter's end-to-end tests: the real binary, in
// test network namespaces, pushes its metrics over OTLP/gRPC to a real
// OpenTelemetry Collector, and the tests compare what the collector received
// with the traffic sent and with the exporter's /metrics. That collector is
// the distribution of deploy/otelcol, built with ocb from the shipped
// manifest plus this module's jsonfile exporter (internal/testing/otelcolbuild);
// with its packetexporter receiver counting a test interface, it is compared
// with the traffic sent the same way.
//
// The tests need root (eBPF, network namespaces) and the ip command; run them
// with `make test-e2e` or `cd e2e && go test -count=1 ./...`.
package e2e
