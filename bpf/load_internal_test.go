package bpf

import (
	"testing"

	"github.com/cilium/ebpf"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	tf "github.com/packet-exporter/packet-exporter/internal/testing/testframe"
)

// xdpPass is the verdict XDP_PASS.
const xdpPass = 2

// TestUncountableFrameIsCounted checks the "could not count" paths: a frame
// on an interface with no slot is counted as unmapped, one whose slot lies
// beyond the counters map (which MapInterface refuses to set) as no_counter,
// and both still go through.
func TestUncountableFrameIsCounted(t *testing.T) {
	testenv.RequireRoot(t)
	frame := tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{}, UDP: &tf.UDP{SrcPort: 1, DstPort: 2}})
	for _, tc := range []struct {
		name    string
		slot    uint32 // the value of loopback's (ifindex 1) entry: its receive block + 1, 0 for none
		stat    int
		program func(*Maps) (*ebpf.Program, error)
		verdict uint32 // XDP_PASS, or TCX_NEXT as the u32 the kernel returns
	}{
		{"xdp unmapped", 0, StatUnmapped, (*Maps).XDP, xdpPass},
		{"xdp linear unmapped", 0, StatUnmapped, (*Maps).XDPLinear, xdpPass},
		{"tc unmapped", 0, StatUnmapped, func(m *Maps) (*ebpf.Program, error) { return m.TC(Transmit) }, 0xffffffff},
		{"xdp beyond the counters", 3, StatNoCounter, (*Maps).XDP, xdpPass},
		{"tc beyond the counters", 3, StatNoCounter, func(m *Maps) (*ebpf.Program, error) { return m.TC(Receive) }, 0xffffffff},
	} {
		t.Run(tc.name, func(t *testing.T) {
			maps, err := NewMaps(1, EventOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer maps.Close()
			if err := maps.SlotsByIfindex.Put(uint32(1), tc.slot); err != nil {
				t.Fatal(err)
			}
			prog, err := tc.program(maps)
			if err != nil {
				t.Fatal(err)
			}
			const runs = 3
			for range runs {
				// struct __sk_buff up to ingress_ifindex, which the tc
				// program reads at ingress: the frame arrived on loopback.
				// XDP contexts are left to the kernel (ingress_ifindex 1).
				var ctx any
				if tc.verdict != xdpPass {
					ctx = [10]uint32{9: 1}
				}
				verdict, err := prog.Run(&ebpf.RunOptions{Data: frame, Context: ctx})
				if err != nil {
					t.Fatal(err)
				}
				if verdict != tc.verdict {
					t.Fatalf("verdict %d, want %d", verdict, tc.verdict)
				}
			}
			reader, err := NewReader(maps)
			if err != nil {
				t.Fatal(err)
			}
			stats, err := reader.Stats()
			if err != nil {
				t.Fatal(err)
			}
			for i, n := range stats {
				want := uint64(0)
				if i == tc.stat {
					want = runs
				}
				if n != want {
					t.Errorf("stats[%d] = %d, want %d", i, n, want)
				}
			}
			if err := reader.Counters(1, func(blocks []Block) error {
				for i, b := range blocks {
					if b != (Block{}) {
						t.Errorf("block %d counted %+v", i, b)
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestMapInterfaceRejectsOutOfRange(t *testing.T) {
	testenv.RequireRoot(t)
	maps, err := NewMaps(2, EventOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	for _, c := range []struct{ ifindex, slot int }{{1, -1}, {1, 2}, {0, 0}, {-3, 0}, {1 << 31, 0}} {
		if err := maps.MapInterface(c.ifindex, c.slot); err == nil {
			t.Errorf("MapInterface(%d, %d) succeeded", c.ifindex, c.slot)
		}
	}
}

// TestReaderFallback checks that reading entry by entry, for kernels without
// batch lookups, gives what the batch lookup gives.
func TestReaderFallback(t *testing.T) {
	testenv.RequireRoot(t)
	maps, err := NewMaps(2, EventOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	if err := maps.MapInterface(1, 1); err != nil {
		t.Fatal(err)
	}
	prog, err := maps.TC(Transmit)
	if err != nil {
		t.Fatal(err)
	}
	for _, frame := range [][]byte{
		tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{}, UDP: &tf.UDP{}}),
		tf.MustBuild(tf.Frame{IPv6: &tf.IPv6{}, TCP: &tf.TCP{}}),
		tf.MustBuild(tf.Frame{ARP: true}),
	} {
		if _, err := prog.Run(&ebpf.RunOptions{Data: frame}); err != nil {
			t.Fatal(err)
		}
	}
	read := func(batch bool) []Block {
		r, err := NewReader(maps)
		if err != nil {
			t.Fatal(err)
		}
		r.useBatch = batch
		var out []Block
		if err := r.Counters(2, func(b []Block) error { out = append(out, b...); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	batch, each := read(true), read(false)
	nonZero, runs := 0, uint64(0)
	for i := range batch {
		if batch[i] != each[i] {
			t.Errorf("block %d: batch %+v, one by one %+v", i, batch[i], each[i])
		}
		for e := range EntriesPerDirection {
			if batch[i].Entry(e).Packets != 0 {
				nonZero++
			}
		}
		runs += batch[i].Runs
	}
	// Three classes, and two size buckets: 42-byte frames (<= 64), a 74-byte one.
	if nonZero != 5 || runs != 3 {
		t.Errorf("%d non-zero entries and %d runs, want 5 and 3", nonZero, runs)
	}
}
