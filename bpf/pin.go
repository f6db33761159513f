package bpf

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// The maps a pin directory holds (WithPinDir): those whose contents outlive
// one run of the exporter. The event ring and the sampler's countdowns start
// afresh with every run.
var pinnedMaps = []string{CounterMapPeCounters, CounterMapPeStats, CounterMapPeSlots, CounterMapPeSlotsOverflow,
	CounterMapPeTunnelSlots, CounterMapPeTunnels, CounterMapPeTunnelFree}

// slotStartsMap is the name of the pinned map, made by user space and read by
// no program, that holds when each slot began counting, in Unix nanoseconds,
// then when the maps were made (startOfMaps) and when the drop counter was
// (startOfDrops), and the cookie of their network namespace (netnsEntry),
// after the slots' entries.
const slotStartsMap = "pe_slot_starts"

// The entries of the start times' map after the slots'.
const (
	startOfMaps = iota
	startOfDrops
	netnsEntry
	startEntries // how many
)

// layoutVersion is part of Layout: raise it when the meaning of the pinned
// maps' contents changes without their types changing (how a slot's blocks
// are indexed, say).
const layoutVersion = 2

// mapSpecs returns the specs of spec's maps called names.
func mapSpecs(spec *ebpf.CollectionSpec, names []string) []*ebpf.MapSpec {
	specs := make([]*ebpf.MapSpec, len(names))
	for i, name := range names {
		specs[i] = spec.Maps[name]
	}
	return specs
}

// Layout returns the identity of the layout of the counters' pinned maps:
// their types, key and value sizes, flags and key and value types. Two
// builds whose Layout is equal use each other's pinned maps; a build of
// another reads them through their schema (OpenPredecessor).
func Layout() (string, error) {
	spec, err := counterSpec()
	if err != nil {
		return "", err
	}
	return layoutOf(mapSpecs(spec, pinnedMaps))
}

// DropsLayout returns the identity of the layout of the drop counter's
// pinned maps, as Layout does for the counters'.
func DropsLayout() (string, error) {
	spec, err := LoadDrops()
	if err != nil {
		return "", err
	}
	return layoutOf(mapSpecs(spec, dropMaps))
}

// layoutOf returns the identity of the layout of the maps specs.
func layoutOf(specs []*ebpf.MapSpec) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "version %d\n", layoutVersion)
	var gf btf.GoFormatter
	for _, ms := range specs {
		name := ms.Name
		fmt.Fprintf(h, "%s %s %d %d %#x\n", name, ms.Type, ms.KeySize, ms.ValueSize, ms.Flags)
		for _, t := range []btf.Type{ms.Key, ms.Value} {
			if t == nil {
				continue
			}
			decl, err := gf.TypeDeclaration("t", t)
			if err != nil {
				return "", fmt.Errorf("layout of %s: %w", name, err)
			}
			fmt.Fprintln(h, decl)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:12]), nil
}

// PrepareDir makes sure path is a directory on a BPF filesystem, creating it
// where the nearest directory above it that exists is on one.
func PrepareDir(path string) error {
	existing := path
	for {
		if _, err := os.Stat(existing); err == nil || !errors.Is(err, os.ErrNotExist) {
			break
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			break
		}
		existing = parent
	}
	var st unix.Statfs_t
	if err := unix.Statfs(existing, &st); err != nil {
		return fmt.Errorf("%s: %w", existing, err)
	}
	if st.Type != unix.BPF_FS_MAGIC {
		return fmt.Errorf("%s is not on a BPF filesystem (%s is not): mount one, e.g. mount -t bpf bpf /sys/fs/bpf", path, existing)
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return nil
}

// ErrPinnedIncompatible marks pinned maps that cannot be used by these
// programs in this configuration (their sizes differ), or pins under their
// names that are not such maps.
var ErrPinnedIncompatible = errors.New("pinned maps incompatible")

// WithPinDir keeps the maps whose contents outlive a run pinned in dir, a
// directory on a BPF filesystem: those pinned there are used instead of new
// ones (Maps.Adopted), the others are created and pinned. Only maps of the
// same Layout may be there.
func WithPinDir(dir string) MapsOption {
	return func(o *mapsOptions) { o.pinDir = dir }
}

// createMap creates the map of spec ms, or with a pin directory loads the
// one pinned there under its name, when it is one of pinnedMaps or
// slotStartsMap. It reports whether it loaded it.
func (o mapsOptions) createMap(ms *ebpf.MapSpec, pinned bool) (*ebpf.Map, bool, error) {
	if o.pinDir == "" || !pinned {
		m, err := ebpf.NewMap(ms)
		return m, false, err
	}
	ms.Pinning = ebpf.PinByName
	_, statErr := os.Stat(filepath.Join(o.pinDir, ms.Name))
	m, err := ebpf.NewMapWithOptions(ms, ebpf.MapOptions{PinPath: o.pinDir})
	if err != nil && (statErr == nil || errors.Is(err, ebpf.ErrMapIncompatible)) {
		// Something is pinned under its name that is not a map of its kind.
		err = fmt.Errorf("%w: %w", ErrPinnedIncompatible, err)
	}
	return m, statErr == nil, err
}

// slotStartsSpec is the spec of the start times' map.
func slotStartsSpec(slots int) *ebpf.MapSpec {
	return &ebpf.MapSpec{Name: slotStartsMap, Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: uint32(slots + startEntries)}
}

// MappedInterface is an interface the slot maps give a slot: one a previous
// run counted, in pinned maps.
type MappedInterface struct {
	Ifindex, Slot int
	// Start is when the slot began counting the interface, zero if unknown.
	Start time.Time
}

// Mapped returns the interfaces the slot maps give a slot, with the times
// their slots began counting where known: two batch reads of arrays and a
// walk of the overflow map.
func (m *Maps) Mapped() ([]MappedInterface, error) {
	return mapped(m.SlotsByIfindex, m.SlotsOverflow, m.SlotStarts, m.Slots)
}

// mapped reads the slot maps direct and overflow, and the start times' map
// starts (nil: none), of maps with room for slots interfaces.
func mapped(direct, overflow, starts *ebpf.Map, slots int) ([]MappedInterface, error) {
	useBatch := true
	values := make([]uint32, direct.MaxEntries())
	if err := lookup(direct, &useBatch, make([]uint32, len(values)), values); err != nil {
		return nil, fmt.Errorf("read slot map: %w", err)
	}
	var slotStarts []uint64
	if starts != nil {
		slotStarts = make([]uint64, slots)
		if err := lookup(starts, &useBatch, make([]uint32, slots), slotStarts); err != nil {
			return nil, fmt.Errorf("read slot start times: %w", err)
		}
	}
	var out []MappedInterface
	add := func(ifindex int, value uint32) {
		slot := int(value-1) / 2
		if value == 0 || slot >= slots {
			return
		}
		mi := MappedInterface{Ifindex: ifindex, Slot: slot}
		if slot < len(slotStarts) && slotStarts[slot] > 0 && slotStarts[slot] < math.MaxInt64 {
			mi.Start = time.Unix(0, int64(slotStarts[slot]))
		}
		out = append(out, mi)
	}
	for ifindex, value := range values {
		add(ifindex, value)
	}
	var key, value uint32
	it := overflow.Iterate()
	for it.Next(&key, &value) {
		add(int(key), value)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read slot overflow map: %w", err)
	}
	return out, nil
}

// SetSlotStart records, with a pin directory, that slot began counting at t:
// the start of its cumulative series, which the next run reads (Mapped).
func (m *Maps) SetSlotStart(slot int, t time.Time) error {
	return m.setStart(slot, t)
}

// SetDropsStart records, with a pin directory, that a new drop counter
// began counting at t.
func (m *Maps) SetDropsStart(t time.Time) error {
	return m.setStart(m.Slots+startOfDrops, t)
}

// MapsStart returns when the pinned maps were made, the start of the
// programs' own statistics (zero without a pin directory).
func (m *Maps) MapsStart() time.Time { return m.start(m.Slots + startOfMaps) }

// DropsStart returns when the pinned drop counter was made (SetDropsStart),
// zero if unknown.
func (m *Maps) DropsStart() time.Time { return m.start(m.Slots + startOfDrops) }

// NetnsCookie returns the network namespace cookie SetNetnsCookie recorded
// (0: none).
func (m *Maps) NetnsCookie() uint64 {
	var c uint64
	if m.SlotStarts == nil || m.SlotStarts.Lookup(uint32(m.Slots+netnsEntry), &c) != nil {
		return 0
	}
	return c
}

// SetNetnsCookie records, with a pin directory, the cookie of the network
// namespace whose interfaces the maps count: unlike its inode number, which
// names the pin directory, it is never reused while the system runs.
func (m *Maps) SetNetnsCookie(c uint64) error {
	if m.SlotStarts == nil {
		return nil
	}
	if err := m.SlotStarts.Put(uint32(m.Slots+netnsEntry), c); err != nil {
		return fmt.Errorf("record the network namespace: %w", err)
	}
	return nil
}

// PinnedNetnsCookie returns the network namespace cookie recorded in the
// maps pinned in dir, of any layout (0: none, or no such maps).
func PinnedNetnsCookie(dir string) uint64 {
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, slotStartsMap), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return 0
	}
	defer m.Close()
	var c uint64
	if m.MaxEntries() < startEntries || m.Lookup(m.MaxEntries()-startEntries+netnsEntry, &c) != nil {
		return 0
	}
	return c
}

func (m *Maps) setStart(entry int, t time.Time) error {
	if m.SlotStarts == nil {
		return nil
	}
	if err := m.SlotStarts.Put(uint32(entry), uint64(t.UnixNano())); err != nil {
		return fmt.Errorf("record a start time: %w", err)
	}
	return nil
}

func (m *Maps) start(entry int) time.Time { return startOf(m.SlotStarts, entry) }

// startOf returns the time of entry of the start times' map starts, zero if
// unknown.
func startOf(starts *ebpf.Map, entry int) time.Time {
	var ns uint64
	if starts == nil || starts.Lookup(uint32(entry), &ns) != nil || ns == 0 || ns >= math.MaxInt64 {
		return time.Time{}
	}
	return time.Unix(0, int64(ns))
}
