// Package collector proves that the repository's otel-collector.yaml is a
// working OpenTelemetry Collector configuration. It is its own Go module, so
// that its test dependencies (the OTLP protobufs, gRPC, the Prometheus data
// model) stay out of the product's go.mod; it requires the product module for
// the shared test helpers (internal/testing/testexporter) and the collector build
// helper (internal/testing/otelcolbuild).
//
// The collector under test is the distribution of deploy/otelcol/manifest.yaml
// reduced to the components that file uses (the otlp receiver, the batch
// processor, the prometheus and debug exporters), at the manifest's versions,
// built with ocb. collector_test.go validates the file with it and runs it on
// a copy of the file moved to free loopback ports, sending one OTLP/gRPC
// metrics export and reading it back from the prometheus exporter.
package collector
