package bpf

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
)

// Value is a counter entry summed over all CPUs.
type Value struct {
	Packets uint64
	Bytes   uint64
}

// Block is the counters of one (interface slot, direction), summed over CPUs.
type Block struct {
	// Classes holds the frames of each traffic class (ClassOf).
	Classes [ClassCount]Value
	// Anomalies holds the packets of each parse anomaly, which are counted
	// in their class too; index i is the entry AnomalyFirst + i.
	Anomalies [AnomalyCount]uint64
	// Buckets holds the packets of each packet-size bucket (BucketBounds()).
	Buckets [BucketCount]uint64
	// Runs counts the program's runs on the block (a run counts a packet, or
	// a GSO packet's segments); RunNanoseconds the timed runs' time (Maps.SetTiming).
	Runs, RunNanoseconds uint64
}

// Packets returns the packets of every class: the segments of GSO and GRO
// packets, where Runs counts such a packet once.
func (b *Block) Packets() uint64 {
	var n uint64
	for _, v := range b.Classes {
		n += v.Packets
	}
	return n
}

// Entry returns entry e of the block in the kernel's layout (enum pe_entry):
// a class, an anomaly, or a bucket (packets only).
func (b *Block) Entry(e int) Value {
	switch {
	case e < ClassCount:
		return b.Classes[e]
	case e < BucketFirst:
		return Value{Packets: b.Anomalies[e-AnomalyFirst]}
	default:
		return Value{Packets: b.Buckets[e-BucketFirst]}
	}
}

// add adds the counters of one CPU's copy of the block.
func (b *Block) add(cpu *CounterPeBlock) {
	for c := range b.Classes {
		b.Classes[c].Packets += cpu.Classes[c].Packets
		b.Classes[c].Bytes += cpu.Classes[c].Bytes
		b.Runs += cpu.Classes[c].Packets
	}
	for i := range b.Anomalies {
		b.Anomalies[i] += cpu.Anomalies[i]
	}
	for i := range b.Buckets {
		b.Buckets[i] += cpu.Buckets[i]
	}
	b.Runs -= cpu.Runs.MoreSegments
	b.RunNanoseconds += cpu.Runs.Ns
}

// Reader reads the shared maps and sums their per-CPU values. Its buffers are
// reused between reads; it is safe for concurrent use (reads are serialised).
type Reader struct {
	maps *Maps
	cpus int

	mu       sync.Mutex
	keys     []uint32
	perCPU   []CounterPeBlock
	sums     []Block
	statKeys []uint32
	statCPU  []uint64
	useBatch bool
	// tunnelKeys, tunnelSlots and tunnelCPU are Tunnels' buffers.
	tunnelKeys  []uint32
	tunnelSlots []CounterPeTunnelSlot
	tunnelCPU   []CounterPeTunnelCounts
}

// NewReader returns a reader of m.
func NewReader(m *Maps) (*Reader, error) {
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("possible cpus: %w", err)
	}
	return &Reader{
		maps: m, cpus: cpus, useBatch: true,
		statKeys: make([]uint32, StatCount), statCPU: make([]uint64, StatCount*cpus),
	}, nil
}

// Counters reads the blocks of interface slots [0, slots), sums them over
// CPUs and passes them to fn, the block of (slot, d) at BlockIndex(slot, d).
// The slice is valid only during fn.
func (r *Reader) Counters(slots int, fn func([]Block) error) error {
	slots = min(slots, r.maps.Slots)
	blocks := 2 * slots
	r.mu.Lock()
	defer r.mu.Unlock()
	if cap(r.keys) < blocks {
		r.keys = make([]uint32, blocks)
		r.perCPU = make([]CounterPeBlock, blocks*r.cpus)
		r.sums = make([]Block, blocks)
	}
	keys, perCPU, sums := r.keys[:blocks], r.perCPU[:blocks*r.cpus], r.sums[:blocks]
	if blocks > 0 {
		if err := lookup(r.maps.Counters, &r.useBatch, keys, perCPU); err != nil {
			return fmt.Errorf("read counters: %w", err)
		}
	}
	clear(sums)
	for b := range sums {
		for c := range perCPU[b*r.cpus : (b+1)*r.cpus] {
			sums[b].add(&perCPU[b*r.cpus+c])
		}
	}
	r.maps.addCarry(sums)
	return fn(sums)
}

// Stats returns the stats map summed over CPUs, indexed by the Stat* constants.
func (r *Reader) Stats() ([]uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := lookup(r.maps.Stats, &r.useBatch, r.statKeys, r.statCPU); err != nil {
		return nil, fmt.Errorf("read stats: %w", err)
	}
	out := make([]uint64, StatCount)
	for i := range out {
		out[i] = sum(r.statCPU[i*r.cpus : (i+1)*r.cpus])
	}
	r.maps.addStatsCarry(out)
	return out, nil
}

// sum is the total of a per-CPU value.
func sum(perCPU []uint64) uint64 {
	var n uint64
	for _, v := range perCPU {
		n += v
	}
	return n
}

// lookup reads the first len(keys) entries of the per-CPU array m into values
// (len(keys) x CPUs), with one batch lookup where the kernel supports it and
// entry by entry otherwise; useBatch remembers which.
func lookup[V any](m *ebpf.Map, useBatch *bool, keys []uint32, values []V) error {
	if *useBatch {
		var cursor ebpf.MapBatchCursor
		n, err := m.BatchLookup(&cursor, keys, values, nil)
		switch {
		case err == nil && n == len(keys), errors.Is(err, ebpf.ErrKeyNotExist) && n == len(keys):
			return nil
		case errors.Is(err, ebpf.ErrNotSupported):
			*useBatch = false
		case err != nil:
			return err
		default:
			return fmt.Errorf("batch lookup returned %d of %d entries", n, len(keys))
		}
	}
	perKey := len(values) / len(keys)
	for i := range keys {
		if err := m.Lookup(uint32(i), values[i*perKey:(i+1)*perKey]); err != nil {
			return fmt.Errorf("lookup %d: %w", i, err)
		}
	}
	return nil
}
