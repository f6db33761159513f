package bpf

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	tf "github.com/packet-exporter/packet-exporter/internal/testing/testframe"
)

// countFrames makes maps count frames at the egress of loopback (ifindex 1)
// and returns the blocks and statistics they then read.
func countFrames(t *testing.T, maps *Maps, frames ...[]byte) ([]Block, []uint64) {
	t.Helper()
	prog, err := maps.TC(Transmit)
	if err != nil {
		t.Fatal(err)
	}
	for _, frame := range frames {
		if _, err := prog.Run(&ebpf.RunOptions{Data: frame}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := NewReader(maps)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []Block
	if err := r.Counters(maps.Slots, func(b []Block) error { blocks = slices.Clone(b); return nil }); err != nil {
		t.Fatal(err)
	}
	stats, err := r.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return blocks, stats
}

// TestCarryFrom: what maps pinned in one directory counted, read there as
// a predecessor's, is carried into another slot of new maps, which then read
// it as theirs, and add what they count themselves; the carry is pinned with
// them and read again when they are adopted; a slot reset zeroes it.
func TestCarryFrom(t *testing.T) {
	testenv.RequireRoot(t)
	fs := testenv.MountBPFFS(t)
	oldDir, newDir := filepath.Join(fs, "old"), filepath.Join(fs, "new")
	for _, d := range []string{oldDir, newDir} {
		if err := PrepareDir(d); err != nil {
			t.Fatal(err)
		}
	}
	udp := tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{}, UDP: &tf.UDP{}})
	tcp := tf.MustBuild(tf.Frame{IPv6: &tf.IPv6{}, TCP: &tf.TCP{}, Payload: make([]byte, 300)})

	old, err := NewMaps(2, EventOptions{}, WithPinDir(oldDir))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	countFrames(t, old, udp) // no slot yet: unmapped
	if err := old.MapInterface(1, 1); err != nil {
		t.Fatal(err)
	}
	oldBlocks, oldStats := countFrames(t, old, udp, udp, tcp)
	if oldStats[StatUnmapped] != 1 || oldBlocks[BlockIndex(1, Transmit)].Runs != 3 {
		t.Fatalf("old maps: stats %v, block %+v", oldStats, oldBlocks[BlockIndex(1, Transmit)])
	}

	p, err := OpenPredecessor(oldDir)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	mapped, err := p.Mapped()
	if err != nil || len(mapped) != 1 || mapped[0].Ifindex != 1 || mapped[0].Slot != 1 {
		t.Fatalf("predecessor maps %+v (%v), want ifindex 1 at slot 1", mapped, err)
	}
	carried, err := NewMaps(3, EventOptions{}, WithPinDir(newDir))
	if err != nil {
		t.Fatal(err)
	}
	if err := carried.MapInterface(1, 2); err != nil {
		t.Fatal(err)
	}
	for range 2 { // it sets, never adds
		if lost, err := carried.CarryFrom(p, 2, 1); err != nil || len(lost) != 0 {
			t.Fatalf("carry: lost %v, %v", lost, err)
		}
	}
	if err := carried.CarryStatsFrom(p); err != nil {
		t.Fatal(err)
	}
	blocks, stats := countFrames(t, carried)
	for _, d := range []Direction{Receive, Transmit} {
		if got, want := blocks[BlockIndex(2, d)], oldBlocks[BlockIndex(1, d)]; got != want {
			t.Errorf("%s: carried %+v, want %+v", d, got, want)
		}
	}
	if !slices.Equal(stats, oldStats) {
		t.Errorf("statistics carried %v, want %v", stats, oldStats)
	}
	blocks, _ = countFrames(t, carried, udp)
	if got := blocks[BlockIndex(2, Transmit)].Runs; got != 4 {
		t.Errorf("%d runs after one more frame, want 4", got)
	}
	carried.Close()

	adopted, err := NewMaps(3, EventOptions{}, WithPinDir(newDir))
	if err != nil {
		t.Fatal(err)
	}
	defer adopted.Close()
	blocks, stats = countFrames(t, adopted)
	if got := blocks[BlockIndex(2, Transmit)].Runs; !adopted.Adopted || got != 4 || stats[StatUnmapped] != 1 {
		t.Errorf("adopted %v: %d runs and statistics %v, want 4 runs and 1 unmapped", adopted.Adopted, got, stats)
	}
	if err := adopted.MapInterface(7, 2); err != nil {
		t.Fatal(err)
	}
	blocks, _ = countFrames(t, adopted)
	if blocks[BlockIndex(2, Transmit)] != (Block{}) {
		t.Errorf("a slot given to another interface keeps %+v", blocks[BlockIndex(2, Transmit)])
	}
}

// TestCarryRemapsCells: a predecessor whose layout orders the counters
// otherwise, and has one this layout does not know, is carried counter by
// counter by name; the unknown one is reported, not carried.
func TestCarryRemapsCells(t *testing.T) {
	testenv.RequireRoot(t)
	dir := filepath.Join(testenv.MountBPFFS(t), "reversed")
	if err := PrepareDir(dir); err != nil {
		t.Fatal(err)
	}
	s, err := thisSchema()
	if err != nil {
		t.Fatal(err)
	}
	cells := append(slices.Clone(s.Cells), "packets ipv4 a-future-transport")
	slices.Reverse(cells)
	words := uint32(8 * len(cells))
	const slots = 2
	pin := func(spec *ebpf.MapSpec) *ebpf.Map {
		spec.Pinning = ebpf.PinByName
		m, err := ebpf.NewMapWithOptions(spec, ebpf.MapOptions{PinPath: dir})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	raw, err := json.Marshal(schema{Format: schemaFormat, Cells: cells, Stats: s.Stats})
	if err != nil {
		t.Fatal(err)
	}
	for len(raw)%8 != 0 {
		raw = append(raw, ' ')
	}
	if err := pin(&ebpf.MapSpec{Name: schemaMap, Type: ebpf.Array, KeySize: 4, ValueSize: uint32(len(raw)), MaxEntries: 1}).Put(uint32(0), raw); err != nil {
		t.Fatal(err)
	}
	counters := pin(&ebpf.MapSpec{Name: CounterMapPeCounters, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: words, MaxEntries: 2 * slots})
	pin(&ebpf.MapSpec{Name: carryMap, Type: ebpf.Array, KeySize: 4, ValueSize: words, MaxEntries: 2 * slots})
	pin(&ebpf.MapSpec{Name: CounterMapPeStats, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: uint32(len(s.Stats))})
	pin(statsCarrySpec())
	pin(slotStartsSpec(slots))
	if err := pin(&ebpf.MapSpec{Name: CounterMapPeSlots, Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 16}).Put(uint32(3), BlockIndex(1, Receive)+1); err != nil {
		t.Fatal(err)
	}
	pin(&ebpf.MapSpec{Name: CounterMapPeSlotsOverflow, Type: ebpf.Hash, KeySize: 4, ValueSize: 4, MaxEntries: slots})

	// Word i of the predecessor's block holds i+1 on the first CPU and 1000 on the second.
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	perCPU := make([][]byte, cpus)
	for c := range perCPU {
		for i := range cells {
			n := uint64(i + 1)
			if c > 0 {
				n = 1000
			}
			perCPU[c] = binary.NativeEndian.AppendUint64(perCPU[c], n)
		}
	}
	if err := counters.Put(BlockIndex(1, Transmit), perCPU); err != nil {
		t.Fatal(err)
	}

	p, err := OpenPredecessor(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	maps, err := NewMaps(1, EventOptions{}, WithPinDir(filepath.Join(filepath.Dir(dir))))
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	lost, err := maps.CarryFrom(p, 0, 1)
	if err != nil || !slices.Equal(lost, []string{"packets ipv4 a-future-transport"}) {
		t.Fatalf("lost %v (%v), want the unknown counter", lost, err)
	}
	maps.carryMu.RLock()
	block := maps.carry[BlockIndex(0, Transmit)]
	maps.carryMu.RUnlock()
	got := unsafe.Slice((*uint64)(unsafe.Pointer(&block)), len(s.Cells))
	for i, name := range s.Cells {
		want := uint64(slices.Index(cells, name)+1) + uint64(cpus-1)*1000
		if got[i] != want {
			t.Errorf("%s carried %d, want %d", name, got[i], want)
		}
	}
}

// TestOpenPredecessorRefuses: a directory without a schema, or whose schema
// has another format, is no predecessor.
func TestOpenPredecessorRefuses(t *testing.T) {
	testenv.RequireRoot(t)
	fs := testenv.MountBPFFS(t)
	if _, err := OpenPredecessor(fs); !errors.Is(err, ErrUnknownSchema) {
		t.Errorf("empty directory: %v, want ErrUnknownSchema", err)
	}
	raw := []byte(`{"format":99}   `)
	m, err := ebpf.NewMapWithOptions(&ebpf.MapSpec{Name: schemaMap, Type: ebpf.Array, KeySize: 4, ValueSize: uint32(len(raw)), MaxEntries: 1, Pinning: ebpf.PinByName}, ebpf.MapOptions{PinPath: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Put(uint32(0), raw); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPredecessor(fs); !errors.Is(err, ErrUnknownSchema) {
		t.Errorf("format 99: %v, want ErrUnknownSchema", err)
	}
}
