package receiver

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

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
	MetricBuildInfo    = "packet_exporter.build.info"
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
)

// interfaceAttributes are the attribute sets of one interface's series,
// computed once when it is attached so that collection allocates none.
type interfaceAttributes struct {
	classes   [2][bpf.ClassCount]metric.MeasurementOption
	anomalies [2][bpf.EntriesPerDirection - bpf.ClassCount]metric.MeasurementOption
}

func newInterfaceAttributes(name string) *interfaceAttributes {
	a := &interfaceAttributes{}
	for _, d := range []bpf.Direction{bpf.Receive, bpf.Transmit} {
		for entry := range bpf.ClassCount {
			c := bpf.ClassOf(entry)
			a.classes[d][entry] = metric.WithAttributeSet(attribute.NewSet(
				AttrInterface.String(name), AttrDirection.String(d.String()),
				AttrNetType.String(c.NetworkType), AttrTransport.String(c.Transport)))
		}
		for entry := bpf.ClassCount; entry < bpf.EntriesPerDirection; entry++ {
			a.anomalies[d][entry-bpf.ClassCount] = metric.WithAttributeSet(attribute.NewSet(
				AttrInterface.String(name), AttrDirection.String(d.String()),
				AttrErrorType.String(bpf.AnomalyName(entry))))
		}
	}
	return a
}

// BuildInfo describes the running binary for packet_exporter.build.info.
type BuildInfo struct {
	Version  string
	Revision string
}

// RegisterMetrics creates the receiver's instruments on meter and registers
// the callback that observes them. The callback may run concurrently for
// several readers.
func (r *Receiver) RegisterMetrics(meter metric.Meter, build BuildInfo) (metric.Registration, error) {
	packets, err1 := meter.Int64ObservableCounter(MetricPackets, metric.WithUnit("{packet}"),
		metric.WithDescription("Frames seen by packet-exporter's kernel programs, by interface, direction, network type and transport."))
	bytes, err2 := meter.Int64ObservableCounter(MetricBytes, metric.WithUnit("By"),
		metric.WithDescription("Bytes of the frames seen, Ethernet header included, as counted by ip -s link."))
	parseErrors, err3 := meter.Int64ObservableCounter(MetricParseErrors, metric.WithUnit("{packet}"),
		metric.WithDescription("Frames counted whose headers could not be fully parsed (truncated, malformed, or nested deeper than parsed)."))
	countErrors, err4 := meter.Int64ObservableCounter(MetricCountErrors, metric.WithUnit("{packet}"),
		metric.WithDescription("Frames the kernel programs could not count."))
	readErrors, err5 := meter.Int64ObservableCounter(MetricReadErrors, metric.WithUnit("{error}"),
		metric.WithDescription("Failed reads of the kernel maps during collection."))
	attached, err6 := meter.Int64ObservableGauge(MetricAttached, metric.WithUnit("{program}"),
		metric.WithDescription("Programs attached, by interface, direction, hook (xdp or tcx) and XDP mode."))
	failures, err7 := meter.Int64ObservableCounter(MetricAttachFailed, metric.WithUnit("{failure}"),
		metric.WithDescription("Failed attachments, by interface, direction, hook and reason."))
	buildInfo, err8 := meter.Int64ObservableGauge(MetricBuildInfo,
		metric.WithDescription("Always 1; the attributes describe the running binary."))
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7, err8); err != nil {
		return nil, fmt.Errorf("create instruments: %w", err)
	}
	buildAttrs := metric.WithAttributes(attribute.String("version", build.Version),
		attribute.String("revision", build.Revision), attribute.String("go.version", runtime.Version()))
	noCounter := metric.WithAttributes(AttrErrorType.String("no_counter"))

	var readFailures atomic.Int64
	return meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(buildInfo, 1, buildAttrs)
		r.observeAttachments(o, attached, failures)
		var errs []error
		if err := r.observeCounters(o, packets, bytes, parseErrors); err != nil {
			readFailures.Add(1)
			errs = append(errs, err)
		}
		if kernelErrors, err := r.reader.Errors(); err != nil {
			readFailures.Add(1)
			errs = append(errs, err)
		} else {
			o.ObserveInt64(countErrors, int64(kernelErrors[bpf.CounterPeErrorPE_ERROR_NO_COUNTER]), noCounter)
		}
		o.ObserveInt64(readErrors, readFailures.Load())
		return errors.Join(errs...)
	}, packets, bytes, parseErrors, countErrors, readErrors, attached, failures, buildInfo)
}

// observeCounters reads the counters map once and observes every non-zero
// series of the attached interfaces.
func (r *Receiver) observeCounters(o metric.Observer, packets, bytes, parseErrors metric.Int64Observable) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.reader.Counters(r.slots.end(), func(values []bpf.Value) error {
		for _, a := range r.attached {
			for _, d := range []bpf.Direction{bpf.Receive, bpf.Transmit} {
				block := values[bpf.BlockBase(a.slot, d):][:bpf.EntriesPerDirection]
				for entry, v := range block[:bpf.ClassCount] {
					if v.Packets == 0 {
						continue
					}
					o.ObserveInt64(packets, int64(v.Packets), a.attrs.classes[d][entry])
					o.ObserveInt64(bytes, int64(v.Bytes), a.attrs.classes[d][entry])
				}
				for i, v := range block[bpf.ClassCount:] {
					if v.Packets != 0 {
						o.ObserveInt64(parseErrors, int64(v.Packets), a.attrs.anomalies[d][i])
					}
				}
			}
		}
		return nil
	})
}

func (r *Receiver) observeAttachments(o metric.Observer, attached, failures metric.Int64Observable) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, a := range r.attached {
		for _, h := range a.hooks {
			attrs := []attribute.KeyValue{AttrInterface.String(a.name), AttrDirection.String(h.direction.String()), AttrHook.String(h.kind)}
			if h.mode != "" {
				attrs = append(attrs, AttrMode.String(h.mode))
			}
			o.ObserveInt64(attached, 1, metric.WithAttributes(attrs...))
		}
	}
	for k, n := range r.failures {
		o.ObserveInt64(failures, n, metric.WithAttributes(AttrInterface.String(k.iface),
			AttrDirection.String(k.direction.String()), AttrHook.String(k.hook), AttrErrorType.String(k.reason)))
	}
}
