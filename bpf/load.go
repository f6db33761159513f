package bpf

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
)

var counterSpec = sync.OnceValues(LoadCounter)

// Maps are the maps shared by every loaded program instance.
type Maps struct {
	// Counters holds CounterPeValue per CPU, indexed by BlockBase + entry.
	Counters *ebpf.Map
	// Errors holds, per CPU, how many frames could not be counted, indexed by
	// CounterPeError.
	Errors *ebpf.Map
	// Slots is the number of interface slots Counters has room for.
	Slots int
}

// NewMaps creates the shared maps with room for slots interfaces.
func NewMaps(slots int) (*Maps, error) {
	if slots < 1 {
		return nil, fmt.Errorf("create maps: %d interface slots", slots)
	}
	spec, err := counterSpec()
	if err != nil {
		return nil, err
	}
	counters := spec.Maps[CounterMapPeCounters].Copy()
	counters.MaxEntries = uint32(slots * EntriesPerInterface)
	m := &Maps{Slots: slots}
	if m.Counters, err = ebpf.NewMap(counters); err != nil {
		return nil, fmt.Errorf("create counters map: %w", err)
	}
	if m.Errors, err = ebpf.NewMap(spec.Maps[CounterMapPeErrors]); err != nil {
		m.Counters.Close()
		return nil, fmt.Errorf("create errors map: %w", err)
	}
	return m, nil
}

// Close releases the maps. Programs still loaded keep their own references.
func (m *Maps) Close() error {
	return errors.Join(m.Counters.Close(), m.Errors.Close())
}

// LoadXDP loads an instance of the XDP program counting received frames into
// the block of interface slot.
func (m *Maps) LoadXDP(slot int) (*ebpf.Program, error) {
	return m.load(CounterProgPeCountXdp, slot, Receive)
}

// LoadTC loads an instance of the tc program counting frames of direction d
// into the block of interface slot.
func (m *Maps) LoadTC(slot int, d Direction) (*ebpf.Program, error) {
	return m.load(CounterProgPeCountTc, slot, d)
}

func (m *Maps) load(program string, slot int, d Direction) (*ebpf.Program, error) {
	if slot < 0 || slot >= m.Slots {
		return nil, fmt.Errorf("load %s: slot %d out of range [0, %d)", program, slot, m.Slots)
	}
	return m.loadAt(program, BlockBase(slot, d))
}

// loadAt loads an instance of program counting into the block at counterBase.
func (m *Maps) loadAt(program string, counterBase uint32) (*ebpf.Program, error) {
	base, err := counterSpec()
	if err != nil {
		return nil, err
	}
	spec := base.Copy()
	for name := range spec.Programs {
		if name != program {
			delete(spec.Programs, name)
		}
	}
	spec.Maps[CounterMapPeCounters].MaxEntries = m.Counters.MaxEntries()
	if err := spec.Variables[CounterVarPeCounterBase].Set(counterBase); err != nil {
		return nil, fmt.Errorf("load %s: set counter base: %w", program, err)
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{
		MapReplacements: map[string]*ebpf.Map{
			CounterMapPeCounters: m.Counters,
			CounterMapPeErrors:   m.Errors,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", program, err)
	}
	prog := coll.DetachProgram(program)
	coll.Close()
	return prog, nil
}

// ResetSlot zeroes the counters of interface slot on every CPU, so that an
// interface given a slot another one used starts from zero.
func (m *Maps) ResetSlot(slot int) error {
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return fmt.Errorf("possible cpus: %w", err)
	}
	keys := make([]uint32, EntriesPerInterface)
	for i := range keys {
		keys[i] = BlockBase(slot, Receive) + uint32(i)
	}
	zeros := make([]CounterPeValue, len(keys)*cpus)
	if _, err := m.Counters.BatchUpdate(keys, zeros, nil); err == nil {
		return nil
	} else if !errors.Is(err, ebpf.ErrNotSupported) {
		return fmt.Errorf("reset slot %d: %w", slot, err)
	}
	for _, k := range keys {
		if err := m.Counters.Put(k, zeros[:cpus]); err != nil {
			return fmt.Errorf("reset slot %d: %w", slot, err)
		}
	}
	return nil
}
