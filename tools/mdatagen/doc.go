// Package mdatagen pins the OpenTelemetry Collector's metadata generator
// (mdatagen) as a Go tool, in a module of its own so that its dependencies,
// a release of the Collector older than the receiver's, stay out of every
// other go.mod. make generate runs it through internal/metricdef/cmd/metricgen
// on internal/metricdef/metadata.yaml to write the Collector receiver's
// documentation.md.
//
// It is v0.159.0, the newest release the module proxy serves whole. Its
// metrics builder cannot build a histogram with attributes as a receiver
// metric, so the receiver does not use it: the agent's collectors observe
// through a metric.Meter that writes pdata (otelcol/packetexporterreceiver),
// one observation path for the agent and the Collector.
package mdatagen
