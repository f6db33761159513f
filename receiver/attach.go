package receiver

import (
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"go.uber.org/zap"

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
func (r *Receiver) attachLocked(l linkInfo) {
	delete(r.skipped, l.index)
	log := r.log.With(zap.String("interface", l.name), zap.Int("ifindex", l.index))
	if l.encap != "ether" {
		r.skipLocked(l, bpf.Receive, r.ingressHookKind(), reasonUnsupportedLink, "interface skipped: not an Ethernet link",
			zap.String("link_type", l.encap))
		return
	}
	slot, ok := r.slots.take()
	if !ok {
		r.skipLocked(l, bpf.Receive, r.ingressHookKind(), reasonNoSlot,
			"interface skipped: no free counter slot; raise limits.max_interfaces", zap.Int("max_interfaces", r.maps.Slots))
		return
	}
	// Before any program is attached: the programs find the interface's
	// counters through this mapping, and the slot starts from zero.
	if err := r.maps.MapInterface(l.index, slot); err != nil {
		r.slots.release(slot)
		r.skipLocked(l, bpf.Receive, r.ingressHookKind(), reasonOther, "interface skipped: map its counters", zap.Error(err))
		return
	}
	a := &attachment{start: time.Now(), name: l.name, index: l.index, slot: slot, attrs: newInterfaceAttributes(l.name, nil),
		facts: l.facts}
	r.setInfoLocked(a)
	if h, ok := r.attachIngressLocked(l, log); ok {
		a.hooks = append(a.hooks, h)
	}
	if r.cfg.Egress.Enabled {
		kind := r.tcHookKind(r.cfg.Egress.Hook)
		if h, err := r.attachTC(l.index, bpf.Transmit, kind); err != nil {
			log.Warn("egress not counted: attach "+kind, zap.Error(err))
			r.failLocked(l.name, bpf.Transmit, kind, failureReason(err))
		} else {
			log.Info("attached", zap.String("hook", h.kind), zap.String("direction", "transmit"))
			a.hooks = append(a.hooks, h)
		}
	}
	for i := range a.hooks {
		a.hooks[i].attachedAttrs, a.hooks[i].hookAttrs = hookAttributes(l.name, a.hooks[i])
	}
	if len(a.hooks) == 0 {
		r.unmapLocked(l.index, l.name, slot)
		if _, ok := r.skipped[l.index]; !ok {
			r.skipped[l.index] = skip{name: l.name, reason: reasonOther}
		}
		return
	}
	r.attached[l.index] = a
	r.names[slot] = l.name
}

// attachIngressLocked attaches the ingress program as ingress.hook says.
func (r *Receiver) attachIngressLocked(l linkInfo, log *zap.Logger) (hook, bool) {
	if r.cfg.Ingress.Hook == config.IngressHookXDP {
		return r.attachIngressXDPLocked(l, log)
	}
	return r.attachIngressTCLocked(l, r.tcHookKind(r.cfg.Ingress.Hook), log)
}

// attachIngressTCLocked counts received frames through a tc hook: HookTCX or
// HookTC.
func (r *Receiver) attachIngressTCLocked(l linkInfo, kind string, log *zap.Logger) (hook, bool) {
	h, err := r.attachTC(l.index, bpf.Receive, kind)
	if err != nil {
		return r.ingressFailedLocked(l, kind, "ingress not counted: attach "+kind, err, log)
	}
	log.Info("attached", zap.String("hook", h.kind), zap.String("direction", "receive"))
	return h, true
}

// attachIngressXDPLocked counts received frames through XDP in the mode
// xdp.mode says. An interface whose XDP hook another program holds is
// skipped: that program is never replaced. With xdp.mode auto, an interface
// whose driver has no native XDP is counted through tc ingress instead:
// generic XDP copies frames and turns off the device's hardware offloads, so
// it is used only when configured.
func (r *Receiver) attachIngressXDPLocked(l linkInfo, log *zap.Logger) (hook, bool) {
	if l.xdpForeign {
		r.skipLocked(l, bpf.Receive, HookXDP, reasonHookBusy,
			"ingress not counted: another program holds the XDP hook (ingress.hook is xdp)", zap.Uint32("xdp_prog_id", l.xdpProgID))
		return hook{}, false
	}
	h, err := r.attachXDP(l.index)
	if err == nil {
		log.Info("attached", zap.String("hook", h.kind), zap.String("direction", "receive"), zap.String("mode", h.mode))
		return h, true
	}
	reason := failureReason(err)
	if r.cfg.XDP.Mode != config.XDPModeAuto || reason == reasonHookBusy {
		return r.ingressFailedLocked(l, HookXDP, "ingress not counted: attach xdp", err, log)
	}
	r.failLocked(l.name, bpf.Receive, HookXDP, reason)
	kind := r.tcHookKind(config.IngressHookAuto)
	log.Warn("native XDP unavailable on this interface; counting ingress through "+kind, zap.Error(err))
	return r.attachIngressTCLocked(l, kind, log)
}

// ingressFailedLocked records that ingress of l could not be attached to
// hookKind: the interface is skipped.
func (r *Receiver) ingressFailedLocked(l linkInfo, hookKind, msg string, err error, log *zap.Logger) (hook, bool) {
	reason := failureReason(err)
	log.Warn(msg, zap.Error(err))
	r.failLocked(l.name, bpf.Receive, hookKind, reason)
	r.skipped[l.index] = skip{name: l.name, reason: reason}
	return hook{}, false
}

// ingressHookKind is the hook the ingress policy attaches first, the hook
// attribute of failures that come before any attach attempt.
func (r *Receiver) ingressHookKind() string {
	if r.cfg.Ingress.Hook == config.IngressHookXDP {
		return HookXDP
	}
	return r.tcHookKind(r.cfg.Ingress.Hook)
}

// tcHookKind resolves a tc hook policy (ingress.hook or egress.hook, other
// than xdp) to HookTCX or HookTC: auto is tcx where the kernel has it.
func (r *Receiver) tcHookKind(policy string) string {
	switch policy {
	case config.IngressHookTC: // the same value as config.EgressHookTC
		return HookTC
	case config.IngressHookTCX:
		return HookTCX
	}
	if r.features.Has(bpf.FeatureTCX) {
		return HookTCX
	}
	return HookTC
}

// skipLocked records a matching interface that is not counted.
func (r *Receiver) skipLocked(l linkInfo, d bpf.Direction, hookKind, reason, msg string, fields ...zap.Field) {
	r.log.Warn(msg, append(fields, zap.String("interface", l.name), zap.Int("ifindex", l.index))...)
	r.failLocked(l.name, d, hookKind, reason)
	r.skipped[l.index] = skip{name: l.name, reason: reason}
}

// attachXDP attaches the XDP program in the configured mode: native (driver)
// mode for auto and native, generic mode only for generic.
func (r *Receiver) attachXDP(index int) (hook, error) {
	prog, err := r.maps.XDP()
	if err != nil {
		return hook{}, fmt.Errorf("%w: %w", errProgramLoad, err)
	}
	mode, flags := "native", link.XDPDriverMode
	if r.cfg.XDP.Mode == config.XDPModeGeneric {
		mode, flags = "generic", link.XDPGenericMode
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: index, Flags: flags})
	if err != nil {
		return hook{}, fmt.Errorf("%s mode: %w", mode, err)
	}
	return hook{direction: bpf.Receive, kind: HookXDP, mode: mode, programID: r.programID(prog), link: bpfLink{l}}, nil
}

// attachTC attaches the tc program of direction d through kind: HookTCX or
// HookTC.
func (r *Receiver) attachTC(index int, d bpf.Direction, kind string) (hook, error) {
	prog, err := r.maps.TC(d)
	if err != nil {
		return hook{}, fmt.Errorf("%w: %w", errProgramLoad, err)
	}
	if kind == HookTCX {
		return r.attachTCX(index, d, prog)
	}
	f, err := attachTCFilter(r.nl, index, d, prog, r.programID(prog))
	if err != nil {
		if f != nil {
			f.Close()
		}
		return hook{}, err
	}
	return hook{direction: d, kind: HookTC, programID: r.programID(prog), link: f}, nil
}

// attachTCX attaches prog, the tc program of direction d, through tcx at the
// head of the chain, so that it sees every frame of the hook; it returns
// TCX_NEXT and never changes the verdict of the programs after it.
func (r *Receiver) attachTCX(index int, d bpf.Direction, prog *ebpf.Program) (hook, error) {
	attach := ebpf.AttachTCXEgress
	if d == bpf.Receive {
		attach = ebpf.AttachTCXIngress
	}
	l, err := link.AttachTCX(link.TCXOptions{Interface: index, Program: prog, Attach: attach, Anchor: link.Head()})
	if err != nil {
		return hook{}, err
	}
	return hook{direction: d, kind: HookTCX, programID: r.programID(prog), link: bpfLink{l}}, nil
}

// retime attaches the timed variant of the programs (timed) or the untimed
// one in place of the other on every counted interface. A link update swaps
// the program atomically, and a legacy tc filter is replaced in place, so no
// frame goes uncounted. It does nothing when a later judgement of runStats
// has superseded timed.
func (r *Receiver) retime(timed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if r.runs.judged() != timed {
		return
	}
	r.maps.SetTiming(timed)
	swapped := 0
	for _, a := range r.attached {
		for i := range a.hooks {
			h := &a.hooks[i]
			prog, err := r.hookProgram(h)
			if err == nil {
				err = h.link.Update(prog, r.programID(prog))
			}
			if err != nil {
				r.log.Warn("program runs not timed on this interface", zap.String("interface", a.name), zap.Error(err))
				continue
			}
			h.programID = r.programID(prog)
			swapped++
		}
	}
	r.log.Info("program run timing", zap.Bool("timed", timed), zap.Int("programs", swapped))
}

// hookProgram returns the program, in the variant bpf.Maps.SetTiming chose,
// that hook h runs.
func (r *Receiver) hookProgram(h *hook) (*ebpf.Program, error) {
	if h.kind == HookXDP {
		return r.maps.XDP()
	}
	return r.maps.TC(h.direction)
}

// programID returns the kernel's ID of prog, or 0 when it cannot be read;
// each program is asked once.
func (r *Receiver) programID(prog *ebpf.Program) uint32 {
	if id, ok := r.programIDs[prog]; ok {
		return id
	}
	info, err := prog.Info()
	if err != nil {
		return 0
	}
	id, _ := info.ID()
	r.programIDs[prog] = uint32(id)
	return uint32(id)
}
