// Package collector proves that the repository's otel-collector.yaml is a
// working OpenTelemetry Collector configuration. It is its own Go module, so
// that the collector and the contrib prometheus exporter stay out of the
// product's go.mod; it requires the product module only for the shared test
// helpers (internal/testexporter), on the same OpenTelemetry release.
//
// cmd/pecollector is a collector distribution with the components that file
// uses; collector_test.go builds it, validates the file with it and runs it on
// a copy of the file moved to free loopback ports, sending one OTLP/gRPC
// metrics export and reading it back from the prometheus exporter.
package collector
