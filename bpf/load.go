package bpf

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
)

var counterSpec = sync.OnceValues(LoadCounter)

// Maps are the maps of one set of counting programs, and the programs: each
// is loaded once, on first use, and attached to every counted interface.
type Maps struct {
	// Counters holds per CPU a CounterPeBlock per (slot, direction), by BlockIndex.
	Counters *ebpf.Map
	// Stats holds per CPU the programs' own statistics, by Stat* constant.
	Stats *ebpf.Map
	// Events is the ring buffer of event records (CounterPeEvent).
	Events *ebpf.Map
	// Sampler holds each CPU's countdown to its next sampled frame.
	Sampler *ebpf.Map
	// TunnelSlots holds the tunnel counters of each block, by BlockIndex
	// (CounterPeTunnelSlot: their index in Tunnels + 1, 0 for none); the
	// programs take counters from TunnelFree on the block's first tunnel
	// frame, and MapInterface gives them back. Tunnels holds them per CPU
	// (CounterPeTunnelCounts; Reader.Tunnels).
	TunnelSlots, Tunnels, TunnelFree *ebpf.Map
	// SlotsByIfindex holds BlockIndex(slot, Receive) + 1 (0: not counted) of
	// each counted interface whose ifindex is below its size, SlotsOverflow
	// of the others; MapInterface and UnmapInterface keep them.
	SlotsByIfindex, SlotsOverflow *ebpf.Map
	// SlotStarts holds when each slot began counting, in Unix nanoseconds,
	// with a pin directory only (WithPinDir): the start of its cumulative
	// series, for the next run.
	SlotStarts *ebpf.Map
	// Carry and StatsCarry hold, with a pin directory only, what each block
	// and statistic counted in the maps of another layout before an upgrade
	// (CarryFrom), added to what these count.
	Carry, StatsCarry *ebpf.Map
	// Slots is the number of interface slots Counters has room for.
	Slots int
	// Adopted is set when the counters were found pinned: a previous run's,
	// whose counts go on.
	Adopted bool
	// EventOptions are the event-stream settings the programs are loaded with.
	EventOptions EventOptions
	// TunnelOptions are the tunnel settings the programs are loaded with.
	TunnelOptions TunnelOptions

	// tunnelPorts is the programs' pe_tunnel_ports, from TunnelOptions.
	tunnelPorts [65536]uint8

	mu       sync.Mutex
	programs map[programKey]*ebpf.Program
	timed    bool // XDP and TC return the timed variants

	// carry and statsCarry are Carry's and StatsCarry's contents, nil while
	// all zero.
	carryMu    sync.RWMutex
	carry      []CounterPeBlock
	statsCarry []uint64
}

// programKey identifies one loaded variant of a program.
type programKey struct {
	name      string
	direction Direction
	timed     bool
}

// DefaultDirectIfindexes is the default size of the direct-mapped part of the
// ifindex-to-slot map: ifindexes below it are found with an inlined array
// lookup (4 bytes of kernel memory each), the others with a hash lookup. A
// network namespace numbers its interfaces from 1 up, one per interface ever
// created in it (or moved in without its number), so a host needs tens of
// thousands of container starts before new interfaces spill over.
const DefaultDirectIfindexes = 1 << 16

// MapsOption tunes NewMaps.
type MapsOption func(*mapsOptions)

type mapsOptions struct {
	directIfindexes int
	pinDir          string
	tunnels         TunnelOptions
}

// WithDirectIfindexes sets the size of the direct-mapped part of the
// ifindex-to-slot map (at least 1; DefaultDirectIfindexes by default).
// Benchmarks make it 1 to measure the hash lookup.
func WithDirectIfindexes(n int) MapsOption {
	return func(o *mapsOptions) { o.directIfindexes = n }
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

// NewMaps creates the maps with room for slots interfaces.
func NewMaps(slots int, events EventOptions, opts ...MapsOption) (*Maps, error) {
	o := mapsOptions{directIfindexes: DefaultDirectIfindexes}
	for _, opt := range opts {
		opt(&o)
	}
	if slots < 1 {
		return nil, fmt.Errorf("create maps: %d interface slots", slots)
	}
	if o.directIfindexes < 1 {
		return nil, fmt.Errorf("create maps: %d direct-mapped ifindexes", o.directIfindexes)
	}
	events.SampleRate = max(events.SampleRate, 1)
	events.RingSize = cmp.Or(events.RingSize, os.Getpagesize())
	spec, err := counterSpec()
	if err != nil {
		return nil, err
	}
	ports, err := o.tunnels.tunnelPorts()
	if err != nil {
		return nil, fmt.Errorf("create maps: %w", err)
	}
	m := &Maps{Slots: slots, EventOptions: events, TunnelOptions: o.tunnels, tunnelPorts: ports, programs: map[programKey]*ebpf.Program{}}
	for _, c := range []struct {
		dst        **ebpf.Map
		name       string
		maxEntries uint32 // 0: as in the object
	}{
		{&m.Counters, CounterMapPeCounters, uint32(2 * slots)},
		{&m.Stats, CounterMapPeStats, 0},
		{&m.Events, CounterMapPeEvents, uint32(events.RingSize)},
		{&m.Sampler, CounterMapPeSampler, 0},
		{&m.TunnelSlots, CounterMapPeTunnelSlots, uint32(2 * slots)},
		{&m.Tunnels, CounterMapPeTunnels, o.tunnels.counters()},
		{&m.TunnelFree, CounterMapPeTunnelFree, o.tunnels.counters()},
		{&m.SlotsByIfindex, CounterMapPeSlots, uint32(o.directIfindexes)},
		{&m.SlotsOverflow, CounterMapPeSlotsOverflow, uint32(slots)},
	} {
		ms := spec.Maps[c.name].Copy()
		if c.maxEntries > 0 {
			ms.MaxEntries = c.maxEntries
		}
		var loaded bool
		if *c.dst, loaded, err = o.createMap(ms, slices.Contains(pinnedMaps, c.name)); err != nil {
			m.Close()
			return nil, fmt.Errorf("create %s map: %w", c.name, err)
		}
		m.Adopted = m.Adopted || (loaded && c.name == CounterMapPeCounters)
		if c.name == CounterMapPeTunnelFree && !loaded {
			if err := m.freeAllTunnels(); err != nil {
				m.Close()
				return nil, fmt.Errorf("create maps: %w", err)
			}
		}
	}
	if o.pinDir != "" {
		if m.SlotStarts, _, err = o.createMap(slotStartsSpec(slots), true); err != nil {
			m.Close()
			return nil, fmt.Errorf("create %s map: %w", slotStartsMap, err)
		}
		if !m.Adopted {
			if err := m.setStart(slots+startOfMaps, time.Now()); err != nil {
				m.Close()
				return nil, err
			}
		}
		if err := m.createCarry(o); err != nil {
			m.Close()
			return nil, err
		}
	}
	return m, nil
}

// Close releases the programs and the maps. Programs still attached stay
// loaded, with the maps they use, until they are detached.
func (m *Maps) Close() error {
	var errs []error
	m.mu.Lock()
	for _, p := range m.programs {
		errs = append(errs, p.Close())
	}
	m.programs = nil
	m.mu.Unlock()
	for _, mp := range m.all() {
		errs = append(errs, mp.Close()) // nil for a map not created
	}
	errs = append(errs, m.SlotStarts.Close(), m.Carry.Close(), m.StatsCarry.Close())
	return errors.Join(errs...)
}

// all returns every map of m, for loading and closing.
func (m *Maps) all() map[string]*ebpf.Map {
	return map[string]*ebpf.Map{
		CounterMapPeCounters:      m.Counters,
		CounterMapPeStats:         m.Stats,
		CounterMapPeEvents:        m.Events,
		CounterMapPeSampler:       m.Sampler,
		CounterMapPeTunnelSlots:   m.TunnelSlots,
		CounterMapPeTunnels:       m.Tunnels,
		CounterMapPeTunnelFree:    m.TunnelFree,
		CounterMapPeSlots:         m.SlotsByIfindex,
		CounterMapPeSlotsOverflow: m.SlotsOverflow,
	}
}

// xdpFragsErr is nil when the kernel loads XDP multi-buffer programs.
var xdpFragsErr = sync.OnceValue(func() error {
	return features.HaveProgramHelper(ebpf.XDP, asm.FnXdpGetBuffLen)
})

// XDP returns the XDP program counting received frames, loaded on first
// use: the multi-buffer program, or where the kernel has no XDP multi-buffer
// (before 5.18) the one for linear frames. Maps owns it: the caller must not
// close it.
func (m *Maps) XDP() (*ebpf.Program, error) {
	if xdpFragsErr() != nil {
		return m.XDPLinear()
	}
	return m.program(CounterProgPeCountXdp, Receive)
}

// XDPLinear returns the XDP program for kernels without XDP multi-buffer
// (XDP picks it where needed), loaded on first use.
func (m *Maps) XDPLinear() (*ebpf.Program, error) {
	return m.program(CounterProgPeCountXdpLinear, Receive)
}

// TC returns the tc program counting frames of direction d (its hook:
// ingress for Receive, egress for Transmit), loaded on first use.
func (m *Maps) TC(d Direction) (*ebpf.Program, error) {
	return m.program(CounterProgPeCountTc, d)
}

// program returns the program of the given name for direction d, in the
// variant SetTiming chose, loaded with the maps of m on first use.
func (m *Maps) program(program string, d Direction) (*ebpf.Program, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := programKey{name: program, direction: d, timed: m.timed}
	if p, ok := m.programs[key]; ok {
		return p, nil
	}
	if m.programs == nil {
		return nil, fmt.Errorf("load %s: maps closed", program)
	}
	base, err := counterSpec()
	if err != nil {
		return nil, err
	}
	spec := base.Copy()
	maps.DeleteFunc(spec.Programs, func(name string, _ *ebpf.ProgramSpec) bool { return name != program })
	replacements := m.all()
	for name, mp := range replacements {
		spec.Maps[name].MaxEntries = mp.MaxEntries()
	}
	for name, value := range map[string]any{
		CounterVarPeDirection:      uint32(d),
		CounterVarPeEventsEnabled:  flag(m.EventOptions.Enabled),
		CounterVarPeSampleRate:     m.EventOptions.SampleRate,
		CounterVarPeTimed:          flag(key.timed),
		CounterVarPeTunnelsEnabled: flag(m.TunnelOptions.Enabled),
		CounterVarPeTunnelPorts:    m.tunnelPorts,
	} {
		if err := spec.Variables[name].Set(value); err != nil {
			return nil, fmt.Errorf("load %s: set %s: %w", program, name, err)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{MapReplacements: replacements})
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", program, err)
	}
	p := coll.DetachProgram(program)
	coll.Close()
	m.programs[key] = p
	return p, nil
}

// flag is b as the value of a program's __u32 flag variable.
func flag(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// MapInterface makes the programs count the frames of interface ifindex into
// slot, whose counters it zeroes first: an interface given a slot another one
// used starts from zero. Call it before attaching a program to the interface, so that no
// frame of it goes uncounted.
func (m *Maps) MapInterface(ifindex, slot int) error {
	if slot < 0 || slot >= m.Slots {
		return fmt.Errorf("map interface %d: slot %d out of range [0, %d)", ifindex, slot, m.Slots)
	}
	if ifindex < 1 || ifindex > math.MaxInt32 {
		return fmt.Errorf("map interface %d: ifindex out of range", ifindex)
	}
	if err := m.resetSlot(slot); err != nil {
		return err
	}

	if err := m.slotsMap(ifindex).Put(uint32(ifindex), BlockIndex(slot, Receive)+1); err != nil {
		return fmt.Errorf("map interface %d to slot %d: %w", ifindex, slot, err)
	}
	return nil
}

// UnmapInterface stops the counting of interface ifindex: frames the programs
// still see on it are counted as unmapped (StatUnmapped). Call it after
// detaching the programs from the interface.
func (m *Maps) UnmapInterface(ifindex int) error {
	if ifindex < 1 || ifindex > math.MaxInt32 {
		return fmt.Errorf("unmap interface %d: ifindex out of range", ifindex)
	}
	var err error
	if mp := m.slotsMap(ifindex); mp == m.SlotsByIfindex {
		err = mp.Put(uint32(ifindex), uint32(0))
	} else if err = mp.Delete(uint32(ifindex)); errors.Is(err, ebpf.ErrKeyNotExist) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("unmap interface %d: %w", ifindex, err)
	}
	return nil
}

// SetTiming chooses the variant XDP, XDPLinear and TC return from now on:
// timed, whose runs read the clock twice and add their time to their block
// (Block.RunNanoseconds), or not. Programs already attached stay as they are:
// the caller attaches the chosen variant in their place.
func (m *Maps) SetTiming(timed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.timed = timed
}

// KernelRunCount returns the runs the kernel's BPF statistics counted for
// the loaded programs together. The kernel counts them only while its
// statistics are on (kernel.bpf_stats_enabled or a BPF_ENABLE_STATS holder).
func (m *Maps) KernelRunCount() (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var runs uint64
	for _, p := range m.programs {
		s, err := p.Stats()
		if err != nil {
			return 0, fmt.Errorf("program statistics: %w", err)
		}
		runs += s.RunCount
	}
	return runs, nil
}

// slotsMap returns the map that holds the slot of interface ifindex.
func (m *Maps) slotsMap(ifindex int) *ebpf.Map {
	if uint32(ifindex) < m.SlotsByIfindex.MaxEntries() {
		return m.SlotsByIfindex
	}
	return m.SlotsOverflow
}

// resetSlot zeroes the counters of interface slot on every CPU, and its carry.
func (m *Maps) resetSlot(slot int) error {
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return fmt.Errorf("possible cpus: %w", err)
	}
	keys := []uint32{BlockIndex(slot, Receive), BlockIndex(slot, Transmit)}
	for _, k := range keys {
		if err := m.setCarry(k, &CounterPeBlock{}); err != nil {
			return fmt.Errorf("reset slot %d: %w", slot, err)
		}
		if err := m.freeTunnels(k, cpus); err != nil {
			return fmt.Errorf("reset slot %d: %w", slot, err)
		}
	}
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
