package receiver

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"go.uber.org/zap"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/config"
)

// Hooks a program can be attached to, the hook attribute of self-metrics.
const (
	HookXDP = "xdp"
	HookTCX = "tcx"
)

// Receiver owns the kernel maps, the programs attached to each interface and
// the self-metric state. Its methods are safe for concurrent use.
type Receiver struct {
	cfg    config.Config
	log    *zap.Logger
	maps   *bpf.Maps
	reader *bpf.Reader

	mu       sync.RWMutex
	slots    *slotSet
	attached map[int]*attachment // by ifindex
	failures map[failureKey]int64
	closed   bool
}

// attachment is one interface being counted.
type attachment struct {
	name  string
	index int
	slot  int
	hooks []hook
	attrs *interfaceAttributes
}

// hook is one program attached to one interface in one direction.
type hook struct {
	direction bpf.Direction
	kind      string // HookXDP or HookTCX
	mode      string // XDP attach mode: native or generic; empty for tcx
	program   *ebpf.Program
	link      link.Link
}

// failureKey identifies a series of packet_exporter.attach.failures.
type failureKey struct {
	iface     string
	direction bpf.Direction
	hook      string
	reason    string
}

// New creates the kernel maps, sized for cfg.Limits.MaxInterfaces
// interfaces. Nothing is attached until Start.
func New(cfg config.Config, log *zap.Logger) (*Receiver, error) {
	maps, err := bpf.NewMaps(cfg.Limits.MaxInterfaces)
	if err != nil {
		return nil, err
	}
	reader, err := bpf.NewReader(maps)
	if err != nil {
		maps.Close()
		return nil, err
	}
	return &Receiver{
		cfg:      cfg,
		log:      log,
		maps:     maps,
		reader:   reader,
		slots:    newSlotSet(maps.Slots),
		attached: map[int]*attachment{},
		failures: map[failureKey]int64{},
	}, nil
}

// Start attaches to every existing interface that the configuration selects.
// Failures on single interfaces are logged and counted, not returned; the
// error is for failures to list interfaces at all.
func (r *Receiver) Start() error {
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("list interfaces: %w", err)
	}
	names := map[string]bool{}
	for _, l := range links {
		attrs := l.Attrs()
		names[attrs.Name] = true
		if r.cfg.Interfaces.Match(attrs.Name) {
			r.Attach(attrs.Name, attrs.Index, attrs.EncapType)
		}
	}
	r.reportMissing(names)
	return nil
}

// reportMissing warns about, and counts as not_found, every include pattern
// naming one interface literally (no glob characters) that does not exist.
func (r *Receiver) reportMissing(existing map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, pattern := range r.cfg.Interfaces.Include {
		if strings.ContainsAny(pattern, `*?[\`) || existing[pattern] {
			continue
		}
		r.log.Warn("configured interface does not exist", zap.String("interface", pattern))
		r.failLocked(pattern, bpf.Receive, HookXDP, reasonNotFound)
	}
	if len(r.attached) == 0 {
		r.log.Warn("no interface is counted",
			zap.Strings("include", r.cfg.Interfaces.Include),
			zap.Strings("exclude", r.cfg.Interfaces.Exclude))
	}
}

// Attach counts the interface with the given name, index and link encapsulation
// (netlink's EncapType; only Ethernet framing is parsed). It reports whether at
// least one direction is counted.
func (r *Receiver) Attach(name string, index int, encap string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	if _, ok := r.attached[index]; ok {
		return true
	}
	log := r.log.With(zap.String("interface", name), zap.Int("ifindex", index))
	if encap != "ether" {
		log.Warn("interface skipped: not an Ethernet link", zap.String("link_type", encap))
		r.failLocked(name, bpf.Receive, HookXDP, reasonUnsupportedLink)
		return false
	}
	slot, ok := r.slots.take()
	if !ok {
		log.Error("interface skipped: no free counter slot; raise limits.max_interfaces",
			zap.Int("max_interfaces", r.maps.Slots))
		r.failLocked(name, bpf.Receive, HookXDP, reasonNoSlot)
		return false
	}
	// A slot freed by an earlier interface must not carry its counts over.
	if err := r.maps.ResetSlot(slot); err != nil {
		log.Error("interface skipped: reset counters", zap.Error(err))
		r.slots.release(slot)
		r.failLocked(name, bpf.Receive, HookXDP, reasonOther)
		return false
	}
	a := &attachment{name: name, index: index, slot: slot, attrs: newInterfaceAttributes(name)}
	if h, err := r.attachXDP(index, slot); err != nil {
		log.Warn("ingress not counted: attach xdp", zap.Error(err))
		r.failLocked(name, bpf.Receive, HookXDP, failureReason(err))
	} else {
		log.Info("attached", zap.String("hook", h.kind), zap.String("direction", "receive"), zap.String("mode", h.mode))
		a.hooks = append(a.hooks, h)
	}
	if r.cfg.Egress.Enabled {
		if h, err := r.attachTCX(index, slot, bpf.Transmit); err != nil {
			msg := "egress not counted: attach tcx"
			if errors.Is(err, ebpf.ErrNotSupported) {
				msg = "egress not counted: tcx is unavailable (needs Linux 6.6 or later)"
			}
			log.Warn(msg, zap.Error(err))
			r.failLocked(name, bpf.Transmit, HookTCX, failureReason(err))
		} else {
			log.Info("attached", zap.String("hook", h.kind), zap.String("direction", "transmit"))
			a.hooks = append(a.hooks, h)
		}
	}
	if len(a.hooks) == 0 {
		r.slots.release(slot)
		return false
	}
	r.attached[index] = a
	return true
}

// attachXDP loads and attaches an XDP instance in the configured mode; auto
// tries native (driver) mode first and falls back to generic.
func (r *Receiver) attachXDP(index, slot int) (hook, error) {
	prog, err := r.maps.LoadXDP(slot)
	if err != nil {
		return hook{}, fmt.Errorf("%w: %w", errProgramLoad, err)
	}
	modes := []struct {
		name  string
		flags link.XDPAttachFlags
	}{{"native", link.XDPDriverMode}, {"generic", link.XDPGenericMode}}
	switch r.cfg.XDP.Mode {
	case config.XDPModeNative:
		modes = modes[:1]
	case config.XDPModeGeneric:
		modes = modes[1:]
	}
	var errs []error
	for _, m := range modes {
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: index, Flags: m.flags})
		if err == nil {
			return hook{direction: bpf.Receive, kind: HookXDP, mode: m.name, program: prog, link: l}, nil
		}
		errs = append(errs, fmt.Errorf("%s mode: %w", m.name, err))
	}
	prog.Close()
	return hook{}, errors.Join(errs...)
}

// attachTCX loads a tc instance for direction d and attaches it through tcx
// at the head of the chain, so that it sees every frame of the hook; it returns
// TCX_NEXT and never changes the verdict of the programs after it.
func (r *Receiver) attachTCX(index, slot int, d bpf.Direction) (hook, error) {
	prog, err := r.maps.LoadTC(slot, d)
	if err != nil {
		return hook{}, fmt.Errorf("%w: %w", errProgramLoad, err)
	}
	attach := ebpf.AttachTCXEgress
	if d == bpf.Receive {
		attach = ebpf.AttachTCXIngress
	}
	l, err := link.AttachTCX(link.TCXOptions{Interface: index, Program: prog, Attach: attach, Anchor: link.Head()})
	if err != nil {
		prog.Close()
		return hook{}, err
	}
	return hook{direction: d, kind: HookTCX, program: prog, link: l}, nil
}

// Detach stops counting the interface with the given index and frees its slot.
func (r *Receiver) Detach(index int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.attached[index]
	if !ok {
		return nil
	}
	delete(r.attached, index)
	r.slots.release(a.slot)
	return a.close()
}

func (a *attachment) close() error {
	var errs []error
	for _, h := range a.hooks {
		if err := h.link.Close(); err != nil {
			errs = append(errs, fmt.Errorf("detach %s from %s: %w", h.kind, a.name, err))
		}
		h.program.Close()
	}
	return errors.Join(errs...)
}

func (r *Receiver) failLocked(iface string, d bpf.Direction, hookKind, reason string) {
	r.failures[failureKey{iface: iface, direction: d, hook: hookKind, reason: reason}]++
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

// Close detaches every program and releases the kernel maps.
func (r *Receiver) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	var errs []error
	for index, a := range r.attached {
		errs = append(errs, a.close())
		delete(r.attached, index)
	}
	errs = append(errs, r.maps.Close())
	return errors.Join(errs...)
}
