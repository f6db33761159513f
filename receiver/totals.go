package receiver

import (
	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/internal/attribution"
	"github.com/packet-exporter/packet-exporter/internal/dropcategory"
)

// InterfaceTotals is what one counted interface has counted since it was
// attached, and what it is.
type InterfaceTotals struct {
	Name string
	// Kind is the interface's kind (attribution.KindDevice, KindVeth...).
	Kind string
	// Master is the name of the bridge or bond it is enslaved to, "" for
	// none.
	Master string
	// Workload is what is behind a veth, as far as attribution knows it.
	Workload attribution.Workload
	// Receive and Transmit are each direction's frames and bytes.
	Receive, Transmit Counted
	// ParseErrors are the frames of both directions counted with a parse
	// anomaly (packet_exporter.network.parse_errors).
	ParseErrors uint64

	// blocks are the counters read, each direction's (for Protocols).
	blocks [2]*bpf.Block
}

// Protocols calls fn with the frames and bytes of every network type and
// transport the interface counted a frame of, each way. It reads the
// counters Totals read: call it only from the function Totals calls with t.
func (t *InterfaceTotals) Protocols(fn func(networkType, transport string, receive, transmit Counted)) {
	for c := range bpf.ClassCount {
		rx, tx := t.blocks[bpf.Receive].Classes[c], t.blocks[bpf.Transmit].Classes[c]
		if rx.Packets == 0 && tx.Packets == 0 {
			continue
		}
		class := bpf.ClassOf(c)
		fn(class.NetworkType, class.Transport, Counted(rx), Counted(tx))
	}
}

// Counted is the frames and bytes counted in one direction.
type Counted struct {
	Packets, Bytes uint64
}

// Totals reads the counters once and calls fn with every counted
// interface's totals: the per-interface sums of what a collection exports
// as packet_exporter.network.packets and .io, without a collection (the live
// view samples them every second). fn runs under the attacher's read lock:
// it must not call the receiver.
func (r *Receiver) Totals(fn func(*InterfaceTotals)) error {
	a := r.att
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.reader.Counters(a.slots.end(), func(blocks []bpf.Block) error {
		for _, at := range a.attached {
			t := InterfaceTotals{Name: at.name, Kind: at.facts.kind, Workload: at.workload}
			if at.facts.masterIndex != 0 {
				t.Master = a.linkNames[at.facts.masterIndex]
			}
			for d, c := range [...]*Counted{bpf.Receive: &t.Receive, bpf.Transmit: &t.Transmit} {
				block := &blocks[bpf.BlockIndex(at.slot, bpf.Direction(d))]
				t.blocks[d] = block
				for _, v := range block.Classes {
					c.Packets += v.Packets
					c.Bytes += v.Bytes
				}
				for _, n := range block.Anomalies {
					t.ParseErrors += n
				}
			}
			fn(&t)
		}
		return nil
	})
}

// InterfaceDrops are the kernel's drops of one interface, reason and
// category (packet_exporter.network.drops summed over traffic classes).
type InterfaceDrops struct {
	// Interface is "" for drops the kernel did not tie to an interface.
	Interface, Reason, Category string
	Packets                     uint64
}

// Drops reads the kernel's drop counts once, without a collection, and
// calls fn with each; without a drop counter (drops.enabled false, or where
// it cannot run) it calls fn with none. Drops on interfaces not yet known
// by name are left out, as a collection leaves them. fn runs under the
// attacher's read lock: it must not call the receiver.
func (r *Receiver) Drops(fn func(InterfaceDrops)) error {
	if r.drops == nil {
		return nil
	}
	a := r.att
	a.mu.RLock()
	defer a.mu.RUnlock()
	d := r.drops.counter.Load()
	if d == nil {
		return nil
	}
	return r.drops.readLocked(d, func(drop bpf.Drop, iface, reason string, packets uint64) {
		fn(InterfaceDrops{Interface: iface, Reason: reason, Category: dropcategory.Of(reason, drop.Note), Packets: packets})
	})
}

// Health is the agent's state, as its own metrics say it.
type Health struct {
	// Programs are the programs attached, Interfaces the interfaces
	// counted.
	Programs, Interfaces int
	// AttachFailures are the failed attachments since the start, Skipped
	// the matching interfaces not counted.
	AttachFailures int64
	Skipped        int
	// EventsLost are the event records the ring buffer had no room for (0
	// with the event stream off).
	EventsLost uint64
}

// Health reads the agent's state without a collection.
func (r *Receiver) Health() (Health, error) {
	a := r.att
	a.mu.RLock()
	h := Health{Interfaces: len(a.attached), Skipped: len(a.skipped)}
	for _, at := range a.attached {
		h.Programs += len(at.hooks)
	}
	for _, n := range a.failures {
		h.AttachFailures += n
	}
	a.mu.RUnlock()
	if a.cfg.Events.Enabled {
		stats, err := a.reader.Stats()
		if err != nil {
			return h, err
		}
		h.EventsLost = stats[bpf.StatEventsLost]
	}
	return h, nil
}
