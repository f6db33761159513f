// Package receiver loads packet-exporter's kernel programs, attaches them to
// the host's interfaces and turns the kernel counters into OpenTelemetry
// instruments.
//
// For every interface that matches the configuration the receiver takes a
// counter slot, loads an XDP instance for ingress (native mode when the driver
// has it, generic otherwise, as configured) and a tc instance attached through
// tcx for egress (Linux 6.6 or later). Observable counters read the kernel maps
// when a reader collects (a Prometheus scrape, an OTLP export), sum the per-CPU
// values and report cumulative totals; nothing runs per packet in user space.
package receiver
