package receiver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/attribution"
)

// Hooks a program can be attached to, the hook attribute of self-metrics.
const (
	HookXDP = "xdp"
	HookTCX = "tcx"
	// HookTC is legacy tc: a direct-action cls_bpf filter on a clsact qdisc.
	HookTC = "tc"
)

// Receiver owns the kernel maps, the programs attached to each interface and
// the self-metric state. Its methods are safe for concurrent use.
type Receiver struct {
	cfg    config.Config
	opts   options
	log    *zap.Logger
	maps   *bpf.Maps
	reader counterReader
	nl     *netlink.Handle // in the receiver's namespace, for legacy tc

	features bpf.Features // what the kernel has, probed once

	events *pipeline // nil with the event stream off
	runs   *runStats
	// dropsStarted is closed once the drop counter has started or failed
	// (at once with drops.enabled false).
	dropsStarted chan struct{}

	sizesMu sync.Mutex
	sizes   sizeSnapshot // the packet-size state of the last read

	mu       sync.RWMutex
	slots    *slotSet
	names    []string            // interface name by slot, "" when free
	attached map[int]*attachment // by ifindex
	skipped  map[int]skip        // matching interfaces not counted, by ifindex
	failures map[failureKey]int64
	// programIDs are the kernel IDs of the programs of maps, asked once.
	programIDs map[*ebpf.Program]uint32
	missing    map[string]bool // literal include names reported as not found
	// drops counts the kernel's drops: nil until it has started, and with
	// drops.enabled false or where it cannot run.
	drops *bpf.DropCounter
	// linkNames are the names of every interface of the namespace by
	// ifindex, counted or not: the drops' interfaces.
	linkNames map[int]string
	// gone are interfaces deleted since the last listing, whose drops are
	// forgotten again then (for drops counted after the deletion).
	gone    map[int]bool
	resyncs int64
	// unresolved counts the counted veths whose workload is not fully known,
	// by reason; attributionDone is closed when the lookups have stopped.
	unresolved      map[string]int64
	attributionDone chan struct{}
	ready           bool
	closed          bool

	stop    context.CancelFunc
	stopped chan struct{}
}

// counterReader reads the kernel counters; *bpf.Reader in production, a fake
// in benchmarks of the collection path.
type counterReader interface {
	Counters(slots int, fn func([]bpf.Block) error) error
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
}

// hook is one program attached to one interface in one direction.
type hook struct {
	direction bpf.Direction
	kind      string // HookXDP, HookTCX or HookTC
	mode      string // XDP attach mode: native or generic; empty for tc hooks
	programID uint32 // kernel ID of the attached program, 0 if unknown
	link      attachedProgram
	// attachedAttrs and hookAttrs are the hook's attribute sets, computed once.
	attachedAttrs, hookAttrs metric.MeasurementOption
}

// skip is a matching interface that is not counted, and why.
type skip struct {
	name   string
	reason string
}

// failureKey identifies a series of packet_exporter.attach.failures.
type failureKey struct {
	iface     string
	direction bpf.Direction
	hook      string
	reason    string
}

// Option tunes a Receiver.
type Option func(*options)

type options struct {
	netns         netns.NsHandle
	netlinkBuffer int
}

// WithNetns makes the receiver watch and attach to the interfaces of network
// namespace ns instead of its own (tests run receivers in test namespaces).
func WithNetns(ns netns.NsHandle) Option { return func(o *options) { o.netns = ns } }

// WithNetlinkBuffer sets the receive buffer of the netlink subscription in
// bytes (tests make it small to provoke lost messages).
func WithNetlinkBuffer(bytes int) Option { return func(o *options) { o.netlinkBuffer = bytes } }

// SeriesLimit is the most series one instrument of a receiver configured
// by cfg has: every traffic class of every interface in both directions, or
// the flow table's series (plus its overflow series).
func SeriesLimit(cfg config.Config) int {
	return max(cfg.Limits.MaxInterfaces*2*bpf.ClassCount, cfg.Flows.MaxSeries+1)
}

// New creates the kernel maps, sized for cfg.Limits.MaxInterfaces
// interfaces. Nothing is attached until Start.
func New(cfg config.Config, log *zap.Logger, opts ...Option) (*Receiver, error) {
	o := options{netns: netns.None(), netlinkBuffer: 4 << 20}
	for _, opt := range opts {
		opt(&o)
	}
	maps, err := bpf.NewMaps(cfg.Limits.MaxInterfaces, bpf.EventOptions{
		Enabled:    cfg.Events.Enabled,
		SampleRate: uint32(cfg.Events.SampleRate),
		RingSize:   ringSize(cfg.Events),
	})
	if err != nil {
		return nil, err
	}
	reader, err := bpf.NewReader(maps)
	if err != nil {
		maps.Close()
		return nil, err
	}
	// Route only: the default set also opens XFRM and netfilter sockets,
	// which fail where their modules are not loaded.
	nl, err := netlink.NewHandleAt(o.netns, unix.NETLINK_ROUTE)
	if err != nil {
		maps.Close()
		return nil, fmt.Errorf("netlink handle: %w", err)
	}
	features := bpf.ProbeFeatures()
	fields := make([]zap.Field, 0, len(features))
	for _, f := range features {
		fields = append(fields, zap.Bool(f.Name, f.Available()))
	}
	log.Info("kernel features", fields...)
	for _, f := range features {
		if !f.Available() {
			log.Info("kernel feature unavailable", zap.String("feature", f.Name), zap.Error(f.Err))
		}
	}
	r := &Receiver{
		features:   features,
		linkNames:  map[int]string{},
		gone:       map[int]bool{},
		cfg:        cfg,
		opts:       o,
		log:        log,
		maps:       maps,
		reader:     reader,
		nl:         nl,
		slots:      newSlotSet(maps.Slots),
		attached:   map[int]*attachment{},
		skipped:    map[int]skip{},
		missing:    map[string]bool{},
		failures:   map[failureKey]int64{},
		programIDs: map[*ebpf.Program]uint32{},
		runs:       &runStats{programs: maps},
		names:      make([]string, maps.Slots),
	}
	if cfg.Events.Enabled {
		if r.events, err = newPipeline(maps, cfg, log, r.slotName); err != nil {
			maps.Close()
			nl.Close()
			return nil, err
		}
	}
	return r, nil
}

// slotName returns the name of the interface counted in slot.
func (r *Receiver) slotName(slot int) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if slot < 0 || slot >= len(r.names) {
		return ""
	}
	return r.names[slot]
}

// Start attaches to every existing interface that the configuration selects
// and keeps watching: interfaces that appear later are attached, deleted ones
// forgotten. It returns once the existing interfaces are handled; failures on
// single interfaces are logged and counted, not returned. The error is for a
// watch that cannot start at all.
func (r *Receiver) Start(ctx context.Context) error {
	r.mu.Lock()
	if r.closed || r.stop != nil {
		r.mu.Unlock()
		return errors.New("receiver already started or closed")
	}
	ctx, r.stop = context.WithCancel(ctx)
	r.stopped = make(chan struct{})
	r.dropsStarted = make(chan struct{})
	r.attributionDone = make(chan struct{})
	r.mu.Unlock()

	// Beside the interfaces, and never waited for: loading the kernel's BTF
	// takes a few hundred milliseconds of CPU, and counting runs without it.
	go r.runDrops()
	r.loadPrograms()
	if r.events != nil {
		r.events.start()
	}
	started := make(chan error, 1)
	go r.watch(ctx, started)
	go r.runAttribution(ctx)
	return <-started
}

// loadPrograms loads, before any interface is attached, the programs the
// configuration attaches: every interface then only costs the attachments.
// A program that fails to load is reported on each interface it was meant
// for (load_failed), as when loaded on first use.
func (r *Receiver) loadPrograms() {
	var err error
	if r.cfg.Ingress.Hook == config.IngressHookXDP {
		_, err = r.maps.XDP()
	} else {
		_, err = r.maps.TC(bpf.Receive)
	}
	if r.cfg.Egress.Enabled {
		_, egressErr := r.maps.TC(bpf.Transmit)
		err = errors.Join(err, egressErr)
	}
	if err != nil {
		r.log.Warn("load programs", zap.Error(err))
	}
}

// Ready reports whether the initial interfaces are handled and every matching
// interface is counted, except those that cannot be (not Ethernet).
func (r *Receiver) Ready() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if !r.ready {
		return false
	}
	for _, s := range r.skipped {
		if s.reason != reasonUnsupportedLink {
			return false
		}
	}
	return true
}

// Attached returns the names of the interfaces being counted.
func (r *Receiver) Attached() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.attached))
	for _, a := range r.attached {
		names = append(names, a.name)
	}
	return names
}

// Close stops watching, detaches every program and releases the kernel maps.
func (r *Receiver) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	stop, stopped, dropsStarted, attributionDone := r.stop, r.stopped, r.dropsStarted, r.attributionDone
	r.mu.Unlock()
	if stop != nil {
		stop()
		<-stopped
		<-dropsStarted
		<-attributionDone
	}
	var errs []error
	if r.events != nil {
		errs = append(errs, r.events.close())
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	for index, a := range r.attached {
		errs = append(errs, a.close())
		delete(r.attached, index)
	}
	errs = append(errs, r.maps.Close())
	if r.drops != nil {
		errs = append(errs, r.drops.Close())
	}
	r.nl.Close()
	return errors.Join(errs...)
}

// detachLocked stops counting the interface with the given index and frees
// its slot; its series are no longer reported. It returns the ID of the XDP
// program it detached, or 0.
func (r *Receiver) detachLocked(index int) (xdpProgID uint32) {
	delete(r.skipped, index)
	a, ok := r.attached[index]
	if !ok {
		return 0
	}
	delete(r.attached, index)
	r.names[a.slot] = ""
	if err := a.close(); err != nil {
		r.log.Warn("detach", zap.String("interface", a.name), zap.Error(err))
	}
	// After the programs are gone from the interface: until then its frames
	// are still counted in its slot.
	r.unmapLocked(index, a.name, a.slot)
	r.log.Info("detached", zap.String("interface", a.name), zap.Int("ifindex", index))
	for _, h := range a.hooks {
		if h.kind == HookXDP {
			xdpProgID = h.programID
		}
	}
	return xdpProgID
}

// unmapLocked removes the counters mapping of interface index and frees its
// slot. A mapping that cannot be removed keeps its slot out of use: the
// programs would count another interface's frames into it otherwise.
func (r *Receiver) unmapLocked(index int, name string, slot int) {
	if err := r.maps.UnmapInterface(index); err != nil {
		r.log.Error("interface slot not freed", zap.String("interface", name), zap.Int("slot", slot), zap.Error(err))
		return
	}
	r.slots.release(slot)
}

// close detaches the programs of the attachment. The programs themselves
// stay loaded, attached to the other interfaces.
func (a *attachment) close() error {
	var errs []error
	for _, h := range a.hooks {
		if err := h.link.Close(); err != nil {
			errs = append(errs, fmt.Errorf("detach %s from %s: %w", h.kind, a.name, err))
		}
	}
	return errors.Join(errs...)
}

func (r *Receiver) failLocked(iface string, d bpf.Direction, hookKind, reason string) {
	r.failures[failureKey{iface: iface, direction: d, hook: hookKind, reason: reason}]++
}
