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

// Reader reads the shared maps and sums their per-CPU values. Its buffers are
// reused between reads; it is safe for concurrent use (reads are serialised).
type Reader struct {
	maps *Maps
	cpus int

	mu       sync.Mutex
	keys     []uint32
	perCPU   []CounterPeValue
	sums     []Value
	errKeys  []uint32
	errCPU   []uint64
	errSums  []uint64
	useBatch bool
}

// NewReader returns a reader of m.
func NewReader(m *Maps) (*Reader, error) {
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("possible cpus: %w", err)
	}
	return &Reader{maps: m, cpus: cpus, useBatch: true}, nil
}

// Counters returns the counters of interface slots [0, slots), summed over
// CPUs, indexed by BlockBase + entry. The returned slice is valid until the
// next call; fn runs while the reader holds it, so copy what must outlive fn.
func (r *Reader) Counters(slots int, fn func([]Value) error) error {
	if slots > r.maps.Slots {
		slots = r.maps.Slots
	}
	n := slots * EntriesPerInterface
	r.mu.Lock()
	defer r.mu.Unlock()
	if cap(r.keys) < n {
		r.keys = make([]uint32, n)
		r.perCPU = make([]CounterPeValue, n*r.cpus)
		r.sums = make([]Value, n)
	}
	keys, perCPU, sums := r.keys[:n], r.perCPU[:n*r.cpus], r.sums[:n]
	if n > 0 {
		if err := lookup(r.maps.Counters, &r.useBatch, keys, perCPU); err != nil {
			return fmt.Errorf("read counters: %w", err)
		}
	}
	for i := range sums {
		var v Value
		for _, c := range perCPU[i*r.cpus : (i+1)*r.cpus] {
			v.Packets += c.Packets
			v.Bytes += c.Bytes
		}
		sums[i] = v
	}
	return fn(sums)
}

// Errors returns the errors map summed over CPUs, indexed by CounterPeError.
func (r *Reader) Errors() ([]uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.errKeys == nil {
		r.errKeys = make([]uint32, ErrorCount)
		r.errCPU = make([]uint64, ErrorCount*r.cpus)
		r.errSums = make([]uint64, ErrorCount)
	}
	if err := lookup(r.maps.Errors, &r.useBatch, r.errKeys, r.errCPU); err != nil {
		return nil, fmt.Errorf("read errors: %w", err)
	}
	out := make([]uint64, ErrorCount)
	for i := range out {
		for _, c := range r.errCPU[i*r.cpus : (i+1)*r.cpus] {
			out[i] += c
		}
	}
	return out, nil
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
