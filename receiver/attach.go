package receiver

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/config"
)

// linkInfo is what attaching needs to know of an interface.
type linkInfo struct {
	name       string
	index      int
	encap      string // netlink EncapType; only "ether" is parsed
	xdpForeign bool   // another program holds the XDP hook
	xdpProgID  uint32
	facts      linkFacts
}

// attachLocked counts the interface l. It runs on the watch thread, which is
// in the receiver's network namespace.
func (a *attacher) attachLocked(l linkInfo) {
	delete(a.skipped, l.index)
	log := a.log.With(zap.String("interface", l.name), zap.Int("ifindex", l.index))
	// The hook ingress attaches first: the hook attribute of failures that
	// come before any attach attempt.
	ingress := a.hookKind(a.cfg.Ingress.Hook)
	if l.encap != "ether" {
		a.skipLocked(l, ingress, reasonUnsupportedLink, "interface skipped: not an Ethernet link",
			zap.String("link_type", l.encap))
		return
	}
	// An interface a previous run counted (persistence) keeps its slot, its
	// counts and its start, and its programs stay attached: its links are
	// given the programs of this run.
	ad := a.takeAdoptedLocked(l.index)
	at := &attachment{start: time.Now(), name: l.name, index: l.index, attrs: newInterfaceAttributes(l.name, nil), facts: l.facts}
	if ad != nil {
		at.slot = ad.slot
		if !ad.start.IsZero() {
			at.start = ad.start
		}
		if x := ad.links[hookKey{config.HookXDP, bpf.Receive}]; x != nil && x.programID == l.xdpProgID {
			l.xdpForeign = false // its own XDP program, attached by the previous run
		}
		log.Info("adopted from the previous run", zap.Int("slot", at.slot), zap.Time("counting_since", at.start))
	}
	fresh := ad == nil || ad.slot < 0 // its slot is to take
	if fresh {
		slot, ok := a.slots.take()
		if !ok {
			a.skipLocked(l, ingress, reasonNoSlot,
				"interface skipped: no free counter slot; raise limits.max_interfaces", zap.Int("max_interfaces", a.maps.Slots))
			return
		}
		// Before any program is attached: the programs find the interface's
		// counters through this mapping, and the slot starts from zero.
		if err := a.maps.MapInterface(l.index, slot); err != nil {
			a.slots.release(slot)
			a.skipLocked(l, ingress, reasonOther, "interface skipped: map its counters", zap.Error(err))
			return
		}
		at.slot = slot
	}
	if fresh || ad.start.IsZero() {
		if err := a.maps.SetSlotStart(at.slot, at.start); err != nil {
			log.Warn("the start of the interface's counts not kept for the next run", zap.Error(err))
		}
	}
	if ad != nil && ad.carryFrom >= 0 {
		// Before this build's programs replace the previous build's: the
		// counts so far (finishUpgradeLocked adds the last ones), so that
		// the interface's series never go down.
		a.carryLocked(l.index, at.slot, ad.carryFrom, log)
	}
	slot := at.slot
	a.setInfoLocked(at)
	if h, ok := a.attachIngressLocked(l, ingress, log, ad); ok {
		at.hooks = append(at.hooks, h)
	}
	if a.cfg.Egress.Enabled {
		kind := a.hookKind(a.cfg.Egress.Hook)
		if h, err := a.attachTC(l.index, bpf.Transmit, kind, ad.link(kind, bpf.Transmit)); err != nil {
			log.Warn("egress not counted: attach "+kind, zap.Error(err))
			a.failLocked(l.name, bpf.Transmit, kind, failureReason(err))
		} else {
			log.Info("attached", zap.String("hook", h.kind), zap.String("direction", "transmit"))
			at.hooks = append(at.hooks, h)
		}
	}
	for i := range at.hooks {
		at.hooks[i].attachedAttrs, at.hooks[i].hookAttrs = hookAttributes(l.name, at.hooks[i])
	}
	a.detachUnusedLocked(ad, l.index, at.hooks, log) // after the hooks that replace them
	if len(at.hooks) == 0 {
		a.unmapLocked(l.index, l.name, slot)
		if _, ok := a.skipped[l.index]; !ok {
			a.skipped[l.index] = skip{name: l.name, reason: reasonOther}
		}
		return
	}
	a.attached[l.index] = at
	a.slotName[slot] = l.name
}

// attachIngressLocked counts received frames through hook kind; a failure
// skips the interface. Through XDP, in the mode xdp.mode says, an interface
// whose XDP hook another program holds is skipped: that program is never
// replaced. With xdp.mode auto, an interface whose driver has no native XDP
// is counted through tc ingress instead: generic XDP copies frames and turns
// off the device's hardware offloads, so it is used only when configured.
func (a *attacher) attachIngressLocked(l linkInfo, kind string, log *zap.Logger, ad *adoptedInterface) (hook, bool) {
	if kind != config.HookXDP {
		h, err := a.attachTC(l.index, bpf.Receive, kind, ad.link(kind, bpf.Receive))
		if err != nil {
			a.skipLocked(l, kind, failureReason(err), "ingress not counted: attach "+kind, zap.Error(err))
			return hook{}, false
		}
		log.Info("attached", zap.String("hook", h.kind), zap.String("direction", "receive"))
		return h, true
	}
	if l.xdpForeign {
		a.skipLocked(l, config.HookXDP, reasonHookBusy,
			"ingress not counted: another program holds the XDP hook (ingress.hook is xdp)", zap.Uint32("xdp_prog_id", l.xdpProgID))
		return hook{}, false
	}
	h, err := a.attachXDP(l.index, ad.link(config.HookXDP, bpf.Receive))
	if err == nil {
		log.Info("attached", zap.String("hook", h.kind), zap.String("direction", "receive"), zap.String("mode", h.mode))
		return h, true
	}
	reason := failureReason(err)
	if a.cfg.XDP.Mode != config.XDPModeAuto || reason == reasonHookBusy {
		a.skipLocked(l, config.HookXDP, reason, "ingress not counted: attach xdp", zap.Error(err))
		return hook{}, false
	}
	a.failLocked(l.name, bpf.Receive, config.HookXDP, reason)
	kind = a.hookKind(config.HookAuto)
	log.Warn("native XDP unavailable on this interface; counting ingress through "+kind, zap.Error(err))
	return a.attachIngressLocked(l, kind, log, ad)
}

// hookKind resolves a hook policy (ingress.hook or egress.hook) to the hook
// it attaches: auto is tcx where the kernel has it, else tc.
func (a *attacher) hookKind(policy string) string {
	switch {
	case policy == config.HookXDP || policy == config.HookTCX || policy == config.HookTC:
		return policy
	case a.features.Has(bpf.FeatureTCX):
		return config.HookTCX
	}
	return config.HookTC
}

// skipLocked records a matching interface that is not counted, as a failure
// of its ingress hook hookKind.
func (a *attacher) skipLocked(l linkInfo, hookKind, reason, msg string, fields ...zap.Field) {
	a.log.Warn(msg, append(fields, zap.String("interface", l.name), zap.Int("ifindex", l.index))...)
	a.failLocked(l.name, bpf.Receive, hookKind, reason)
	a.skipped[l.index] = skip{name: l.name, reason: reason}
}

// attachXDP attaches the XDP program in the configured mode: native (driver)
// mode for auto and native, generic mode only for generic. An adopted link
// in that mode is given the program instead; one in the other mode is
// detached first, as the kernel holds one XDP mode at a time (the frames
// between the two go uncounted).
func (a *attacher) attachXDP(index int, adopted *pinnedLink) (hook, error) {
	prog, err := a.maps.XDP()
	if err != nil {
		return hook{}, fmt.Errorf("%w: %w", errProgramLoad, err)
	}
	mode, flags := "native", link.XDPDriverMode
	if a.cfg.XDP.Mode == config.XDPModeGeneric {
		mode, flags = "generic", link.XDPGenericMode
	}
	h := hook{direction: bpf.Receive, kind: config.HookXDP, mode: mode, programID: a.programID(prog)}
	if adopted != nil && adopted.mode == mode {
		return a.adoptLink(index, h, adopted, prog)
	}
	if adopted != nil && adopted.Link != nil {
		err := (bpfLink{adopted.Link}).Close()
		adopted.Link = nil
		if err != nil {
			return hook{}, fmt.Errorf("detach the previous run's XDP program (%s mode): %w", adopted.mode, err)
		}
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: index, Flags: flags})
	if err != nil {
		return hook{}, fmt.Errorf("%s mode: %w", mode, err)
	}
	h.link = bpfLink{l}
	return h, a.pinLink(index, h, l)
}

// adoptLink makes the adopted link of hook h run prog, atomically.
func (a *attacher) adoptLink(index int, h hook, adopted *pinnedLink, prog *ebpf.Program) (hook, error) {
	h.link = bpfLink{adopted.Link}
	if err := h.link.Update(prog, h.programID); err != nil {
		return hook{}, err
	}
	adopted.Link = nil // the hook's now
	return h, nil
}

// pinLink pins the new link l of hook h, with persistence; a link that
// cannot be pinned is detached, so that nothing is left that the next run
// would not find.
func (a *attacher) pinLink(index int, h hook, l link.Link) error {
	if a.pin == nil {
		return nil
	}
	if err := l.Pin(a.pin.linkPath(index, h)); err != nil {
		l.Close()
		return fmt.Errorf("pin link: %w", err)
	}
	return nil
}

// attachTC attaches the tc program of direction d through kind: config.HookTC,
// or config.HookTCX at the head of the chain, so that it sees every frame of
// the hook (it returns TCX_NEXT and never changes the verdict of the programs
// after it).
func (a *attacher) attachTC(index int, d bpf.Direction, kind string, adopted *pinnedLink) (hook, error) {
	prog, err := a.maps.TC(d)
	if err != nil {
		return hook{}, fmt.Errorf("%w: %w", errProgramLoad, err)
	}
	h := hook{direction: d, kind: kind, programID: a.programID(prog)}
	if kind == config.HookTCX {
		if adopted != nil {
			return a.adoptLink(index, h, adopted, prog)
		}
		attach := ebpf.AttachTCXEgress
		if d == bpf.Receive {
			attach = ebpf.AttachTCXIngress
		}
		l, err := link.AttachTCX(link.TCXOptions{Interface: index, Program: prog, Attach: attach, Anchor: link.Head()})
		if err != nil {
			return hook{}, err
		}
		h.link = bpfLink{l}
		return h, a.pinLink(index, h, l)
	}
	f, err := attachTCFilter(a.nl, index, d, prog, h.programID)
	if err != nil {
		if f != nil {
			f.Close()
		}
		return hook{}, err
	}
	h.link = f
	return h, nil
}

// programID returns the kernel's ID of prog, or 0 when it cannot be read;
// each program is asked once.
func (a *attacher) programID(prog *ebpf.Program) uint32 {
	if id, ok := a.programIDs[prog]; ok {
		return id
	}
	info, err := prog.Info()
	if err != nil {
		return 0
	}
	id, _ := info.ID()
	a.programIDs[prog] = uint32(id)
	return uint32(id)
}

// Reasons an attachment fails, the error.type of packet_exporter.attach.failures.
const (
	reasonNotFound          = "not_found"
	reasonUnsupported       = "unsupported"
	reasonPermission        = "permission"
	reasonHookBusy          = "hook_busy"
	reasonNoSlot            = "no_slot"
	reasonUnsupportedLink   = "unsupported_link_type"
	reasonProgramLoadFailed = "load_failed"
	reasonOther             = "other"
)

// errProgramLoad marks errors of loading a program, before any attach.
var errProgramLoad = errors.New("load program")

// failureReason classifies an attach error.
func failureReason(err error) string {
	switch {
	case errors.Is(err, os.ErrPermission), errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return reasonPermission
	case errors.Is(err, errProgramLoad):
		return reasonProgramLoadFailed
	case errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, unix.EOPNOTSUPP):
		return reasonUnsupported
	case errors.Is(err, unix.EBUSY), errors.Is(err, unix.EEXIST):
		return reasonHookBusy
	case errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENXIO):
		return reasonNotFound
	default:
		return reasonOther
	}
}
