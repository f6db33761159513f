// Package metricdef defines every metric packet-exporter exports, once: name,
// instrument kind, unit, description and the attributes every series of it
// carries. The instruments are created from these definitions, and a test
// checks that the README's metric tables say the same. They are the product's
// public contract: extend them, never rename or reshape them.
package metricdef

import (
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ScopeName is the instrumentation scope of every metric.
const ScopeName = "github.com/packet-exporter/packet-exporter"

// Kind is the kind of instrument a metric is.
type Kind int

// The instrument kinds.
const (
	// Counter is a monotonic sum (Prometheus: a counter, suffixed _total).
	Counter Kind = iota
	// Gauge is a value observed at each collection.
	Gauge
	// Histogram is a distribution over explicit bucket boundaries.
	Histogram
)

// String names the kind as the README's tables do.
func (k Kind) String() string {
	switch k {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	case Histogram:
		return "histogram"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Definition describes one metric.
type Definition struct {
	// Name is the OpenTelemetry name.
	Name string
	// Kind is the instrument kind.
	Kind Kind
	// Float is set for float64 values; otherwise they are int64.
	Float bool
	// Unit is the UCUM unit, empty for none.
	Unit string
	// Description is the instrument's description.
	Description string
	// Attributes are the attribute keys every series carries (some metrics
	// add others under conditions the README gives).
	Attributes []attribute.Key
	// Buckets are a histogram's explicit bucket boundaries, when an
	// instrument records it.
	Buckets []float64
}

// Attribute keys.
const (
	Interface          = attribute.Key("network.interface.name")
	Direction          = attribute.Key("network.io.direction")
	NetworkType        = attribute.Key("network.type")
	Transport          = attribute.Key("network.transport")
	ErrorType          = attribute.Key("error.type")
	Hook               = attribute.Key("hook")
	Mode               = attribute.Key("mode")
	Feature            = attribute.Key("feature")
	Version            = attribute.Key("version")
	Revision           = attribute.Key("revision")
	GoVersion          = attribute.Key("go.version")
	Outcome            = attribute.Key("outcome")
	SourceAddress      = attribute.Key("source.address")
	DestinationAddress = attribute.Key("destination.address")
	SourcePort         = attribute.Key("source.port")
	DestinationPort    = attribute.Key("destination.port")
	InterfaceKind      = attribute.Key("packet_exporter.interface.kind")
	InterfaceMaster    = attribute.Key("packet_exporter.interface.master")
)

// The traffic series' attributes.
var traffic = []attribute.Key{Interface, Direction, NetworkType, Transport}

// The metrics.
var (
	Packets = Definition{Name: "packet_exporter.network.packets", Unit: "{packet}", Attributes: traffic,
		Description: "Frames seen by packet-exporter's kernel programs, by interface, direction, network type and transport."}
	Bytes = Definition{Name: "packet_exporter.network.io", Unit: "By", Attributes: traffic,
		Description: "Bytes of the frames seen, Ethernet header included, as counted by ip -s link."}
	PacketSize = Definition{Name: "packet_exporter.network.packet.size", Kind: Histogram, Unit: "By",
		Attributes:  []attribute.Key{Interface, Direction},
		Description: "Sizes of the frames counted (bytes, Ethernet header included), aggregated in the kernel: its count equals packet_exporter.network.packets of the interface and direction."}
	Drops = Definition{Name: "packet_exporter.network.drops", Unit: "{packet}",
		Attributes:  []attribute.Key{ErrorType, NetworkType, Transport},
		Description: "Packets the kernel dropped, by interface (when the packet had a device), reason (error.type), network type and transport."}
	DeviceDropped = Definition{Name: "system.network.packet.dropped", Unit: "{packet}",
		Attributes:  []attribute.Key{Interface, Direction},
		Description: "Packets the network device dropped, as the kernel counts them for it (ip -s link), by counted interface and direction."}
	DeviceErrors = Definition{Name: "system.network.errors", Unit: "{error}",
		Attributes:  []attribute.Key{Interface, Direction},
		Description: "Errors of the network device, as the kernel counts them for it (ip -s link), by counted interface and direction."}
	InterfaceInfo = Definition{Name: "packet_exporter.interface.info", Kind: Gauge,
		Attributes:  []attribute.Key{Interface, InterfaceKind},
		Description: "Always 1 for each counted interface; the attributes tell its kind, master and the workload behind it."}
	Unresolved = Definition{Name: "packet_exporter.attribution.unresolved", Kind: Gauge, Unit: "{interface}",
		Attributes:  []attribute.Key{ErrorType},
		Description: "Counted veths whose peer's network namespace is not fully attributed, by reason (error.type)."}
	FlowPackets = Definition{Name: "packet_exporter.flow.packets", Unit: "{packet}",
		Attributes:  []attribute.Key{Interface, Direction, Transport, SourceAddress, DestinationAddress},
		Description: "Packets per flow, from the event stream; scaled by events.sample_rate, so estimates when it is above 1."}
	FlowBytes = Definition{Name: "packet_exporter.flow.io", Unit: "By",
		Attributes:  []attribute.Key{Interface, Direction, Transport, SourceAddress, DestinationAddress},
		Description: "Bytes per flow, from the event stream; scaled by events.sample_rate, so estimates when it is above 1."}
	EventsEmitted = Definition{Name: "packet_exporter.events.emitted", Unit: "{event}",
		Description: "Event records the kernel programs tried to write, after sampling: delivered + lost = emitted."}
	EventsLost = Definition{Name: "packet_exporter.events.lost", Unit: "{event}",
		Description: "Event records the ring buffer had no room for."}
	EventsDelivered = Definition{Name: "packet_exporter.events.delivered", Unit: "{event}",
		Description: "Event records read from the ring buffer."}
	EventsInvalid = Definition{Name: "packet_exporter.events.invalid", Unit: "{event}",
		Description: "Event records read that did not decode (should stay 0)."}
	FlowsActive = Definition{Name: "packet_exporter.flows.active", Kind: Gauge, Unit: "{flow}",
		Description: "Flows reported, at most flows.max_series."}
	Attached = Definition{Name: "packet_exporter.interface.attached", Kind: Gauge, Unit: "{program}",
		Attributes:  []attribute.Key{Interface, Direction, Hook},
		Description: "Programs attached, by interface, direction, hook (xdp, tcx or tc) and XDP mode."}
	AttachFailures = Definition{Name: "packet_exporter.attach.failures", Unit: "{failure}",
		Attributes:  []attribute.Key{Interface, Direction, Hook, ErrorType},
		Description: "Failed attachments, by interface, direction, hook and reason."}
	ParseErrors = Definition{Name: "packet_exporter.network.parse_errors", Unit: "{packet}",
		Attributes:  []attribute.Key{Interface, Direction, ErrorType},
		Description: "Frames counted whose headers could not be fully parsed (truncated, malformed, or nested deeper than parsed)."}
	Skipped = Definition{Name: "packet_exporter.interface.skipped", Kind: Gauge, Unit: "{interface}",
		Attributes:  []attribute.Key{Interface, ErrorType},
		Description: "Interfaces the configuration selects that are not counted, by reason."}
	Resyncs = Definition{Name: "packet_exporter.netlink.resyncs", Unit: "{resync}",
		Description: "Times netlink link updates were lost and the interfaces were listed again."}
	ReadDuration = Definition{Name: "packet_exporter.kernel.read.duration", Kind: Histogram, Float: true, Unit: "s",
		Description: "Duration of one read of the kernel counters, per collection.",
		Buckets:     []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25}}
	ProgramRuns = Definition{Name: "packet_exporter.program.runs", Unit: "{run}",
		Attributes:  []attribute.Key{Interface, Direction, Hook},
		Description: "Runs of the program on each interface and direction since it was attached, counted by the program (reported only while the kernel collects BPF statistics)."}
	ProgramTime = Definition{Name: "packet_exporter.program.run_time", Float: true, Unit: "s",
		Attributes:  []attribute.Key{Interface, Direction, Hook},
		Description: "Time spent in the program on each interface and direction, measured by the program while the kernel collects BPF statistics."}
	CountErrors = Definition{Name: "packet_exporter.kernel.count_errors", Unit: "{packet}",
		Attributes:  []attribute.Key{ErrorType},
		Description: "Frames the kernel programs could not count, and drops the drop counter could not (drops_table_full)."}
	ReadErrors = Definition{Name: "packet_exporter.kernel.read_errors", Unit: "{error}",
		Description: "Failed reads of the kernel maps or of the devices' statistics during collection."}
	OTLPExports = Definition{Name: "packet_exporter.otlp.exports", Unit: "{export}",
		Attributes:  []attribute.Key{Outcome},
		Description: "OTLP exports by outcome (success, failure) and, for failures, error.type."}
	BuildInfo = Definition{Name: "packet_exporter.build.info", Kind: Gauge,
		Attributes:  []attribute.Key{Version, Revision, GoVersion},
		Description: "Always 1; the attributes describe the running binary."}
	Features = Definition{Name: "packet_exporter.kernel.features", Kind: Gauge,
		Attributes:  []attribute.Key{Feature},
		Description: "Kernel features found at start-up, by feature: 1 available, 0 missing."}
)

// All lists every metric.
var All = []*Definition{
	&Packets, &Bytes, &PacketSize, &Drops, &DeviceDropped, &DeviceErrors, &InterfaceInfo, &Unresolved,
	&FlowPackets, &FlowBytes, &EventsEmitted, &EventsLost, &EventsDelivered, &EventsInvalid, &FlowsActive,
	&Attached, &AttachFailures, &ParseErrors, &Skipped, &Resyncs, &ReadDuration, &ProgramRuns, &ProgramTime,
	&CountErrors, &ReadErrors, &OTLPExports, &BuildInfo, &Features,
}

// check returns an error when d is not of kind k with float values float.
func (d *Definition) check(k Kind, float bool) error {
	if d.Kind != k || d.Float != float {
		return fmt.Errorf("create %s: defined as a %s (float %t), not a %s (float %t)", d.Name, d.Kind, d.Float, k, float)
	}
	return nil
}

// Int64Counter creates d, an int64 counter, as an observable counter of meter.
func (d *Definition) Int64Counter(meter metric.Meter) (metric.Int64ObservableCounter, error) {
	if err := d.check(Counter, false); err != nil {
		return nil, err
	}
	return meter.Int64ObservableCounter(d.Name, metric.WithUnit(d.Unit), metric.WithDescription(d.Description))
}

// Float64Counter creates d, a float64 counter, as an observable counter of meter.
func (d *Definition) Float64Counter(meter metric.Meter) (metric.Float64ObservableCounter, error) {
	if err := d.check(Counter, true); err != nil {
		return nil, err
	}
	return meter.Float64ObservableCounter(d.Name, metric.WithUnit(d.Unit), metric.WithDescription(d.Description))
}

// Int64Gauge creates d, an int64 gauge, as an observable gauge of meter.
func (d *Definition) Int64Gauge(meter metric.Meter) (metric.Int64ObservableGauge, error) {
	if err := d.check(Gauge, false); err != nil {
		return nil, err
	}
	return meter.Int64ObservableGauge(d.Name, metric.WithUnit(d.Unit), metric.WithDescription(d.Description))
}

// Float64Histogram creates d, a float64 histogram, as a histogram of meter
// with d's bucket boundaries.
func (d *Definition) Float64Histogram(meter metric.Meter) (metric.Float64Histogram, error) {
	if err := d.check(Histogram, true); err != nil {
		return nil, err
	}
	return meter.Float64Histogram(d.Name, metric.WithUnit(d.Unit), metric.WithDescription(d.Description),
		metric.WithExplicitBucketBoundaries(d.Buckets...))
}
