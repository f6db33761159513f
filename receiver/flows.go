package receiver

import (
	"maps"
	"net/netip"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// AttrOverflow marks the one series that takes the traffic of flows beyond
// flows.max_series, as the OpenTelemetry SDK marks its own.
const AttrOverflow = attribute.Key("otel.metric.overflow")

// flowKey identifies a flow: interface block, traffic class, addresses and
// ports (zero when ports are off).
type flowKey struct {
	src, dst         [16]byte
	srcPort, dstPort uint16
	block            uint32
	class            uint8
}

// flow is the running total of one flow.
type flow struct {
	packets, bytes uint64
	lastSeen       int64 // unix nanoseconds
	attrs          metric.MeasurementOption
}

// flowTable is one worker's share of the flows. Only its worker writes it;
// collections read it under mu.
type flowTable struct {
	mu       sync.Mutex
	flows    map[flowKey]*flow
	overflow flow
}

// flowLimit bounds the number of flows across all tables.
type flowLimit struct {
	max  int64
	used atomic.Int64
}

// add accounts packets and bytes (already scaled by the sample rate) of event
// e at time now to its flow, creating the flow within the limit, or to the
// overflow series beyond it; name returns the interface name of a slot.
func (t *flowTable) add(e *bpf.Event, ports bool, packets, bytes uint64, now int64, limit *flowLimit,
	name func(slot int) string) {
	key := flowKey{src: e.Src.As16(), dst: e.Dst.As16(), block: bpf.BlockIndex(e.Slot, e.Direction), class: uint8(e.Class)}
	if ports {
		key.srcPort, key.dstPort = e.SrcPort, e.DstPort
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.flows[key]
	if !ok {
		if limit.used.Add(1) <= limit.max {
			f = &flow{attrs: flowAttributes(e, ports, name(e.Slot))}
			t.flows[key] = f
		} else {
			limit.used.Add(-1) // no room: the reservation is undone
			f = &t.overflow
		}
	}
	f.packets += packets
	f.bytes += bytes
	f.lastSeen = now
}

// expire forgets the flows idle since before deadline.
func (t *flowTable) expire(deadline int64, limit *flowLimit) {
	t.mu.Lock()
	defer t.mu.Unlock()
	before := len(t.flows)
	maps.DeleteFunc(t.flows, func(_ flowKey, f *flow) bool { return f.lastSeen < deadline })
	limit.used.Add(int64(len(t.flows) - before))
}

func flowAttributes(e *bpf.Event, ports bool, iface string) metric.MeasurementOption {
	attrs := []attribute.KeyValue{
		metricdef.NetworkInterfaceName.String(iface),
		metricdef.NetworkIODirection.String(e.Direction.String()),
		metricdef.NetworkTransport.String(bpf.ClassOf(e.Class).Transport),
		metricdef.SourceAddress.String(addrString(e.Src)),
		metricdef.DestinationAddress.String(addrString(e.Dst)),
	}
	if ports && e.HasPorts {
		attrs = append(attrs, metricdef.SourcePort.Int(int(e.SrcPort)), metricdef.DestinationPort.Int(int(e.DstPort)))
	}
	return metric.WithAttributeSet(attribute.NewSet(attrs...))
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// overflowAttrs is the attribute set of the overflow series.
var overflowAttrs = metric.WithAttributeSet(attribute.NewSet(AttrOverflow.Bool(true)))

// observe reports every flow of the table, and adds its overflow to sum.
func (t *flowTable) observe(o metric.Observer, packets, bytes metric.Int64Observable, overflow *flow) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range t.flows {
		o.ObserveInt64(packets, int64(f.packets), f.attrs)
		o.ObserveInt64(bytes, int64(f.bytes), f.attrs)
	}
	overflow.packets += t.overflow.packets
	overflow.bytes += t.overflow.bytes
}
