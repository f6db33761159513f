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
	maps, err := NewMaps(1)
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	frame := tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{}, UDP: &tf.UDP{SrcPort: 1, DstPort: 2}})
	for _, program := range []string{CounterProgPeCountXdp, CounterProgPeCountTc} {
		prog, err := maps.loadAt(program, uint32(EntriesPerInterface))
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
		errs, err := reader.Errors()
		if err != nil {
			t.Fatal(err)
		}
		if got := errs[CounterPeErrorPE_ERROR_NO_COUNTER]; got != runs {
			t.Errorf("%s: no_counter errors = %d, want %d", program, got, runs)
		}
		if err := maps.Errors.Put(uint32(0), make([]uint64, reader.cpus)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadRejectsSlotOutOfRange(t *testing.T) {
	testenv.RequireRoot(t)
	maps, err := NewMaps(2)
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
