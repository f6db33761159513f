package bpf

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
)

var counterSpec = sync.OnceValues(LoadCounter)

// Maps are the maps shared by every loaded program instance.
type Maps struct {
	// Counters holds a CounterPeBlock per CPU for each (slot, direction),
	// keyed by BlockIndex.
	Counters *ebpf.Map
	// Stats holds, per CPU, the programs' own statistics, indexed by the Stat*
	// constants.
	Stats *ebpf.Map
	// Events is the ring buffer of event records (CounterPeEvent).
	Events *ebpf.Map
	// Sampler holds each CPU's countdown to its next sampled frame.
	Sampler *ebpf.Map
	// Slots is the number of interface slots Counters has room for.
	Slots int
	// EventOptions are the event-stream settings every instance is loaded with.
	EventOptions EventOptions
}

// EventOptions configure the event stream.
type EventOptions struct {
	// Enabled makes the programs write event records.
	Enabled bool
	// SampleRate N writes one record per N frames per CPU (N >= 1).
	SampleRate uint32
	// RingSize is the size of the ring buffer in bytes: a power of two and a
	// multiple of the page size. 0 picks the smallest ring (one page), for
	// when the stream is off.
	RingSize int
}

// NewMaps creates the shared maps with room for slots interfaces.
func NewMaps(slots int, events EventOptions) (*Maps, error) {
	if slots < 1 {
		return nil, fmt.Errorf("create maps: %d interface slots", slots)
	}
	if events.SampleRate == 0 {
		events.SampleRate = 1
	}
	if events.RingSize == 0 {
		events.RingSize = os.Getpagesize()
	}
	spec, err := counterSpec()
	if err != nil {
		return nil, err
	}
	m := &Maps{Slots: slots, EventOptions: events}
	create := func(name string, maxEntries uint32) (*ebpf.Map, error) {
		ms := spec.Maps[name].Copy()
		if maxEntries > 0 {
			ms.MaxEntries = maxEntries
		}
		mp, err := ebpf.NewMap(ms)
		if err != nil {
			return nil, fmt.Errorf("create %s map: %w", name, err)
		}
		return mp, nil
	}
	if m.Counters, err = create(CounterMapPeCounters, uint32(2*slots)); err == nil {
		if m.Stats, err = create(CounterMapPeStats, 0); err == nil {
			if m.Events, err = create(CounterMapPeEvents, uint32(events.RingSize)); err == nil {
				m.Sampler, err = create(CounterMapPeSampler, 0)
			}
		}
	}
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Close releases the maps. Programs still loaded keep their own references.
func (m *Maps) Close() error {
	var errs []error
	for _, mp := range []*ebpf.Map{m.Counters, m.Stats, m.Events, m.Sampler} {
		if mp != nil {
			errs = append(errs, mp.Close())
		}
	}
	return errors.Join(errs...)
}

// xdpFragsErr is nil when the kernel loads XDP multi-buffer programs.
var xdpFragsErr = sync.OnceValue(func() error {
	return features.HaveProgramHelper(ebpf.XDP, asm.FnXdpGetBuffLen)
})

// LoadXDP loads an instance of the XDP program counting received frames into
// the block of interface slot: the multi-buffer program, or where the kernel
// has no XDP multi-buffer (before 5.18) the one for linear frames.
func (m *Maps) LoadXDP(slot int) (*ebpf.Program, error) {
	if xdpFragsErr() != nil {
		return m.LoadXDPLinear(slot)
	}
	return m.load(CounterProgPeCountXdp, slot, Receive)
}

// LoadXDPLinear loads an instance of the XDP program for kernels without XDP
// multi-buffer, which LoadXDP picks where needed.
func (m *Maps) LoadXDPLinear(slot int) (*ebpf.Program, error) {
	return m.load(CounterProgPeCountXdpLinear, slot, Receive)
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
	return m.loadAt(program, BlockIndex(slot, d))
}

// loadAt loads an instance of program counting into block blockIndex.
func (m *Maps) loadAt(program string, blockIndex uint32) (*ebpf.Program, error) {
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
	replacements := map[string]*ebpf.Map{
		CounterMapPeCounters: m.Counters,
		CounterMapPeStats:    m.Stats,
		CounterMapPeEvents:   m.Events,
		CounterMapPeSampler:  m.Sampler,
	}
	for name, mp := range replacements {
		spec.Maps[name].MaxEntries = mp.MaxEntries()
	}
	enabled := uint32(0)
	if m.EventOptions.Enabled {
		enabled = 1
	}
	for name, value := range map[string]uint32{
		CounterVarPeBlockIndex:    blockIndex,
		CounterVarPeEventsEnabled: enabled,
		CounterVarPeSampleRate:    m.EventOptions.SampleRate,
	} {
		if err := spec.Variables[name].Set(value); err != nil {
			return nil, fmt.Errorf("load %s: set %s: %w", program, name, err)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{MapReplacements: replacements})
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
	keys := []uint32{BlockIndex(slot, Receive), BlockIndex(slot, Transmit)}
	zeros := make([]CounterPeBlock, len(keys)*cpus)
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
