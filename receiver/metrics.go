package receiver

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/packet-exporter/packet-exporter/bpf"
)

// Metric names: the public contract, see README.md.
const (
	MetricPackets      = "packet_exporter.network.packets"
	MetricBytes        = "packet_exporter.network.io"
	MetricParseErrors  = "packet_exporter.network.parse_errors"
	MetricCountErrors  = "packet_exporter.kernel.count_errors"
	MetricReadErrors   = "packet_exporter.kernel.read_errors"
	MetricAttached     = "packet_exporter.interface.attached"
	MetricAttachFailed = "packet_exporter.attach.failures"
	MetricSkipped      = "packet_exporter.interface.skipped"
	MetricResyncs      = "packet_exporter.netlink.resyncs"
	MetricReadDuration = "packet_exporter.kernel.read.duration"
	MetricProgramRuns  = "packet_exporter.program.runs"
	MetricProgramTime  = "packet_exporter.program.run_time"
	MetricBuildInfo    = "packet_exporter.build.info"
	MetricFeatures     = "packet_exporter.kernel.features"

	MetricEventsEmitted   = "packet_exporter.events.emitted"
	MetricEventsLost      = "packet_exporter.events.lost"
	MetricEventsDelivered = "packet_exporter.events.delivered"
	MetricEventsInvalid   = "packet_exporter.events.invalid"
	MetricFlowPackets     = "packet_exporter.flow.packets"
	MetricFlowBytes       = "packet_exporter.flow.io"
	MetricFlowsActive     = "packet_exporter.flows.active"
	MetricPacketSize      = "packet_exporter.network.packet.size"
	MetricDrops           = "packet_exporter.network.drops"
	MetricInterfaceInfo   = "packet_exporter.interface.info"
	MetricUnresolved      = "packet_exporter.attribution.unresolved"

	// The devices' own counters, under the OpenTelemetry semantic
	// conventions' names.
	MetricDeviceDropped = "system.network.packet.dropped"
	MetricDeviceErrors  = "system.network.errors"
)

// Attribute keys.
const (
	AttrInterface = attribute.Key("network.interface.name")
	AttrDirection = attribute.Key("network.io.direction")
	AttrNetType   = attribute.Key("network.type")
	AttrTransport = attribute.Key("network.transport")
	AttrErrorType = attribute.Key("error.type")
	AttrHook      = attribute.Key("hook")
	AttrMode      = attribute.Key("mode")
	AttrFeature   = attribute.Key("feature")
)

// interfaceAttributes are the attribute sets of one interface's series,
// computed once when it is attached so that collection allocates none.
type interfaceAttributes struct {
	histogram [2]attribute.Set
	classes   [2][bpf.ClassCount]metric.MeasurementOption
	device    [2]metric.MeasurementOption // interface and direction
	anomalies [2][bpf.AnomalyCount]metric.MeasurementOption
}

// newInterfaceAttributes computes the attribute sets of interface name's
// series, with extra on every one (the workload, attribution.on_series).
func newInterfaceAttributes(name string, extra []attribute.KeyValue) *interfaceAttributes {
	a := &interfaceAttributes{}
	set := func(attrs ...attribute.KeyValue) attribute.Set {
		return attribute.NewSet(append(append([]attribute.KeyValue{AttrInterface.String(name)}, extra...), attrs...)...)
	}
	for _, d := range []bpf.Direction{bpf.Receive, bpf.Transmit} {
		direction := AttrDirection.String(d.String())
		a.histogram[d] = set(direction)
		a.device[d] = metric.WithAttributeSet(a.histogram[d])
		for entry := range bpf.ClassCount {
			c := bpf.ClassOf(entry)
			a.classes[d][entry] = metric.WithAttributeSet(set(direction,
				AttrNetType.String(c.NetworkType), AttrTransport.String(c.Transport)))
		}
		for i := range bpf.AnomalyCount {
			a.anomalies[d][i] = metric.WithAttributeSet(set(direction,
				AttrErrorType.String(bpf.AnomalyName(bpf.AnomalyFirst+i))))
		}
	}
	return a
}

// BuildInfo describes the running binary for packet_exporter.build.info.
type BuildInfo struct {
	Version  string
	Revision string
}

// instruments are the receiver's OpenTelemetry instruments.
type instruments struct {
	packets, bytes, parseErrors, countErrors, readErrors metric.Int64ObservableCounter
	failures, resyncs, programRuns                       metric.Int64ObservableCounter
	deviceDropped, deviceErrors                          metric.Int64ObservableCounter
	drops                                                metric.Int64ObservableCounter // nil without the drop counter
	programTime                                          metric.Float64ObservableCounter
	attached, skipped, buildInfo, features               metric.Int64ObservableGauge
	interfaceInfo                                        metric.Int64ObservableGauge
	unresolved                                           metric.Int64ObservableGauge // nil with attribution.enabled false
	readDuration                                         metric.Float64Histogram

	// Event stream and flows, nil with the stream off.
	eventsEmitted, eventsLost, eventsDelivered, eventsInvalid metric.Int64ObservableCounter
	flowPackets, flowBytes                                    metric.Int64ObservableCounter
	flowsActive                                               metric.Int64ObservableGauge
}

func newInstruments(meter metric.Meter) (*instruments, error) {
	var i instruments
	var errs [17]error
	i.packets, errs[0] = meter.Int64ObservableCounter(MetricPackets, metric.WithUnit("{packet}"),
		metric.WithDescription("Frames seen by packet-exporter's kernel programs, by interface, direction, network type and transport."))
	i.bytes, errs[1] = meter.Int64ObservableCounter(MetricBytes, metric.WithUnit("By"),
		metric.WithDescription("Bytes of the frames seen, Ethernet header included, as counted by ip -s link."))
	i.parseErrors, errs[2] = meter.Int64ObservableCounter(MetricParseErrors, metric.WithUnit("{packet}"),
		metric.WithDescription("Frames counted whose headers could not be fully parsed (truncated, malformed, or nested deeper than parsed)."))
	i.countErrors, errs[3] = meter.Int64ObservableCounter(MetricCountErrors, metric.WithUnit("{packet}"),
		metric.WithDescription("Frames the kernel programs could not count, and drops the drop counter could not (drops_table_full)."))
	i.readErrors, errs[4] = meter.Int64ObservableCounter(MetricReadErrors, metric.WithUnit("{error}"),
		metric.WithDescription("Failed reads of the kernel maps or of the devices' statistics during collection."))
	i.attached, errs[5] = meter.Int64ObservableGauge(MetricAttached, metric.WithUnit("{program}"),
		metric.WithDescription("Programs attached, by interface, direction, hook (xdp, tcx or tc) and XDP mode."))
	i.failures, errs[6] = meter.Int64ObservableCounter(MetricAttachFailed, metric.WithUnit("{failure}"),
		metric.WithDescription("Failed attachments, by interface, direction, hook and reason."))
	i.skipped, errs[7] = meter.Int64ObservableGauge(MetricSkipped, metric.WithUnit("{interface}"),
		metric.WithDescription("Interfaces the configuration selects that are not counted, by reason."))
	i.resyncs, errs[8] = meter.Int64ObservableCounter(MetricResyncs, metric.WithUnit("{resync}"),
		metric.WithDescription("Times netlink link updates were lost and the interfaces were listed again."))
	i.programRuns, errs[9] = meter.Int64ObservableCounter(MetricProgramRuns, metric.WithUnit("{run}"),
		metric.WithDescription("Runs of the program on each interface and direction since it was attached, counted by the program (reported only while the kernel collects BPF statistics)."))
	i.programTime, errs[10] = meter.Float64ObservableCounter(MetricProgramTime, metric.WithUnit("s"),
		metric.WithDescription("Time spent in the program on each interface and direction, measured by the program while the kernel collects BPF statistics."))
	i.buildInfo, errs[11] = meter.Int64ObservableGauge(MetricBuildInfo,
		metric.WithDescription("Always 1; the attributes describe the running binary."))
	i.readDuration, errs[12] = meter.Float64Histogram(MetricReadDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of one read of the kernel counters, per collection."),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25))
	i.features, errs[13] = meter.Int64ObservableGauge(MetricFeatures,
		metric.WithDescription("Kernel features found at start-up, by feature: 1 available, 0 missing."))
	i.deviceDropped, errs[14] = meter.Int64ObservableCounter(MetricDeviceDropped, metric.WithUnit("{packet}"),
		metric.WithDescription("Packets the network device dropped, as the kernel counts them for it (ip -s link), by counted interface and direction."))
	i.deviceErrors, errs[15] = meter.Int64ObservableCounter(MetricDeviceErrors, metric.WithUnit("{error}"),
		metric.WithDescription("Errors of the network device, as the kernel counts them for it (ip -s link), by counted interface and direction."))
	i.interfaceInfo, errs[16] = meter.Int64ObservableGauge(MetricInterfaceInfo,
		metric.WithDescription("Always 1 for each counted interface; the attributes tell its kind, master and the workload behind it."))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("create instruments: %w", err)
	}
	return &i, nil
}

// newEventInstruments adds the event-stream and flow instruments to i.
func (i *instruments) newEventInstruments(meter metric.Meter) error {
	var errs [7]error
	i.eventsEmitted, errs[0] = meter.Int64ObservableCounter(MetricEventsEmitted, metric.WithUnit("{event}"),
		metric.WithDescription("Event records the kernel programs tried to write, after sampling: delivered + lost = emitted."))
	i.eventsLost, errs[1] = meter.Int64ObservableCounter(MetricEventsLost, metric.WithUnit("{event}"),
		metric.WithDescription("Event records the ring buffer had no room for."))
	i.eventsDelivered, errs[2] = meter.Int64ObservableCounter(MetricEventsDelivered, metric.WithUnit("{event}"),
		metric.WithDescription("Event records read from the ring buffer."))
	i.eventsInvalid, errs[3] = meter.Int64ObservableCounter(MetricEventsInvalid, metric.WithUnit("{event}"),
		metric.WithDescription("Event records read that did not decode (should stay 0)."))
	i.flowPackets, errs[4] = meter.Int64ObservableCounter(MetricFlowPackets, metric.WithUnit("{packet}"),
		metric.WithDescription("Packets per flow, from the event stream; scaled by events.sample_rate, so estimates when it is above 1."))
	i.flowBytes, errs[5] = meter.Int64ObservableCounter(MetricFlowBytes, metric.WithUnit("By"),
		metric.WithDescription("Bytes per flow, from the event stream; scaled by events.sample_rate, so estimates when it is above 1."))
	i.flowsActive, errs[6] = meter.Int64ObservableGauge(MetricFlowsActive, metric.WithUnit("{flow}"),
		metric.WithDescription("Flows reported, at most flows.max_series."))
	if err := errors.Join(errs[:]...); err != nil {
		return fmt.Errorf("create instruments: %w", err)
	}
	return nil
}

// RegisterMetrics creates the receiver's instruments on meter and registers
// the callback that observes them. The callback may run concurrently for
// several readers.
func (r *Receiver) RegisterMetrics(meter metric.Meter, build BuildInfo) (metric.Registration, error) {
	inst, err := newInstruments(meter)
	if err != nil {
		return nil, err
	}
	buildAttrs := metric.WithAttributes(attribute.String("version", build.Version),
		attribute.String("revision", build.Revision), attribute.String("go.version", runtime.Version()))
	noCounter := metric.WithAttributes(AttrErrorType.String("no_counter"))
	unmapped := metric.WithAttributes(AttrErrorType.String("unmapped_interface"))
	featureAttrs := make([]metric.ObserveOption, len(r.features))
	featureValues := make([]int64, len(r.features))
	for i, f := range r.features {
		featureAttrs[i] = metric.WithAttributes(AttrFeature.String(f.Name))
		if f.Available() {
			featureValues[i] = 1
		}
	}

	observables := []metric.Observable{inst.packets, inst.bytes, inst.parseErrors, inst.countErrors, inst.readErrors,
		inst.attached, inst.failures, inst.skipped, inst.resyncs, inst.programRuns, inst.programTime, inst.buildInfo,
		inst.features, inst.deviceDropped, inst.deviceErrors, inst.interfaceInfo}
	if r.cfg.Attribution.Enabled {
		if inst.unresolved, err = meter.Int64ObservableGauge(MetricUnresolved, metric.WithUnit("{interface}"),
			metric.WithDescription("Counted veths whose peer's network namespace is not fully attributed, by reason (error.type).")); err != nil {
			return nil, fmt.Errorf("create instruments: %w", err)
		}
		observables = append(observables, inst.unresolved)
	}
	if r.cfg.Drops.Enabled {
		if inst.drops, err = meter.Int64ObservableCounter(MetricDrops, metric.WithUnit("{packet}"),
			metric.WithDescription("Packets the kernel dropped, by interface (when the packet had a device), reason (error.type), network type and transport.")); err != nil {
			return nil, fmt.Errorf("create instruments: %w", err)
		}
		observables = append(observables, inst.drops)
	}
	if r.events != nil {
		if err := inst.newEventInstruments(meter); err != nil {
			return nil, err
		}
		observables = append(observables, inst.eventsEmitted, inst.eventsLost, inst.eventsDelivered, inst.eventsInvalid)
		if r.cfg.Flows.Enabled {
			observables = append(observables, inst.flowPackets, inst.flowBytes, inst.flowsActive)
		}
	}

	var readFailures atomic.Int64
	return meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		o.ObserveInt64(inst.buildInfo, 1, buildAttrs)
		for i := range featureAttrs {
			o.ObserveInt64(inst.features, featureValues[i], featureAttrs[i])
		}
		r.observeAgent(o, inst)
		r.observeAttribution(o, inst)
		var errs []error
		start := time.Now()
		if err := r.observeCounters(o, inst); err != nil {
			readFailures.Add(1)
			errs = append(errs, err)
		}
		inst.readDuration.Record(ctx, time.Since(start).Seconds())
		if stats, err := r.reader.Stats(); err != nil {
			readFailures.Add(1)
			errs = append(errs, err)
		} else {
			o.ObserveInt64(inst.countErrors, int64(stats[bpf.StatNoCounter]), noCounter)
			o.ObserveInt64(inst.countErrors, int64(stats[bpf.StatUnmapped]), unmapped)
			if r.events != nil {
				r.observeEvents(o, inst, stats)
			}
		}
		if r.cfg.Drops.Enabled {
			if err := r.observeDrops(o, inst); err != nil {
				readFailures.Add(1)
				errs = append(errs, err)
			}
		}
		if r.nl != nil { // nil in benchmarks of the collection path
			if err := r.observeDevices(o, inst); err != nil {
				readFailures.Add(1)
				errs = append(errs, err)
			}
		}
		o.ObserveInt64(inst.readErrors, readFailures.Load())
		return errors.Join(errs...)
	}, observables...)
}

// observeEvents observes the event stream's accounting and the flows.
func (r *Receiver) observeEvents(o metric.Observer, inst *instruments, stats []uint64) {
	p := r.events
	o.ObserveInt64(inst.eventsEmitted, int64(stats[bpf.StatEventsEmitted]))
	o.ObserveInt64(inst.eventsLost, int64(stats[bpf.StatEventsLost]))
	o.ObserveInt64(inst.eventsDelivered, int64(p.delivered.Load()))
	o.ObserveInt64(inst.eventsInvalid, int64(p.invalid.Load()))
	if !p.flows {
		return
	}
	var overflow flow
	for _, w := range p.workers {
		w.table.observe(o, inst.flowPackets, inst.flowBytes, &overflow)
	}
	if overflow.packets > 0 {
		o.ObserveInt64(inst.flowPackets, int64(overflow.packets), overflowAttrs)
		o.ObserveInt64(inst.flowBytes, int64(overflow.bytes), overflowAttrs)
	}
	o.ObserveInt64(inst.flowsActive, p.limit.used.Load())
}

// observeCounters reads the counters map once, observes every non-zero
// series of the attached interfaces and keeps the packet-size state for the
// producers.
func (r *Receiver) observeCounters(o metric.Observer, inst *instruments) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.reader.Counters(r.slots.end(), func(blocks []bpf.Block) error {
		// The packet-size producers of this collection take the histogram
		// from this read.
		now := time.Now()
		r.keepSizes(now, r.sizesLocked(blocks, now))
		// Program runs are reported while the kernel collects BPF
		// statistics (sysctl or a BPF_ENABLE_STATS holder), as before one
		// program served every interface.
		runsOn, changed, err := r.runs.update(blocks)
		if err != nil {
			r.log.Debug("program run statistics", zap.Error(err))
		}
		if changed {
			go r.retime(runsOn) // it waits for this collection's lock
		}
		for _, a := range r.attached {
			for _, d := range []bpf.Direction{bpf.Receive, bpf.Transmit} {
				block := &blocks[bpf.BlockIndex(a.slot, d)]
				for class, v := range block.Classes {
					if v.Packets == 0 {
						continue
					}
					o.ObserveInt64(inst.packets, int64(v.Packets), a.attrs.classes[d][class])
					o.ObserveInt64(inst.bytes, int64(v.Bytes), a.attrs.classes[d][class])
				}
				for i, packets := range block.Anomalies {
					if packets != 0 {
						o.ObserveInt64(inst.parseErrors, int64(packets), a.attrs.anomalies[d][i])
					}
				}
			}
			if !runsOn {
				continue
			}
			for _, h := range a.hooks {
				if block := &blocks[bpf.BlockIndex(a.slot, h.direction)]; block.Runs > 0 {
					o.ObserveInt64(inst.programRuns, int64(block.Runs), h.hookAttrs)
					o.ObserveFloat64(inst.programTime, float64(block.RunNanoseconds)/1e9, h.hookAttrs)
				}
			}
		}
		return nil
	})
}

// observeAgent observes the state of the attachments: programs attached,
// failures, skipped interfaces, resyncs and, when the kernel collects them,
// program run statistics.
func (r *Receiver) observeAgent(o metric.Observer, inst *instruments) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, a := range r.attached {
		for _, h := range a.hooks {
			o.ObserveInt64(inst.attached, 1, h.attachedAttrs)
		}
	}
	for k, n := range r.failures {
		o.ObserveInt64(inst.failures, n, metric.WithAttributes(AttrInterface.String(k.iface),
			AttrDirection.String(k.direction.String()), AttrHook.String(k.hook), AttrErrorType.String(k.reason)))
	}
	for _, s := range r.skipped {
		o.ObserveInt64(inst.skipped, 1, metric.WithAttributes(AttrInterface.String(s.name), AttrErrorType.String(s.reason)))
	}
	o.ObserveInt64(inst.resyncs, r.resyncs)
}

// hookAttributes returns the attribute sets of a hook's series: of
// packet_exporter.interface.attached (with the XDP mode) and of the program
// statistics.
func hookAttributes(iface string, h hook) (attached, stats metric.MeasurementOption) {
	attrs := []attribute.KeyValue{AttrInterface.String(iface), AttrDirection.String(h.direction.String()), AttrHook.String(h.kind)}
	stats = metric.WithAttributeSet(attribute.NewSet(attrs...))
	if h.mode != "" {
		attrs = append(attrs, AttrMode.String(h.mode))
	}
	return metric.WithAttributeSet(attribute.NewSet(attrs...)), stats
}
