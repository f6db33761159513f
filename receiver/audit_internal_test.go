package receiver

import (
	"testing"

	"github.com/packet-exporter/packet-exporter/bpf"
)

// TestAuditWindows: what each window adds to the difference.
func TestAuditWindows(t *testing.T) {
	// Each window: the programs' runs and packets read, then the device's
	// count, all cumulative; want is the difference after it.
	type window struct{ runs, packets, device uint64 }
	for _, tc := range []struct {
		name    string
		windows []window
		want    []int64
	}{
		{"the first window is the baseline", []window{{5, 5, 9}}, []int64{0}},
		{"a device counting socket buffers", []window{{0, 0, 0}, {10, 30, 10}, {20, 60, 20}}, []int64{0, 0, 0}},
		{"a device counting segments", []window{{0, 0, 0}, {10, 30, 30}, {20, 60, 60}}, []int64{0, 0, 0}},
		{"frames the programs missed", []window{{0, 0, 0}, {10, 10, 17}, {20, 20, 27}}, []int64{0, 7, 7}},
		{"missed beyond the segments", []window{{0, 0, 0}, {10, 30, 35}}, []int64{0, 5}},
		{"slack does not carry over", []window{{0, 0, 0}, {10, 30, 10}, {20, 40, 24}}, []int64{0, 0, 4}},
		{"counted, the device did not", []window{{0, 0, 0}, {10, 10, 8}}, []int64{0, -2}},
		{"a frame between the reads", []window{{0, 0, 0}, {10, 10, 11}, {21, 21, 21}}, []int64{0, 1, 0}},
		{"a device's counters reset", []window{{0, 0, 0}, {10, 10, 12}, {20, 20, 3}, {30, 30, 15}}, []int64{0, 2, 2, 4}},
		{"a block zeroed", []window{{100, 100, 100}, {3, 3, 105}, {10, 10, 113}}, []int64{0, 0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAudit()
			at := &attachment{index: 7}
			for i, w := range tc.windows {
				a.counted(at, bpf.Receive, w.runs, w.packets)
				got, ok := a.difference(at, bpf.Receive, w.device)
				if !ok || got != tc.want[i] {
					t.Errorf("window %d: difference %d (%v), want %d", i, got, ok, tc.want[i])
				}
			}
		})
	}
}

// TestAuditReads: a window closes only after a read of the counters, and an
// attachment's windows go with it.
func TestAuditReads(t *testing.T) {
	a := newAudit()
	at := &attachment{index: 7}
	if _, ok := a.difference(at, bpf.Transmit, 10); ok {
		t.Error("a difference before any read of the counters")
	}
	a.counted(at, bpf.Transmit, 1, 1)
	if _, ok := a.difference(at, bpf.Transmit, 10); !ok {
		t.Error("no difference after a read")
	}
	a.counted(at, bpf.Transmit, 2, 2)
	if diff, _ := a.difference(at, bpf.Transmit, 14); diff != 3 {
		t.Errorf("difference %d, want 3", diff)
	}
	// Another reader's collection, without a read of the counters since:
	// the same difference, and the window stays open.
	if diff, ok := a.difference(at, bpf.Transmit, 20); !ok || diff != 3 {
		t.Errorf("difference without a read: %d (%v), want 3", diff, ok)
	}
	a.counted(at, bpf.Transmit, 3, 3)
	if diff, _ := a.difference(at, bpf.Transmit, 15); diff != 3 {
		t.Errorf("difference %d, want 3: the device's count of the window without a read is not the window's end", diff)
	}
	a.forget(map[int]*attachment{7: {index: 7}}) // another attachment of index 7
	if len(a.windows) != 0 {
		t.Errorf("windows of a detached attachment kept: %v", a.windows)
	}
}
