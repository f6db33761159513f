// Package receiver loads packet-exporter's kernel programs, attaches them to
// the host's interfaces and turns the kernel counters into OpenTelemetry
// instruments.
//
// A Receiver is two kinds of parts. The attacher (attacher.go) owns the
// kernel maps and everything attached: it watches the namespace's links,
// takes a counter slot for every interface that matches the configuration
// and attaches a tc program per direction, through tcx (Linux 6.6 or later)
// or as a legacy tc filter, or with ingress.hook xdp an XDP program for
// received frames; it alone changes what is attached, including the
// programs' timed variant (timing.go). The collectors, one per source
// (traffic.go, drops.go, device.go, attribution.go, events.go, health.go),
// each create their instruments and observe them when a reader collects (a
// Prometheus scrape, an OTLP export); they only read. Observable counters
// read the kernel maps, sum the per-CPU values and report cumulative totals;
// nothing runs per packet in user space.
package receiver
