package receiver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/attribution"
)

// attacher owns the kernel maps and what is attached to each interface: it
// watches the namespace's links (watch.go), takes a counter slot for each
// interface the configuration selects, attaches the programs on each hook
// (attach.go, tcfilter.go) and detaches them, and chooses the programs'
// variant (timing.go). Collectors read its state under mu's read lock and
// never change what is attached.
type attacher struct {
	cfg      config.Config
	opts     options
	log      *zap.Logger
	maps     *bpf.Maps
	reader   counterReader
	nl       *netlink.Handle
	features bpf.Features // what the kernel has, probed once
	started  chan error   // the first listing's outcome, once
	// pin is the state kept in a BPF filesystem (persistence.enabled), nil
	// without persistence: links are pinned there, and at close left
	// attached, with the counters and their slots.
	pin *pinned

	mu       sync.RWMutex
	slots    *slotSet
	slotName []string            // interface name by slot, "" when free
	attached map[int]*attachment // by ifindex
	skipped  map[int]skip        // matching interfaces not counted, by ifindex
	failures map[failureKey]int64
	// programIDs are the kernel IDs of the programs of maps, asked once.
	programIDs map[*ebpf.Program]uint32
	missing    map[string]bool // literal include names reported as not found
	// linkNames are the names of every interface of the namespace by
	// ifindex, counted or not: the drops' interfaces.
	linkNames map[int]string
	// forget, when set, is told of the interfaces deleted or renamed, whose
	// state kept by ifindex (the drop counts) must go; gone are the
	// interfaces deleted since the last listing, told then.
	forget  func(indexes map[int]bool)
	gone    map[int]bool
	resyncs int64
	ready   bool
	closed  bool
}

// counterReader reads the kernel counters; *bpf.Reader in production, a fake
// in benchmarks of the collection path.
type counterReader interface {
	Counters(slots int, fn func([]bpf.Block) error) error
	Tunnels(slots int, fn func(*bpf.TunnelCounts)) error
	Stats() ([]uint64, error)
}

// attachment is one interface being counted.
type attachment struct {
	start time.Time // when counting began, the start of its cumulative series
	name  string
	index int
	slot  int
	hooks []hook
	attrs *interfaceAttributes
	// facts, workload and info are what its info series says, info as
	// computed from the others by setInfoLocked; seriesAttrs are the
	// workload attributes on its traffic series (attribution.on_series).
	facts       linkFacts
	workload    attribution.Workload
	info        metric.MeasurementOption
	seriesAttrs []attribute.KeyValue
	// podInterface is its peer's name as the pod behind it sees it, once
	// looked up; pod, its pod's series' attributes (nil: none).
	podInterface string
	pod          *podAttributes
}

// hook is one program attached to one interface in one direction.
type hook struct {
	direction bpf.Direction
	kind      string // config.HookXDP, config.HookTCX or config.HookTC
	mode      string // XDP attach mode: native or generic; empty for tc hooks
	programID uint32 // kernel ID of the attached program, 0 if unknown
	link      attachedProgram
	// attachedAttrs and hookAttrs are the hook's attribute sets, computed once.
	attachedAttrs, hookAttrs metric.MeasurementOption
}

// skip is a matching interface that is not counted, and why.
type skip struct {
	name, reason string
}

// failureKey identifies a series of packet_exporter.attach.failures.
type failureKey struct {
	iface     string
	direction bpf.Direction
	hook      string
	reason    string
}

func newAttacher(cfg config.Config, o options, log *zap.Logger, maps *bpf.Maps, reader counterReader, nl *netlink.Handle, features bpf.Features, pin *pinned) *attacher {
	a := &attacher{
		cfg:        cfg,
		opts:       o,
		log:        log,
		maps:       maps,
		reader:     reader,
		nl:         nl,
		features:   features,
		started:    make(chan error, 1),
		slots:      newSlotSet(maps.Slots),
		slotName:   make([]string, maps.Slots),
		attached:   map[int]*attachment{},
		skipped:    map[int]skip{},
		failures:   map[failureKey]int64{},
		programIDs: map[*ebpf.Program]uint32{},
		missing:    map[string]bool{},
		linkNames:  map[int]string{},
		gone:       map[int]bool{},
		pin:        pin,
	}
	if pin != nil {
		for _, ad := range pin.adopted {
			if ad.slot >= 0 {
				a.slots.claim(ad.slot) // pinned.adopt gives each slot once
			}
		}
	}
	return a
}

// start loads the programs and starts watching the links and judging the
// programs' timing, until ctx ends.
func (a *attacher) start(ctx context.Context, running *sync.WaitGroup) {
	a.loadPrograms()
	running.Go(func() { a.watch(ctx) })
	running.Go(func() { a.runTiming(ctx) })
}

// loadPrograms loads, before any interface is attached, the programs the
// configuration attaches: every interface then only costs the attachments.
// A program that fails to load is reported on each interface it was meant
// for (load_failed), as when loaded on first use.
func (a *attacher) loadPrograms() {
	_, err := a.program(a.hookKind(a.cfg.Ingress.Hook), bpf.Receive)
	if a.cfg.Egress.Enabled {
		_, egressErr := a.maps.TC(bpf.Transmit)
		err = errors.Join(err, egressErr)
	}
	if err != nil {
		a.log.Warn("load programs", zap.Error(err))
	}
}

func (a *attacher) nameOfSlot(slot int) string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if slot < 0 || slot >= len(a.slotName) {
		return ""
	}
	return a.slotName[slot]
}

// close detaches every program and releases the kernel maps, once the
// watch has stopped. With persistence, the programs stay attached and the
// pinned maps keep counting, for the next run to adopt.
func (a *attacher) close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	var errs []error
	for index, at := range a.attached {
		if a.pin != nil {
			errs = append(errs, at.release())
		} else {
			errs = append(errs, at.close())
		}
		delete(a.attached, index)
	}
	if a.pin != nil {
		for _, ad := range a.pin.adopted { // none unless the first listing failed
			for _, l := range ad.links {
				errs = append(errs, l.Close())
			}
		}
	}
	errs = append(errs, a.maps.Close())
	a.nl.Close()
	return errors.Join(errs...)
}

// detachLocked stops counting the interface with the given index and frees
// its slot; its series are no longer reported. It returns the ID of the XDP
// program it detached, or 0.
func (a *attacher) detachLocked(index int) (xdpProgID uint32) {
	delete(a.skipped, index)
	at, ok := a.attached[index]
	if !ok {
		return 0
	}
	delete(a.attached, index)
	a.slotName[at.slot] = ""
	if err := at.close(); err != nil {
		a.log.Warn("detach", zap.String("interface", at.name), zap.Error(err))
	}
	// After the programs are gone from the interface: until then its frames
	// are still counted in its slot.
	a.unmapLocked(index, at.name, at.slot)
	a.log.Info("detached", zap.String("interface", at.name), zap.Int("ifindex", index))
	for _, h := range at.hooks {
		if h.kind == config.HookXDP {
			xdpProgID = h.programID
		}
	}
	return xdpProgID
}

// unmapLocked removes the counters mapping of interface index and frees its
// slot. A mapping that cannot be removed keeps its slot out of use: the
// programs would count another interface's frames into it otherwise.
func (a *attacher) unmapLocked(index int, name string, slot int) {
	if err := a.maps.UnmapInterface(index); err != nil {
		a.log.Error("interface slot not freed", zap.String("interface", name), zap.Int("slot", slot), zap.Error(err))
		return
	}
	a.slots.release(slot)
}

// close detaches the programs of the attachment. The programs themselves
// stay loaded, attached to the other interfaces.
func (at *attachment) close() error {
	var errs []error
	for _, h := range at.hooks {
		if err := h.link.Close(); err != nil {
			errs = append(errs, fmt.Errorf("detach %s from %s: %w", h.kind, at.name, err))
		}
	}
	return errors.Join(errs...)
}

// release lets go of the attachment's programs, leaving them attached.
func (at *attachment) release() error {
	var errs []error
	for _, h := range at.hooks {
		if err := h.link.Release(); err != nil {
			errs = append(errs, fmt.Errorf("release %s of %s: %w", h.kind, at.name, err))
		}
	}
	return errors.Join(errs...)
}

func (a *attacher) failLocked(iface string, d bpf.Direction, hookKind, reason string) {
	a.failures[failureKey{iface: iface, direction: d, hook: hookKind, reason: reason}]++
}

// forgetLocked tells forget of the interfaces of indexes, deleted or renamed.
func (a *attacher) forgetLocked(indexes map[int]bool) {
	if a.forget == nil || len(indexes) == 0 {
		return
	}
	a.forget(indexes)
	for index := range indexes {
		delete(a.gone, index)
	}
}
