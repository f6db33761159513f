// Package packetexporterreceiver is packet-exporter as an OpenTelemetry
// Collector receiver, component type packetexporter: the agent's counting
// core (the eBPF programs of bpf/ and the receiver of receiver/) inside a
// collector, emitting the agent's metrics (names, units, attributes,
// cumulative temporality) into the collector's pipelines every
// collection_interval. documentation.md lists them (generated from
// internal/metricdef/metadata.yaml by the Collector's mdatagen).
//
// Its configuration takes the agent's keys for what is counted (interfaces,
// egress, xdp, ingress, events, flows, limits, drops, tunnels, attribution) and
// metrics, which switches metrics off as in other receivers, with the
// agent's defaults, checks and error messages, plus the scraper keys
// collection_interval, initial_delay and timeout. The agent's prometheus,
// otlp, resource, log and debug sections are the collector's business
// (exporters, processors, service::telemetry) and are refused.
//
// Like the agent, it counts the interfaces of the collector's network
// namespace, one instance per namespace, and needs CAP_BPF, CAP_NET_ADMIN
// and CAP_PERFMON (see SECURITY.md).
package packetexporterreceiver
