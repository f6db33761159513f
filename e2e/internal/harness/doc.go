// Package harness runs packet-exporter and a real OpenTelemetry Collector
// inside test network namespaces, and reads back what each of them reports:
// the data points the collector received over OTLP (from the JSON lines its
// "jsonfile" exporter writes) and the exporter's Prometheus /metrics. The
// collector is the one users build from deploy/otelcol/manifest.yaml, with
// this module's jsonfile exporter added (Otelcol), built with the OpenTelemetry
// Collector Builder by the repository's collector build helper
// (internal/testing/otelcolbuild) and kept in the user's cache directory.
//
// packet-exporter is built, the processes run and /metrics scraped with the
// repository's shared test helpers (internal/testing/testexporter): processes are
// killed, if still running, by the test's cleanup, and their output is logged
// when the test failed. Every wait is bounded and polls; none sleeps for a
// fixed long time.
package harness
