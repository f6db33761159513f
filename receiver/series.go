package receiver

import (
	"slices"

	"github.com/vishvananda/netlink"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/internal/attribution"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// interfaceAttributes are the attribute sets of one interface's series,
// computed once when it is attached so that collection allocates none.
type interfaceAttributes struct {
	histogram [2]attribute.Set
	classes   [2][bpf.ClassCount]metric.MeasurementOption
	device    [2]metric.MeasurementOption // interface and direction
	// systemDevice: system.device (the interface's name) and direction, as
	// the conventions name system.network.packet.count's attributes.
	systemDevice [2]metric.MeasurementOption
	anomalies    [2][bpf.AnomalyCount]metric.MeasurementOption
	// name and extra are the interface's name and the attributes on every
	// series, for the tunnel series' sets, made on first use.
	name    string
	extra   []attribute.KeyValue
	tunnels tunnelAttributes
}

// newInterfaceAttributes computes the attribute sets of interface name's
// series, with extra on every one (the workload, attribution.on_series).
func newInterfaceAttributes(name string, extra []attribute.KeyValue) *interfaceAttributes {
	a := &interfaceAttributes{name: name, extra: extra}
	set := func(attrs ...attribute.KeyValue) attribute.Set {
		return attribute.NewSet(append(append([]attribute.KeyValue{metricdef.NetworkInterfaceName.String(name)}, extra...), attrs...)...)
	}
	for _, d := range []bpf.Direction{bpf.Receive, bpf.Transmit} {
		direction := metricdef.NetworkIODirection.String(d.String())
		a.histogram[d] = set(direction)
		a.device[d] = metric.WithAttributeSet(a.histogram[d])
		a.systemDevice[d] = metric.WithAttributeSet(attribute.NewSet(append([]attribute.KeyValue{metricdef.SystemDevice.String(name), direction}, extra...)...))
		for entry := range bpf.ClassCount {
			c := bpf.ClassOf(entry)
			a.classes[d][entry] = metric.WithAttributeSet(set(direction,
				metricdef.NetworkType.String(c.NetworkType), metricdef.NetworkTransport.String(c.Transport)))
		}
		for i := range bpf.AnomalyCount {
			a.anomalies[d][i] = metric.WithAttributeSet(set(direction,
				metricdef.ErrorType.String(bpf.AnomalyName(bpf.AnomalyFirst+i))))
		}
	}
	return a
}

// hookAttributes returns the attribute sets of a hook's series: of
// packet_exporter.interface.attached (with the XDP mode) and of the program
// statistics.
func hookAttributes(iface string, h hook) (attached, stats metric.MeasurementOption) {
	attrs := []attribute.KeyValue{metricdef.NetworkInterfaceName.String(iface), metricdef.NetworkIODirection.String(h.direction.String()), metricdef.Hook.String(h.kind)}
	stats = metric.WithAttributeSet(attribute.NewSet(attrs...))
	if h.mode != "" {
		attrs = append(attrs, metricdef.Mode.String(h.mode))
	}
	return metric.WithAttributeSet(attribute.NewSet(attrs...)), stats
}

// linkFacts are what netlink tells of an interface for its info series.
type linkFacts struct {
	kind        string
	masterIndex int // the bridge or bond it is enslaved to, 0 for none
	// peerNetnsID is the ID the receiver's namespace knows the namespace of
	// a veth's peer by, when the peer lives in another one; -1 otherwise.
	// peerIndex is then the peer's index there.
	peerNetnsID, peerIndex int
}

func linkFactsOf(nl netlink.Link) linkFacts {
	attrs := nl.Attrs()
	f := linkFacts{kind: attribution.Kind(nl), masterIndex: attrs.MasterIndex, peerNetnsID: -1}
	if f.kind == attribution.KindVeth && attrs.NetNsID >= 0 {
		f.peerNetnsID, f.peerIndex = attrs.NetNsID, attrs.ParentIndex
	}
	return f
}

// seriesAttributes are the workload attributes attribution.on_series puts
// on an interface's traffic series.
func seriesAttributes(w attribution.Workload) []attribute.KeyValue {
	return slices.DeleteFunc([]attribute.KeyValue{
		semconv.K8SNamespaceName(w.PodNamespace), semconv.K8SPodName(w.PodName), semconv.ContainerName(w.ContainerName),
	}, func(a attribute.KeyValue) bool { return a.Value.AsString() == "" })
}

// setInfoLocked computes the attribute set of at's info series from its
// facts, its master's current name and its workload and, with
// attribution.on_series, the attributes of its traffic series when its
// workload's changed.
func (a *attacher) setInfoLocked(at *attachment) {
	attrs := []attribute.KeyValue{metricdef.NetworkInterfaceName.String(at.name), metricdef.InterfaceKind.String(at.facts.kind)}
	if master, ok := a.linkNames[at.facts.masterIndex]; ok && at.facts.masterIndex != 0 {
		attrs = append(attrs, metricdef.InterfaceMaster.String(master))
	}
	attrs = append(attrs, at.workload.Attributes()...)
	at.info = metric.WithAttributeSet(attribute.NewSet(attrs...))
	at.pod = a.newPodAttributes(at)
	if !a.cfg.Attribution.OnSeries {
		return
	}
	if series := seriesAttributes(at.workload); !slices.Equal(series, at.seriesAttrs) {
		at.seriesAttrs = series
		at.attrs = newInterfaceAttributes(at.name, series)
	}
}
