// Package receiver loads packet-exporter's kernel programs, attaches them to
// the host's interfaces and turns the kernel counters into OpenTelemetry
// instruments.
//
// For every interface that matches the configuration the receiver takes a
// counter slot and loads a tc instance per direction, attached through tcx
// (Linux 6.6 or later) or as a legacy tc filter; with ingress.hook xdp, an
// XDP instance counts received frames instead. Observable counters read the kernel maps
// when a reader collects (a Prometheus scrape, an OTLP export), sum the per-CPU
// values and report cumulative totals; nothing runs per packet in user space.
package receiver
