// Package collector proves that the repository's otel-collector.yaml is a
// working OpenTelemetry Collector configuration. It is its own Go module, with
// no dependency on the product module, so that it can use the collector
// release that the contrib prometheus exporter is served for.
//
// cmd/pecollector is a collector distribution with the components that file
// uses; collector_test.go builds it, validates the file with it and runs it on
// a copy of the file moved to free loopback ports, sending one OTLP/gRPC
// metrics export and reading it back from the prometheus exporter.
package collector
