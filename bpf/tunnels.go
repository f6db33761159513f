package bpf

import (
	"cmp"
	"fmt"
	"math/bits"

	"github.com/cilium/ebpf"
)

// Tunnel is a tunnel type the programs recognise (enum pe_tunnel in
// include/tunnel.h): frames that carry one are counted in the tunnel
// counters too, by the class of the packet inside.
type Tunnel int

// The tunnel types.
const (
	TunnelVXLAN  = Tunnel(CounterPeTunnelPE_TUNNEL_VXLAN)
	TunnelGeneve = Tunnel(CounterPeTunnelPE_TUNNEL_GENEVE)
	TunnelGRE    = Tunnel(CounterPeTunnelPE_TUNNEL_GRE)
	TunnelIPIP   = Tunnel(CounterPeTunnelPE_TUNNEL_IPIP)
	// TunnelCount is the number of tunnel types.
	TunnelCount = int(CounterPeTunnelPE_TUNNEL_COUNT)
)

// String returns the packet_exporter.tunnel.type attribute value of t, its
// enumerator's name in lower case (PE_TUNNEL_VXLAN: vxlan).
func (t Tunnel) String() string {
	if t >= 0 && int(t) < TunnelCount {
		return layout().tunnels[t]
	}
	return fmt.Sprintf("tunnel(%d)", int(t))
}

// StatNoTunnelCounter is the entry of the stats map counting frames that
// carry a tunnel and were counted in their traffic class only: no tunnel
// counters were free for their interface and direction.
const StatNoTunnelCounter = int(CounterPeStatPE_STAT_NO_TUNNEL_COUNTER)

// DefaultTunnelInterfaces is the default of TunnelOptions.MaxInterfaces.
const DefaultTunnelInterfaces = 64

// TunnelOptions configure the programs' tunnel parse (WithTunnels).
type TunnelOptions struct {
	// Enabled makes the programs find tunnels and count the packets inside.
	Enabled bool
	// VXLANPorts and GenevePorts are the UDP destination ports VXLAN and
	// Geneve are recognised on; a port may not be in both.
	VXLANPorts, GenevePorts []uint16
	// MaxInterfaces is how many interfaces can have tunnel counters, both
	// directions (DefaultTunnelInterfaces when 0): an interface and
	// direction takes counters on its first tunnel frame, and gives them
	// back when its slot is zeroed (MapInterface).
	MaxInterfaces int
}

// WithTunnels sets the programs' tunnel parse (off by default).
func WithTunnels(t TunnelOptions) MapsOption {
	return func(o *mapsOptions) { o.tunnels = t }
}

// tunnelPorts returns the value of the programs' pe_tunnel_ports: a tunnel
// type + 1 by UDP destination port, 0 for none, indexed by the port as the
// programs (little-endian) load it from the frame: byte-swapped.
func (t TunnelOptions) tunnelPorts() ([65536]uint8, error) {
	var ports [65536]uint8
	for _, p := range []struct {
		tunnel Tunnel
		ports  []uint16
	}{{TunnelVXLAN, t.VXLANPorts}, {TunnelGeneve, t.GenevePorts}} {
		for _, port := range p.ports {
			i := bits.ReverseBytes16(port)
			if ports[i] != 0 && ports[i] != uint8(p.tunnel)+1 {
				return ports, fmt.Errorf("udp port %d: both %v and %v", port, Tunnel(ports[i]-1), p.tunnel)
			}
			ports[i] = uint8(p.tunnel) + 1
		}
	}
	return ports, nil
}

// counters returns the number of tunnel counters (pe_tunnels' entries): one
// per interface and direction.
func (t TunnelOptions) counters() uint32 {
	return uint32(2 * cmp.Or(t.MaxInterfaces, DefaultTunnelInterfaces))
}

// freeAllTunnels puts every tunnel counter in the free queue, for maps just
// made.
func (m *Maps) freeAllTunnels() error {
	for i := range m.Tunnels.MaxEntries() {
		if err := m.TunnelFree.Update(nil, i, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("free tunnel counters %d: %w", i, err)
		}
	}
	return nil
}

// freeTunnels gives the tunnel counters of block index back, zeroed: the
// slot is being given to another interface, whose frames the programs do not
// count yet.
func (m *Maps) freeTunnels(index uint32, cpus int) error {
	var ts CounterPeTunnelSlot
	if err := m.TunnelSlots.Lookup(index, &ts); err != nil {
		return fmt.Errorf("tunnel slot of block %d: %w", index, err)
	}
	if ts.Index == 0 {
		return nil
	}
	counters := ts.Index - 1
	if err := m.Tunnels.Put(counters, make([]CounterPeTunnelCounts, cpus)); err != nil {
		return fmt.Errorf("zero tunnel counters %d: %w", counters, err)
	}
	if err := m.TunnelSlots.Put(index, CounterPeTunnelSlot{}); err != nil {
		return fmt.Errorf("tunnel slot of block %d: %w", index, err)
	}
	if err := m.TunnelFree.Update(nil, counters, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("free tunnel counters %d: %w", counters, err)
	}
	return nil
}

// TunnelCounts are the tunnel counters of one (interface slot, direction,
// tunnel type), summed over CPUs.
type TunnelCounts struct {
	// Block is the block of the (slot, direction), BlockIndex.
	Block uint32
	// Tunnel is the tunnel type.
	Tunnel Tunnel
	// Classes holds the frames of each class of the packet inside (ClassOf).
	Classes [ClassCount]Value
}

// Tunnels reads the tunnel counters of every (slot, direction, tunnel type)
// with frames whose slot is below slots and passes each to fn, by block then
// tunnel type. The value is valid only during fn.
func (r *Reader) Tunnels(slots int, fn func(*TunnelCounts)) error {
	slots = min(slots, r.maps.Slots)
	blocks := 2 * slots
	r.mu.Lock()
	defer r.mu.Unlock()
	if blocks == 0 {
		return nil
	}
	if cap(r.tunnelSlots) < blocks {
		r.tunnelSlots = make([]CounterPeTunnelSlot, blocks)
		r.tunnelKeys = make([]uint32, blocks)
	}
	if len(r.tunnelCPU) != r.cpus {
		r.tunnelCPU = make([]CounterPeTunnelCounts, r.cpus)
	}
	tunnelSlots := r.tunnelSlots[:blocks]
	if err := lookup(r.maps.TunnelSlots, &r.useBatch, r.tunnelKeys[:blocks], tunnelSlots); err != nil {
		return fmt.Errorf("read tunnel slots: %w", err)
	}
	var t TunnelCounts
	for block, ts := range tunnelSlots {
		if ts.Index == 0 {
			continue
		}
		if err := r.maps.Tunnels.Lookup(ts.Index-1, r.tunnelCPU); err != nil {
			return fmt.Errorf("read tunnel counters %d: %w", ts.Index-1, err)
		}
		for tunnel := range Tunnel(TunnelCount) {
			t = TunnelCounts{Block: uint32(block), Tunnel: tunnel}
			var counted bool
			for c := range t.Classes {
				for cpu := range r.tunnelCPU {
					v := &r.tunnelCPU[cpu].Classes[tunnel][c]
					t.Classes[c].Packets += v.Packets
					t.Classes[c].Bytes += v.Bytes
				}
				counted = counted || t.Classes[c].Packets != 0
			}
			if counted {
				fn(&t)
			}
		}
	}
	return nil
}
