package receiver

import (
	"errors"
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
}

// attachLocked counts the interface l. It runs on the watch thread, which is
// in the receiver's network namespace.
func (r *Receiver) attachLocked(l linkInfo) {
	delete(r.skipped, l.index)
	log := r.log.With(zap.String("interface", l.name), zap.Int("ifindex", l.index))
	if l.encap != "ether" {
		r.skipLocked(l, bpf.Receive, HookXDP, reasonUnsupportedLink, "interface skipped: not an Ethernet link",
			zap.String("link_type", l.encap))
		return
	}
	slot, ok := r.slots.take()
	if !ok {
		r.skipLocked(l, bpf.Receive, HookXDP, reasonNoSlot,
			"interface skipped: no free counter slot; raise limits.max_interfaces", zap.Int("max_interfaces", r.maps.Slots))
		return
	}
	// A slot freed by an earlier interface must not carry its counts over.
	if err := r.maps.ResetSlot(slot); err != nil {
		r.slots.release(slot)
		r.skipLocked(l, bpf.Receive, HookXDP, reasonOther, "interface skipped: reset counters", zap.Error(err))
		return
	}
	a := &attachment{start: time.Now(), name: l.name, index: l.index, slot: slot, attrs: newInterfaceAttributes(l.name)}
	if h, ok := r.attachIngressLocked(l, slot, log); ok {
		a.hooks = append(a.hooks, h)
	}
	if r.cfg.Egress.Enabled {
		if h, err := r.attachTCX(l.index, slot, bpf.Transmit); err != nil {
			msg := "egress not counted: attach tcx"
			if errors.Is(err, ebpf.ErrNotSupported) {
				msg = "egress not counted: tcx is unavailable (needs Linux 6.6 or later)"
			}
			log.Warn(msg, zap.Error(err))
			r.failLocked(l.name, bpf.Transmit, HookTCX, failureReason(err))
		} else {
			log.Info("attached", zap.String("hook", h.kind), zap.String("direction", "transmit"))
			a.hooks = append(a.hooks, h)
		}
	}
	for i := range a.hooks {
		a.hooks[i].attachedAttrs, a.hooks[i].hookAttrs = hookAttributes(l.name, a.hooks[i])
	}
	if len(a.hooks) == 0 {
		r.slots.release(slot)
		if _, ok := r.skipped[l.index]; !ok {
			r.skipped[l.index] = skip{name: l.name, reason: reasonOther}
		}
		return
	}
	r.attached[l.index] = a
	r.names[slot] = l.name
}

// attachIngressLocked attaches the ingress program as the ingress hook policy
// says: XDP, or tcx where XDP is taken by someone else (auto) or chosen.
func (r *Receiver) attachIngressLocked(l linkInfo, slot int, log *zap.Logger) (hook, bool) {
	policy := r.cfg.Ingress.Hook
	useTCX := policy == config.IngressHookTCX
	if l.xdpForeign && policy != config.IngressHookTCX {
		if policy == config.IngressHookXDP {
			r.skipLocked(l, bpf.Receive, HookXDP, reasonHookBusy,
				"ingress not counted: another program holds the XDP hook (ingress.hook is xdp)", zap.Uint32("xdp_prog_id", l.xdpProgID))
			return hook{}, false
		}
		log.Info("XDP hook held by another program; counting ingress through tcx", zap.Uint32("xdp_prog_id", l.xdpProgID))
		useTCX = true
	}
	if !useTCX {
		h, err := r.attachXDP(l.index, slot)
		if err == nil {
			log.Info("attached", zap.String("hook", h.kind), zap.String("direction", "receive"), zap.String("mode", h.mode))
			return h, true
		}
		reason := failureReason(err)
		r.failLocked(l.name, bpf.Receive, HookXDP, reason)
		if policy == config.IngressHookXDP || reason != reasonHookBusy {
			log.Warn("ingress not counted: attach xdp", zap.Error(err))
			r.skipped[l.index] = skip{name: l.name, reason: reason}
			return hook{}, false
		}
		log.Info("XDP hook taken meanwhile; counting ingress through tcx", zap.Error(err))
	}
	h, err := r.attachTCX(l.index, slot, bpf.Receive)
	if err != nil {
		log.Warn("ingress not counted: attach tcx", zap.Error(err))
		r.failLocked(l.name, bpf.Receive, HookTCX, failureReason(err))
		r.skipped[l.index] = skip{name: l.name, reason: failureReason(err)}
		return hook{}, false
	}
	log.Info("attached", zap.String("hook", h.kind), zap.String("direction", "receive"))
	return h, true
}

// skipLocked records a matching interface that is not counted.
func (r *Receiver) skipLocked(l linkInfo, d bpf.Direction, hookKind, reason, msg string, fields ...zap.Field) {
	r.log.Warn(msg, append(fields, zap.String("interface", l.name), zap.Int("ifindex", l.index))...)
	r.failLocked(l.name, d, hookKind, reason)
	r.skipped[l.index] = skip{name: l.name, reason: reason}
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
			return hook{direction: bpf.Receive, kind: HookXDP, mode: m.name, program: prog, programID: programID(prog), link: l}, nil
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
	return hook{direction: d, kind: HookTCX, program: prog, programID: programID(prog), link: l}, nil
}

// programID returns the kernel's ID of prog, or 0 when it cannot be read.
func programID(prog *ebpf.Program) uint32 {
	info, err := prog.Info()
	if err != nil {
		return 0
	}
	id, _ := info.ID()
	return uint32(id)
}
