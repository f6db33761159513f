package bpf

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
)

// FeatureDropReasons: the drop program on the kernel's drop tracepoint, its
// reasons named from the kernel's BTF (5.17); only probed with drops.enabled.
const FeatureDropReasons = "drop_reasons"

// DefaultDropKeys is how many (interface, reason, traffic class) keys the
// drop counter holds; drops of further keys count as DropCounter.TableFull.
const DefaultDropKeys = 16384

// DropReasons names the drop reasons of the running kernel, read from its
// BTF (enum skb_drop_reason): their values change between kernel versions.
type DropReasons struct {
	names map[uint32]string
	// notDrops are the values that mean a free, not a drop:
	// SKB_NOT_DROPPED_YET and, where the kernel has it, SKB_CONSUMED.
	notDrops [2]uint32
	// noSocket is SKB_DROP_REASON_NO_SOCKET, whose drops the program notes
	// (DropNote); notDrops[0], which never reaches the count, where the
	// kernel lacks it.
	noSocket uint32
}

// LoadDropReasons reads the drop reasons from the running kernel's BTF.
func LoadDropReasons() (*DropReasons, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("drop reasons: kernel BTF: %w", err)
	}
	return dropReasonsIn(spec)
}

// dropReasonsIn reads the drop reasons from kernel BTF.
func dropReasonsIn(spec *btf.Spec) (*DropReasons, error) {
	var enum *btf.Enum
	if err := spec.TypeByName("skb_drop_reason", &enum); err != nil {
		return nil, fmt.Errorf("drop reasons: enum skb_drop_reason: %w", err)
	}
	return dropReasonsOf(enum)
}

// dropReasonsOf names the values of enum skb_drop_reason.
func dropReasonsOf(enum *btf.Enum) (*DropReasons, error) {
	r := &DropReasons{names: make(map[uint32]string, len(enum.Values))}
	notDropped, consumed := -1, -1
	for _, v := range enum.Values {
		switch v.Name {
		case "SKB_NOT_DROPPED_YET":
			notDropped = int(v.Value)
		case "SKB_CONSUMED":
			consumed = int(v.Value)
		case "SKB_DROP_REASON_MAX": // a bound, not a reason
		default:
			r.names[uint32(v.Value)] = strings.ToLower(strings.TrimPrefix(v.Name, "SKB_DROP_REASON_"))
		}
	}
	if notDropped < 0 {
		return nil, errors.New("drop reasons: enum skb_drop_reason has no SKB_NOT_DROPPED_YET")
	}
	if consumed < 0 {
		consumed = notDropped
	}
	r.notDrops = [2]uint32{uint32(notDropped), uint32(consumed)}
	r.noSocket = r.notDrops[0]
	for v, name := range r.names {
		if name == "no_socket" {
			r.noSocket = v
		}
	}
	return r, nil
}

// Name returns the error.type of reason value v: the enumerator in lower case
// without SKB_DROP_REASON_ (no_socket, netfilter_drop...), or "unknown_" and
// the value for one the kernel's BTF does not name (a subsystem's own reasons).
func (r *DropReasons) Name(v uint32) string {
	if n, ok := r.names[v]; ok {
		return n
	}
	return fmt.Sprintf("unknown_%d", v)
}

// Names returns the name of every reason the kernel's BTF names.
func (r *DropReasons) Names() []string {
	names := make([]string, 0, len(r.names))
	for _, n := range r.names {
		names = append(names, n)
	}
	return names
}

// DropOptions configure a DropCounter.
type DropOptions struct {
	// NetnsInode is the inode number of the network namespace whose drops
	// are counted: drops on its devices, or of its sockets' packets.
	NetnsInode uint32
	// CountUnowned also counts drops of packets with neither a device nor a
	// socket, whose namespace cannot be told: set for the initial namespace
	// only, so that they are counted once per host.
	CountUnowned bool
	// MaxKeys bounds the (interface, reason, traffic class) keys held;
	// DefaultDropKeys when 0.
	MaxKeys int
	// PinDir, a directory on a BPF filesystem, keeps the program's link and
	// maps pinned: a counter a previous run left there goes on counting and
	// is taken over instead of a new one (DropCounter.Adopted).
	PinDir string
}

// DropCounter counts the kernel's packet drops of one network namespace by
// interface, reason and traffic class (a program on the drop tracepoint).
type DropCounter struct {
	// Reasons names the reason values of Read.
	Reasons *DropReasons
	objs    DropsObjects
	link    link.Link
}

// Drop is what one drop counter entry counts.
type Drop struct {
	// Ifindex is the packet's device, 0 when it had none.
	Ifindex int
	// Reason is the kernel's reason value (Reasons.Name names it).
	Reason uint32
	// Class is the packet's traffic class, as in the counters (ClassOf).
	Class int
	// Note is what the program saw of a no_socket drop beyond its reason.
	Note DropNote
}

// DropNote is what the drop program saw of a no_socket drop beyond its
// reason, which tells a loss from what is not one.
type DropNote uint8

// The notes of a drop.
const (
	// DropNoteNone: nothing more than the reason.
	DropNoteNone DropNote = DropNote(DropsPeDropNotePE_DROP_NOTE_NONE)
	// DropNoteEchoReplyCopied: an ICMP or ICMPv6 echo reply no ping socket
	// wanted, of which a copy had been made: a raw socket (ping's) got it.
	// A packet socket (a capture such as tcpdump) copies every packet too,
	// so while one runs, echo replies nobody wanted are noted as well.
	DropNoteEchoReplyCopied DropNote = DropNote(DropsPeDropNotePE_DROP_NOTE_ECHO_REPLY_COPIED)
	// DropNoteTCPNotSYN: a TCP segment without SYN, which belongs to a
	// connection that has ended here (closed, reset), not to a connection
	// attempt to a closed port.
	DropNoteTCPNotSYN DropNote = DropNote(DropsPeDropNotePE_DROP_NOTE_TCP_NOT_SYN)
)

// NewDropCounter loads the drop program and attaches it to the drop
// tracepoint. It fails where the kernel has no BTF, no BTF-enabled
// tracepoints or no drop reasons (before 5.17).
func NewDropCounter(o DropOptions) (*DropCounter, error) {
	// Parsed once, for the reasons and for the program's relocations.
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("drop reasons: kernel BTF: %w", err)
	}
	reasons, err := dropReasonsIn(kernel)
	if err != nil {
		return nil, err
	}
	spec, err := LoadDrops()
	if err != nil {
		return nil, fmt.Errorf("drop program: %w", err)
	}
	spec.Maps[DropsMapPeDrops].MaxEntries = uint32(cmp.Or(o.MaxKeys, DefaultDropKeys))
	for name, value := range map[string]uint32{
		DropsVarPeNetnsInum:      o.NetnsInode,
		DropsVarPeCountUnowned:   flag(o.CountUnowned),
		DropsVarPeReasonNotDrop0: reasons.notDrops[0],
		DropsVarPeReasonNotDrop1: reasons.notDrops[1],
		DropsVarPeReasonNoSocket: reasons.noSocket,
	} {
		if err := spec.Variables[name].Set(value); err != nil {
			return nil, fmt.Errorf("drop program: set %s: %w", name, err)
		}
	}
	d := &DropCounter{Reasons: reasons}
	if o.PinDir != "" {
		if d.adopt(spec, o.PinDir) {
			return d, nil
		}
		for _, name := range dropMaps {
			spec.Maps[name].Pinning = ebpf.PinByName
		}
	}
	if err := spec.LoadAndAssign(&d.objs, &ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{KernelTypes: kernel},
		Maps: ebpf.MapOptions{PinPath: o.PinDir}}); err != nil {
		return nil, fmt.Errorf("load drop program: %w", err)
	}
	d.link, err = link.AttachTracing(link.TracingOptions{Program: d.objs.PeCountDrop})
	if err == nil && o.PinDir != "" {
		if err = d.link.Pin(filepath.Join(o.PinDir, dropLinkPin)); err != nil {
			d.link.Close()
		}
	}
	if err != nil {
		d.objs.Close()
		return nil, fmt.Errorf("attach drop program: %w", err)
	}
	return d, nil
}

// Read calls fn with every entry and its packets summed over CPUs.
func (d *DropCounter) Read(fn func(Drop, uint64)) error {
	var key DropsPeDropKey
	var perCPU []uint64
	it := d.objs.PeDrops.Iterate()
	for it.Next(&key, &perCPU) {
		fn(Drop{Ifindex: int(key.Ifindex), Reason: key.Reason, Class: int(key.Class), Note: DropNote(key.Note)}, sum(perCPU))
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read drops: %w", err)
	}
	return nil
}

// TableFull returns the drops not counted for want of room for their key.
func (d *DropCounter) TableFull() (uint64, error) {
	var perCPU []uint64
	if err := d.objs.PeDropStats.Lookup(uint32(DropsPeDropStatPE_DROP_STAT_TABLE_FULL), &perCPU); err != nil {
		return 0, fmt.Errorf("read drop statistics: %w", err)
	}
	return sum(perCPU), nil
}

// Forget deletes in one pass the entries of ifindexes: interfaces gone, whose index may be reused.
func (d *DropCounter) Forget(ifindexes map[int]bool) error {
	if len(ifindexes) == 0 {
		return nil
	}
	var key DropsPeDropKey
	var keys []DropsPeDropKey
	var perCPU []uint64
	it := d.objs.PeDrops.Iterate()
	for it.Next(&key, &perCPU) {
		if ifindexes[int(key.Ifindex)] {
			keys = append(keys, key)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("forget drops: %w", err)
	}
	for _, k := range keys {
		if err := d.objs.PeDrops.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("forget drops of interface %d: %w", k.Ifindex, err)
		}
	}
	return nil
}

// Close detaches the program and releases it and its maps.
func (d *DropCounter) Close() error {
	return errors.Join(d.link.Close(), d.objs.Close())
}

// dropMaps are the drop program's maps, pinned with its link (PinDir).
var dropMaps = []string{DropsMapPeDrops, DropsMapPeDropStats}

// dropLinkPin is the name of the drop program's pinned link in PinDir.
const dropLinkPin = "link"

// adopt takes over the drop counter a previous run left counting under dir:
// its pinned link and maps, if they fit spec. What is there and does not fit
// is removed (the link detaches as its pin goes), for a new counter.
func (d *DropCounter) adopt(spec *ebpf.CollectionSpec, dir string) bool {
	l, linkErr := link.LoadPinnedLink(filepath.Join(dir, dropLinkPin), nil)
	drops, dropsErr := loadPinnedMap(spec, dir, DropsMapPeDrops)
	stats, statsErr := loadPinnedMap(spec, dir, DropsMapPeDropStats)
	if linkErr == nil && dropsErr == nil && statsErr == nil {
		d.link, d.objs.PeDrops, d.objs.PeDropStats = l, drops, stats
		return true
	}
	if l != nil {
		l.Close()
	}
	drops.Close() // nil-safe
	stats.Close()
	for _, name := range append([]string{dropLinkPin}, dropMaps...) {
		os.Remove(filepath.Join(dir, name))
	}
	return false
}

// loadPinnedMap loads the map of spec called name pinned in dir, if it fits
// spec.
func loadPinnedMap(spec *ebpf.CollectionSpec, dir, name string) (*ebpf.Map, error) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), nil)
	if err != nil {
		return nil, err
	}
	if err := spec.Maps[name].Compatible(m); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Adopted reports whether the counter is one a previous run left counting.
func (d *DropCounter) Adopted() bool { return d.objs.PeCountDrop == nil }
