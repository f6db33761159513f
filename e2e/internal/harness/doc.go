// Package harness runs packet-exporter and a real OpenTelemetry Collector
// (this module's cmd/testcollector) inside test network namespaces, and reads
// back what each of them reports: the data points the collector received over
// OTLP (from the JSON lines its "jsonfile" exporter writes) and the exporter's
// Prometheus /metrics. It also builds, with the OpenTelemetry Collector
// Builder, the collector of deploy/otelcol/manifest.yaml with the jsonfile
// exporter added, and keeps it in the user's cache directory
// (BuildDistribution).
//
// The binaries are built, the processes run and /metrics scraped with the
// repository's shared test helpers (internal/testexporter): processes are
// killed, if still running, by the test's cleanup, and their output is logged
// when the test failed. Every wait is bounded and polls; none sleeps for a
// fixed long time.
package harness
