package bpf_test

import (
	"slices"
	"testing"
	"unsafe"

	"github.com/packet-exporter/packet-exporter/bpf"
)

// TestKernelLayout checks what user space reads from the object's BTF
// against the metric contract: the network.transport values of each network
// type, the error.type values of the anomalies and the histogram's bounds.
func TestKernelLayout(t *testing.T) {
	var transports []string
	for entry := range bpf.ClassCount {
		if c := bpf.ClassOf(entry); c.NetworkType == "ipv4" {
			transports = append(transports, c.Transport)
		}
	}
	if want := []string{"tcp", "udp", "icmp", "icmpv6", "sctp", "other"}; !slices.Equal(transports, want) {
		t.Errorf("ipv4 transports %v, want %v", transports, want)
	}
	for entry := range bpf.ClassCount {
		c := bpf.ClassOf(entry)
		back, ok := bpf.ClassEntry(c.NetworkType, c.Transport)
		if !ok || back != entry {
			t.Errorf("class %d is %+v, which maps back to %d (%v)", entry, c, back, ok)
		}
	}
	var anomalies []string
	for i := range bpf.AnomalyCount {
		anomalies = append(anomalies, bpf.AnomalyName(bpf.AnomalyFirst+i))
	}
	if want := []string{"truncated", "malformed", "too_deep"}; !slices.Equal(anomalies, want) {
		t.Errorf("anomalies %v, want %v", anomalies, want)
	}
	for name, entry := range map[string]int{"truncated": bpf.AnomalyTruncated, "malformed": bpf.AnomalyMalformed, "too_deep": bpf.AnomalyTooDeep} {
		if got := bpf.AnomalyName(entry); got != name {
			t.Errorf("AnomalyName(%d) = %q, want %q", entry, got, name)
		}
	}
	if got, want := bpf.BucketBounds(), []float64{64, 128, 256, 512, 1024, 1518, 9000}; !slices.Equal(got, want) || len(got) != bpf.BucketCount-1 {
		t.Errorf("bucket bounds %v (%d buckets), want %v", got, bpf.BucketCount, want)
	}
}

// TestBlockSize pins the kernel memory of one interface's counters, which
// README.md and the example configuration document for limits.max_interfaces:
// two blocks per CPU.
func TestBlockSize(t *testing.T) {
	if got := 2 * unsafe.Sizeof(bpf.CounterPeBlock{}); got != 656 {
		t.Errorf("%d bytes per interface per CPU; update the documentation of limits.max_interfaces", got)
	}
}
