package receiver

import (
	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/internal/attribution"
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
func (r *Receiver) Totals(fn func(InterfaceTotals)) error {
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
				for _, v := range block.Classes {
					c.Packets += v.Packets
					c.Bytes += v.Bytes
				}
			}
			fn(t)
		}
		return nil
	})
}
