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
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// Metric names, for tests and callers that look series up: the definitions
// (the public contract, see README.md) are internal/metricdef's.
var (
	MetricPackets         = metricdef.Packets.Name
	MetricBytes           = metricdef.Bytes.Name
	MetricParseErrors     = metricdef.ParseErrors.Name
	MetricCountErrors     = metricdef.CountErrors.Name
	MetricReadErrors      = metricdef.ReadErrors.Name
	MetricAttached        = metricdef.Attached.Name
	MetricAttachFailed    = metricdef.AttachFailures.Name
	MetricSkipped         = metricdef.Skipped.Name
	MetricResyncs         = metricdef.Resyncs.Name
	MetricReadDuration    = metricdef.ReadDuration.Name
	MetricProgramRuns     = metricdef.ProgramRuns.Name
	MetricProgramTime     = metricdef.ProgramTime.Name
	MetricBuildInfo       = metricdef.BuildInfo.Name
	MetricFeatures        = metricdef.Features.Name
	MetricEventsEmitted   = metricdef.EventsEmitted.Name
	MetricEventsLost      = metricdef.EventsLost.Name
	MetricEventsDelivered = metricdef.EventsDelivered.Name
	MetricEventsInvalid   = metricdef.EventsInvalid.Name
	MetricFlowPackets     = metricdef.FlowPackets.Name
	MetricFlowBytes       = metricdef.FlowBytes.Name
	MetricFlowsActive     = metricdef.FlowsActive.Name
	MetricPacketSize      = metricdef.PacketSize.Name
	MetricDrops           = metricdef.Drops.Name
	MetricInterfaceInfo   = metricdef.InterfaceInfo.Name
	MetricUnresolved      = metricdef.Unresolved.Name
	MetricDeviceDropped   = metricdef.DeviceDropped.Name
	MetricDeviceErrors    = metricdef.DeviceErrors.Name
)

// Attribute keys, defined in internal/metricdef.
const (
	AttrInterface = metricdef.Interface
	AttrDirection = metricdef.Direction
	AttrNetType   = metricdef.NetworkType
	AttrTransport = metricdef.Transport
	AttrErrorType = metricdef.ErrorType
	AttrHook      = metricdef.Hook
	AttrMode      = metricdef.Mode
	AttrFeature   = metricdef.Feature
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
	i.packets, errs[0] = metricdef.Packets.Int64Counter(meter)
	i.bytes, errs[1] = metricdef.Bytes.Int64Counter(meter)
	i.parseErrors, errs[2] = metricdef.ParseErrors.Int64Counter(meter)
	i.countErrors, errs[3] = metricdef.CountErrors.Int64Counter(meter)
	i.readErrors, errs[4] = metricdef.ReadErrors.Int64Counter(meter)
	i.attached, errs[5] = metricdef.Attached.Int64Gauge(meter)
	i.failures, errs[6] = metricdef.AttachFailures.Int64Counter(meter)
	i.skipped, errs[7] = metricdef.Skipped.Int64Gauge(meter)
	i.resyncs, errs[8] = metricdef.Resyncs.Int64Counter(meter)
	i.programRuns, errs[9] = metricdef.ProgramRuns.Int64Counter(meter)
	i.programTime, errs[10] = metricdef.ProgramTime.Float64Counter(meter)
	i.buildInfo, errs[11] = metricdef.BuildInfo.Int64Gauge(meter)
	i.readDuration, errs[12] = metricdef.ReadDuration.Float64Histogram(meter)
	i.features, errs[13] = metricdef.Features.Int64Gauge(meter)
	i.deviceDropped, errs[14] = metricdef.DeviceDropped.Int64Counter(meter)
	i.deviceErrors, errs[15] = metricdef.DeviceErrors.Int64Counter(meter)
	i.interfaceInfo, errs[16] = metricdef.InterfaceInfo.Int64Gauge(meter)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("create instruments: %w", err)
	}
	return &i, nil
}

// newEventInstruments adds the event-stream and flow instruments to i.
func (i *instruments) newEventInstruments(meter metric.Meter) error {
	var errs [7]error
	i.eventsEmitted, errs[0] = metricdef.EventsEmitted.Int64Counter(meter)
	i.eventsLost, errs[1] = metricdef.EventsLost.Int64Counter(meter)
	i.eventsDelivered, errs[2] = metricdef.EventsDelivered.Int64Counter(meter)
	i.eventsInvalid, errs[3] = metricdef.EventsInvalid.Int64Counter(meter)
	i.flowPackets, errs[4] = metricdef.FlowPackets.Int64Counter(meter)
	i.flowBytes, errs[5] = metricdef.FlowBytes.Int64Counter(meter)
	i.flowsActive, errs[6] = metricdef.FlowsActive.Int64Gauge(meter)
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
	buildAttrs := metric.WithAttributes(metricdef.Version.String(build.Version),
		metricdef.Revision.String(build.Revision), metricdef.GoVersion.String(runtime.Version()))
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
		if inst.unresolved, err = metricdef.Unresolved.Int64Gauge(meter); err != nil {
			return nil, fmt.Errorf("create instruments: %w", err)
		}
		observables = append(observables, inst.unresolved)
	}
	if r.cfg.Drops.Enabled {
		if inst.drops, err = metricdef.Drops.Int64Counter(meter); err != nil {
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
