package bpf

import (
	"testing"

	"github.com/cilium/ebpf"

	"github.com/packet-exporter/packet-exporter/internal/testenv"
	tf "github.com/packet-exporter/packet-exporter/internal/testframe"
)

// TestUncountableFrameIsCounted checks the "could not count" path: a program
// whose block lies beyond the counters map counts the frame as an error
// instead, and still lets it through.
func TestUncountableFrameIsCounted(t *testing.T) {
	testenv.RequireRoot(t)
	maps, err := NewMaps(1, EventOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	frame := tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{}, UDP: &tf.UDP{SrcPort: 1, DstPort: 2}})
	for _, program := range []string{CounterProgPeCountXdp, CounterProgPeCountTc} {
		prog, err := maps.loadAt(program, 2)
		if err != nil {
			t.Fatal(err)
		}
		defer prog.Close()
		const runs = 3
		for range runs {
			if _, err := prog.Run(&ebpf.RunOptions{Data: frame}); err != nil {
				t.Fatal(err)
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
		if got := stats[StatNoCounter]; got != runs {
			t.Errorf("%s: no_counter errors = %d, want %d", program, got, runs)
		}
		if err := maps.Stats.Put(uint32(StatNoCounter), make([]uint64, reader.cpus)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadRejectsSlotOutOfRange(t *testing.T) {
	testenv.RequireRoot(t)
	maps, err := NewMaps(2, EventOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	for _, slot := range []int{-1, 2} {
		if p, err := maps.LoadXDP(slot); err == nil {
			p.Close()
			t.Errorf("LoadXDP(%d) succeeded", slot)
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
	prog, err := maps.LoadTC(1, Transmit)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	for _, frame := range [][]byte{
		tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{}, UDP: &tf.UDP{}}),
		tf.MustBuild(tf.Frame{IPv6: &tf.IPv6{}, TCP: &tf.TCP{}}),
		tf.MustBuild(tf.Frame{ARP: true}),
	} {
		if _, err := prog.Run(&ebpf.RunOptions{Data: frame}); err != nil {
			t.Fatal(err)
		}
	}
	read := func(batch bool) []Value {
		r, err := NewReader(maps)
		if err != nil {
			t.Fatal(err)
		}
		r.useBatch = batch
		var out []Value
		if err := r.Counters(2, func(v []Value) error { out = append(out, v...); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	batch, each := read(true), read(false)
	nonZero := 0
	for i := range batch {
		if batch[i] != each[i] {
			t.Errorf("entry %d: batch %+v, one by one %+v", i, batch[i], each[i])
		}
		if batch[i].Packets != 0 {
			nonZero++
		}
	}
	// Three classes, and two size buckets: 42-byte frames (<= 64), a 74-byte one.
	if nonZero != 5 {
		t.Errorf("%d non-zero entries, want 5", nonZero)
	}
}
