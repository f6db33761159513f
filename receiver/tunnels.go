package receiver

import (
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// TunnelOptions are the kernel programs' tunnel settings of configuration c.
func TunnelOptions(c config.Tunnels) bpf.TunnelOptions {
	ports := func(list []int) []uint16 {
		out := make([]uint16, len(list))
		for i, p := range list {
			out[i] = uint16(p) // 1..65535: config checks them
		}
		return out
	}
	return bpf.TunnelOptions{Enabled: c.Enabled, VXLANPorts: ports(c.VXLANPorts), GenevePorts: ports(c.GenevePorts), MaxInterfaces: c.MaxInterfaces}
}

// tunnelSeries identifies one tunnel series of an interface.
type tunnelSeries struct {
	direction bpf.Direction
	tunnel    bpf.Tunnel
	class     int // of the packet inside
}

// tunnelAttributes are the attribute sets of an interface's tunnel series,
// made on first use: few interfaces carry tunnels, and every set of every
// interface (2 x 4 x 14) would cost more than all its other series.
type tunnelAttributes struct {
	mu   sync.Mutex
	sets map[tunnelSeries]metric.MeasurementOption
}

// tunnel returns the attribute set of the tunnel series s of the interface.
func (a *interfaceAttributes) tunnel(s tunnelSeries) metric.MeasurementOption {
	a.tunnels.mu.Lock()
	defer a.tunnels.mu.Unlock()
	if set, ok := a.tunnels.sets[s]; ok {
		return set
	}
	if a.tunnels.sets == nil {
		a.tunnels.sets = map[tunnelSeries]metric.MeasurementOption{}
	}
	c := bpf.ClassOf(s.class)
	attrs := append(append([]attribute.KeyValue{metricdef.NetworkInterfaceName.String(a.name)}, a.extra...),
		metricdef.NetworkIODirection.String(s.direction.String()), metricdef.TunnelType.String(s.tunnel.String()),
		metricdef.NetworkType.String(c.NetworkType), metricdef.NetworkTransport.String(c.Transport))
	set := metric.WithAttributeSet(attribute.NewSet(attrs...))
	a.tunnels.sets[s] = set
	return set
}

// observeTunnels reads the tunnel counters once and observes every non-zero
// series of the attached interfaces.
func (c *trafficCollector) observeTunnels(o metric.Observer, packets, bytes metric.Int64ObservableCounter) error {
	a := c.att
	a.mu.RLock()
	defer a.mu.RUnlock()
	var bySlot []*attachment // made on the first tunnel counters read
	return a.reader.Tunnels(a.slots.end(), func(t *bpf.TunnelCounts) {
		if bySlot == nil {
			bySlot = make([]*attachment, a.slots.end())
			for _, at := range a.attached {
				bySlot[at.slot] = at
			}
		}
		slot, d := int(t.Block/2), bpf.Direction(t.Block%2)
		at := bySlot[slot]
		if at == nil {
			return // a slot being attached or detached: its counters are zero
		}
		for class, v := range t.Classes {
			if v.Packets == 0 {
				continue
			}
			set := at.attrs.tunnel(tunnelSeries{direction: d, tunnel: t.Tunnel, class: class})
			o.ObserveInt64(packets, int64(v.Packets), set)
			o.ObserveInt64(bytes, int64(v.Bytes), set)
		}
	})
}
