package bpf

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Pinned maps of one layout are read by a build of another through their
// schema: a map pinned with them that names each counter of a block and each
// statistic. An upgrade (or a downgrade) carries what the previous build
// counted into the new maps' carry (Maps.CarryFrom), counter by counter, by
// name, whatever their order and number in either layout.
//
// The tunnel counters are not carried: after an upgrade between layouts they
// start afresh, with the maps (MapsStart).
//
// The schema's format is the contract between builds: the maps named here
// and the encodings their doc comments give. A change to any of them raises
// schemaFormat, and a build reads only the formats it knows.
const schemaFormat = 1

// The pinned maps user space makes for carrying counts across layouts.
const (
	// schemaMap holds the schema, JSON, in its one entry (padded with spaces).
	schemaMap = "pe_schema"
	// carryMap is an array (not per CPU) of one block per BlockIndex, added
	// to the counters' sums: what the slot counted in maps of another layout.
	carryMap = "pe_carry"
	// statsCarryMap is an array of uint64 by Stat* constant, added to the
	// programs' statistics.
	statsCarryMap = "pe_stats_carry"
)

// schema is the content of schemaMap.
type schema struct {
	Format int `json:"format"`
	// Cells names the uint64 words of a block (pe_counters' and pe_carry's
	// values), in order.
	Cells []string `json:"cells"`
	// Stats names pe_stats' entries, in order.
	Stats []string `json:"stats"`
}

// thisSchema is the schema of this build's layout.
var thisSchema = sync.OnceValues(func() (schema, error) {
	var b CounterPeBlock
	cells := make([]string, unsafe.Sizeof(b)/8)
	set := func(offset uintptr, name string) { cells[offset/8] = name }
	for c := range ClassCount {
		class := ClassOf(c)
		base := unsafe.Offsetof(b.Classes) + uintptr(c)*unsafe.Sizeof(b.Classes[0])
		set(base+unsafe.Offsetof(b.Classes[0].Packets), "packets "+class.NetworkType+" "+class.Transport)
		set(base+unsafe.Offsetof(b.Classes[0].Bytes), "bytes "+class.NetworkType+" "+class.Transport)
	}
	for i := range AnomalyCount {
		set(unsafe.Offsetof(b.Anomalies)+uintptr(i)*8, "anomaly "+AnomalyName(AnomalyFirst+i))
	}
	bounds := BucketBounds()
	for i := range BucketCount {
		bound := "inf"
		if i < len(bounds) {
			bound = strconv.FormatFloat(bounds[i], 'g', -1, 64)
		}
		set(unsafe.Offsetof(b.Buckets)+uintptr(i)*8, "bucket le "+bound)
	}
	set(unsafe.Offsetof(b.Runs)+unsafe.Offsetof(b.Runs.MoreSegments), "runs more_segments")
	set(unsafe.Offsetof(b.Runs)+unsafe.Offsetof(b.Runs.Ns), "runs ns")
	for i, c := range cells {
		if c == "" {
			return schema{}, fmt.Errorf("schema: word %d of a block is no counter", i)
		}
	}
	return schema{Format: schemaFormat, Cells: cells, Stats: layout().stats}, nil
})

// cellIndex returns the index of each counter of thisSchema's block by name
// (empty if thisSchema fails, which CarryFrom reports).
var cellIndex = sync.OnceValue(func() map[string]int {
	s, _ := thisSchema()
	index := make(map[string]int, len(s.Cells))
	for i, c := range s.Cells {
		index[c] = i
	}
	return index
})

// schemaSpec returns the spec of the schema map holding s, and its value.
func schemaSpec(s schema) (*ebpf.MapSpec, []byte, error) {
	value, err := json.Marshal(s)
	if err != nil {
		return nil, nil, fmt.Errorf("schema: %w", err)
	}
	for len(value)%8 != 0 {
		value = append(value, ' ')
	}
	return &ebpf.MapSpec{Name: schemaMap, Type: ebpf.Array, KeySize: 4, ValueSize: uint32(len(value)), MaxEntries: 1}, value, nil
}

// carrySpec and statsCarrySpec are the specs of the carry maps.
func carrySpec(slots int) *ebpf.MapSpec {
	return &ebpf.MapSpec{Name: carryMap, Type: ebpf.Array, KeySize: 4, ValueSize: uint32(unsafe.Sizeof(CounterPeBlock{})), MaxEntries: uint32(2 * slots)}
}

func statsCarrySpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{Name: statsCarryMap, Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: uint32(StatCount)}
}

// createCarry creates, with a pin directory, the schema and carry maps, or
// loads those pinned, reading the carry into memory.
func (m *Maps) createCarry(o mapsOptions) error {
	s, err := thisSchema()
	if err != nil {
		return err
	}
	spec, value, err := schemaSpec(s)
	if err != nil {
		return err
	}
	schemaMap, _, err := o.createMap(spec, true)
	if err != nil {
		return fmt.Errorf("create %s map: %w", spec.Name, err)
	}
	defer schemaMap.Close()
	if err := schemaMap.Put(uint32(0), value); err != nil {
		return fmt.Errorf("write the schema: %w", err)
	}
	if !m.Adopted {
		// New counters start with nothing carried, whatever a run that
		// stopped while making its maps left.
		for _, name := range []string{carryMap, statsCarryMap} {
			if err := os.Remove(filepath.Join(o.pinDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove a stale %s: %w", name, err)
			}
		}
	}
	if m.Carry, _, err = o.createMap(carrySpec(m.Slots), true); err != nil {
		return fmt.Errorf("create %s map: %w", carryMap, err)
	}
	if m.StatsCarry, _, err = o.createMap(statsCarrySpec(), true); err != nil {
		return fmt.Errorf("create %s map: %w", statsCarryMap, err)
	}
	if !m.Adopted {
		return nil
	}
	useBatch := true
	carry := make([]CounterPeBlock, 2*m.Slots)
	if err := lookup(m.Carry, &useBatch, make([]uint32, len(carry)), carry); err != nil {
		return fmt.Errorf("read the carry: %w", err)
	}
	stats := make([]uint64, StatCount)
	if err := lookup(m.StatsCarry, &useBatch, make([]uint32, len(stats)), stats); err != nil {
		return fmt.Errorf("read the statistics' carry: %w", err)
	}
	for i := range carry {
		if carry[i] != (CounterPeBlock{}) {
			m.carry = carry
			break
		}
	}
	for _, n := range stats {
		if n != 0 {
			m.statsCarry = stats
			break
		}
	}
	return nil
}

// addCarry adds the carried counts of the blocks to sums, the blocks
// [0, len(sums)) summed over CPUs.
func (m *Maps) addCarry(sums []Block) {
	m.carryMu.RLock()
	defer m.carryMu.RUnlock()
	for b := range min(len(sums), len(m.carry)) {
		sums[b].add(&m.carry[b])
	}
}

// addStatsCarry adds the carried statistics to stats (by Stat* constant).
func (m *Maps) addStatsCarry(stats []uint64) {
	m.carryMu.RLock()
	defer m.carryMu.RUnlock()
	for i := range min(len(stats), len(m.statsCarry)) {
		stats[i] += m.statsCarry[i]
	}
}

// setCarry makes block b's carry value (both in the map and in memory).
func (m *Maps) setCarry(b uint32, value *CounterPeBlock) error {
	if m.Carry == nil {
		return nil
	}
	m.carryMu.Lock()
	defer m.carryMu.Unlock()
	if m.carry == nil {
		if *value == (CounterPeBlock{}) {
			return nil
		}
		m.carry = make([]CounterPeBlock, 2*m.Slots)
	}
	if err := m.Carry.Put(b, value); err != nil {
		return fmt.Errorf("carry block %d: %w", b, err)
	}
	m.carry[b] = *value
	return nil
}

// Predecessor is the pinned state of another layout: the maps a build
// whose Layout differs pinned, read through their schema.
type Predecessor struct {
	schema                                     schema
	slots                                      int
	counters, carry, stats, statsCarry, starts *ebpf.Map
	slotsByIfindex, slotsOverflow              *ebpf.Map
	cpus                                       int
}

// ErrUnknownSchema marks pinned maps without a schema this build reads.
var ErrUnknownSchema = errors.New("no schema this build reads")

// OpenPredecessor opens the maps another layout pinned in dir (WithPinDir).
func OpenPredecessor(dir string) (*Predecessor, error) {
	p := &Predecessor{}
	load := func(name string) (*ebpf.Map, error) {
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), &ebpf.LoadPinOptions{ReadOnly: true})
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrUnknownSchema, name, err)
		}
		return m, nil
	}
	sm, err := load(schemaMap)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, sm.ValueSize())
	err = sm.Lookup(uint32(0), raw)
	sm.Close()
	if err != nil {
		return nil, fmt.Errorf("read the schema: %w", err)
	}
	if err := json.Unmarshal(raw, &p.schema); err != nil || p.schema.Format != schemaFormat {
		return nil, fmt.Errorf("%w: format %d (%v)", ErrUnknownSchema, p.schema.Format, err)
	}
	if p.cpus, err = ebpf.PossibleCPU(); err != nil {
		return nil, fmt.Errorf("possible cpus: %w", err)
	}
	for _, c := range []struct {
		dst  **ebpf.Map
		name string
	}{
		{&p.counters, CounterMapPeCounters}, {&p.carry, carryMap}, {&p.stats, CounterMapPeStats},
		{&p.statsCarry, statsCarryMap}, {&p.starts, slotStartsMap},
		{&p.slotsByIfindex, CounterMapPeSlots}, {&p.slotsOverflow, CounterMapPeSlotsOverflow},
	} {
		if *c.dst, err = load(c.name); err != nil {
			p.Close()
			return nil, err
		}
	}
	p.slots = int(p.counters.MaxEntries() / 2)
	words := uint32(8 * len(p.schema.Cells))
	if p.counters.ValueSize() != words || p.carry.ValueSize() != words || p.stats.ValueSize() != 8 ||
		int(p.stats.MaxEntries()) != len(p.schema.Stats) || p.starts.MaxEntries() != uint32(p.slots+startEntries) {
		p.Close()
		return nil, fmt.Errorf("%w: the maps do not match their schema", ErrUnknownSchema)
	}
	return p, nil
}

// Close closes the maps (they stay pinned).
func (p *Predecessor) Close() error {
	var errs []error
	for _, m := range []*ebpf.Map{p.counters, p.carry, p.stats, p.statsCarry, p.starts, p.slotsByIfindex, p.slotsOverflow} {
		if m != nil {
			errs = append(errs, m.Close())
		}
	}
	return errors.Join(errs...)
}

// Mapped returns the interfaces the predecessor's slot maps give a slot.
func (p *Predecessor) Mapped() ([]MappedInterface, error) {
	return mapped(p.slotsByIfindex, p.slotsOverflow, p.starts, p.slots)
}

// MapsStart returns when the predecessor's maps were made (Maps.MapsStart).
func (p *Predecessor) MapsStart() time.Time { return startOf(p.starts, p.slots+startOfMaps) }

// DropsStart returns when the predecessor's drop counter was made (Maps.DropsStart).
func (p *Predecessor) DropsStart() time.Time { return startOf(p.starts, p.slots+startOfDrops) }

// words reads entry key of m (per CPU or not) summed over CPUs, as words of
// n uint64, adding them to sums.
func (p *Predecessor) words(m *ebpf.Map, key uint32, perCPU bool, sums []uint64) error {
	var values [][]byte
	if perCPU {
		values = make([][]byte, p.cpus)
		if err := m.Lookup(key, values); err != nil {
			return err
		}
	} else {
		values = [][]byte{make([]byte, m.ValueSize())}
		if err := m.Lookup(key, values[0]); err != nil {
			return err
		}
	}
	for _, v := range values {
		for i := range sums {
			sums[i] += binary.NativeEndian.Uint64(v[8*i:])
		}
	}
	return nil
}

// CarryFrom makes slot's carry what the predecessor counted in its slot from:
// its counters and its own carry, counter by counter. It returns the names
// of the counters with counts this layout has no counter for (which are
// not carried). Call it once no program of the predecessor's can still run
// on the slot (Quiesce), and again with the same arguments whenever: it
// sets, never adds.
func (m *Maps) CarryFrom(p *Predecessor, slot, from int) ([]string, error) {
	if from < 0 || from >= p.slots || slot < 0 || slot >= m.Slots {
		return nil, fmt.Errorf("carry slot %d into %d: out of range", from, slot)
	}
	s, err := thisSchema()
	if err != nil {
		return nil, err
	}
	index := cellIndex()
	var lost []string
	for _, d := range []Direction{Receive, Transmit} {
		old := make([]uint64, len(p.schema.Cells))
		if err := p.words(p.counters, BlockIndex(from, d), true, old); err != nil {
			return nil, fmt.Errorf("read the previous counters: %w", err)
		}
		if err := p.words(p.carry, BlockIndex(from, d), false, old); err != nil {
			return nil, fmt.Errorf("read the previous carry: %w", err)
		}
		cells := make([]uint64, len(s.Cells))
		for i, n := range old {
			if j, ok := index[p.schema.Cells[i]]; ok {
				cells[j] = n
			} else if n != 0 {
				lost = append(lost, p.schema.Cells[i])
			}
		}
		var block CounterPeBlock
		buf := make([]byte, 0, 8*len(cells))
		for _, n := range cells {
			buf = binary.NativeEndian.AppendUint64(buf, n)
		}
		if _, err := binary.Decode(buf, binary.NativeEndian, &block); err != nil {
			return nil, fmt.Errorf("carry: %w", err)
		}
		if err := m.setCarry(BlockIndex(slot, d), &block); err != nil {
			return nil, err
		}
	}
	return lost, nil
}

// CarryStatsFrom makes the statistics' carry the predecessor's statistics
// (and carry), by name, and its start the predecessor's start.
func (m *Maps) CarryStatsFrom(p *Predecessor) error {
	if m.StatsCarry == nil {
		return nil
	}
	old := make([]uint64, len(p.schema.Stats))
	for i := range old {
		one := old[i : i+1]
		if err := p.words(p.stats, uint32(i), true, one); err != nil {
			return fmt.Errorf("read the previous statistics: %w", err)
		}
		if err := p.words(p.statsCarry, uint32(i), false, one); err != nil {
			return fmt.Errorf("read the previous statistics' carry: %w", err)
		}
	}
	stats := make([]uint64, StatCount)
	for i, name := range layout().stats {
		for j, oldName := range p.schema.Stats {
			if oldName == name {
				stats[i] = old[j]
			}
		}
	}
	m.carryMu.Lock()
	defer m.carryMu.Unlock()
	for i, n := range stats {
		if err := m.StatsCarry.Put(uint32(i), n); err != nil {
			return fmt.Errorf("carry the statistics: %w", err)
		}
	}
	m.statsCarry = stats
	if start := p.MapsStart(); !start.IsZero() {
		return m.setStart(m.Slots+startOfMaps, start)
	}
	return nil
}

// Quiesce returns once every program run that began before it was called
// has ended: after programs are replaced, the old ones no longer count. The
// programs run inside RCU read-side critical sections, and membarrier's
// MEMBARRIER_CMD_GLOBAL waits for an RCU grace period.
func Quiesce() error {
	const membarrierCmdGlobal = 1 // linux/membarrier.h
	if _, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdGlobal, 0, 0); errno != 0 {
		return fmt.Errorf("membarrier: %w", errno)
	}
	return nil
}
