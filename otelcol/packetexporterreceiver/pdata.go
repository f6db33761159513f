package packetexporterreceiver

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	pereceiver "github.com/packet-exporter/packet-exporter/receiver"
)

// pdataMeter is an OpenTelemetry Meter whose instruments the agent's
// collectors observe straight into the collector's data model: collect runs
// the registered callbacks with an observer that appends each observation
// to a fresh pmetric.Metrics. It implements what the collectors use
// (observable int64 and float64 counters and gauges, a float64 histogram
// recorded during the callbacks); every other instrument is the no-op one.
// No OpenTelemetry SDK stands between the kernel counters and pdata.
type pdataMeter struct {
	noop.Meter
	version  string
	start    pcommon.Timestamp // of every cumulative sum
	disabled map[string]bool   // metrics switched off: observations go nowhere

	collecting  sync.Mutex // serializes collections
	mu          sync.Mutex // guards the rest
	instruments []*pdataInstrument
	callbacks   []*pdataRegistration
	current     map[*pdataInstrument]pmetric.Metric // of the collection running
}

// pdataInstrument is one instrument: its definition, and for a histogram its
// cumulative state. The types below make it each kind of instrument.
type pdataInstrument struct {
	meter     *pdataMeter
	name      string
	unit      string
	desc      string
	sum       bool // a monotonic cumulative sum; a gauge otherwise
	float     bool
	histogram *pdataHistogram
}

func (i *pdataInstrument) instrument() *pdataInstrument { return i }

type (
	int64Counter struct {
		noop.Int64ObservableCounter
		*pdataInstrument
	}
	int64Gauge struct {
		noop.Int64ObservableGauge
		*pdataInstrument
	}
	float64Counter struct {
		noop.Float64ObservableCounter
		*pdataInstrument
	}
	float64Gauge struct {
		noop.Float64ObservableGauge
		*pdataInstrument
	}
	float64Histogram struct {
		noop.Float64Histogram
		*pdataInstrument
	}
)

// pdataHistogram is a histogram's cumulative state, by attribute set.
type pdataHistogram struct {
	bounds []float64
	series map[attribute.Distinct]*histogramPoint
}

type histogramPoint struct {
	attrs  attribute.Set
	counts []uint64
	count  uint64
	sum    float64
}

// pdataRegistration is one registered callback.
type pdataRegistration struct {
	noop.Registration
	meter    *pdataMeter
	callback metric.Callback
}

func newPdataMeter(version string, disabled []string) *pdataMeter {
	m := &pdataMeter{version: version, start: pcommon.NewTimestampFromTime(time.Now()), disabled: map[string]bool{}}
	for _, name := range disabled {
		m.disabled[name] = true
	}
	return m
}

// instrument returns the instrument named name, created on its first
// request, nil when switched off (its observations and records are dropped).
func (m *pdataMeter) instrument(name, unit, desc string, sum, float bool) *pdataInstrument {
	if m.disabled[name] {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// Collectors that observe the same metric (the count errors of the
	// traffic and of the drops) each create it: one metric, as in the SDK.
	for _, i := range m.instruments {
		if i.name == name {
			return i
		}
	}
	i := &pdataInstrument{meter: m, name: name, unit: unit, desc: desc, sum: sum, float: float}
	m.instruments = append(m.instruments, i)
	return i
}

// Int64ObservableCounter creates an observable int64 counter.
func (m *pdataMeter) Int64ObservableCounter(name string, options ...metric.Int64ObservableCounterOption) (metric.Int64ObservableCounter, error) {
	c := metric.NewInt64ObservableCounterConfig(options...)
	return int64Counter{pdataInstrument: m.instrument(name, c.Unit(), c.Description(), true, false)}, nil
}

// Int64ObservableGauge creates an observable int64 gauge.
func (m *pdataMeter) Int64ObservableGauge(name string, options ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	c := metric.NewInt64ObservableGaugeConfig(options...)
	return int64Gauge{pdataInstrument: m.instrument(name, c.Unit(), c.Description(), false, false)}, nil
}

// Float64ObservableCounter creates an observable float64 counter.
func (m *pdataMeter) Float64ObservableCounter(name string, options ...metric.Float64ObservableCounterOption) (metric.Float64ObservableCounter, error) {
	c := metric.NewFloat64ObservableCounterConfig(options...)
	return float64Counter{pdataInstrument: m.instrument(name, c.Unit(), c.Description(), true, true)}, nil
}

// Float64ObservableGauge creates an observable float64 gauge.
func (m *pdataMeter) Float64ObservableGauge(name string, options ...metric.Float64ObservableGaugeOption) (metric.Float64ObservableGauge, error) {
	c := metric.NewFloat64ObservableGaugeConfig(options...)
	return float64Gauge{pdataInstrument: m.instrument(name, c.Unit(), c.Description(), false, true)}, nil
}

// Float64Histogram creates a float64 histogram with explicit buckets, whose
// records during a collection's callbacks it reports, cumulative.
func (m *pdataMeter) Float64Histogram(name string, options ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	c := metric.NewFloat64HistogramConfig(options...)
	i := m.instrument(name, c.Unit(), c.Description(), false, true)
	if i != nil {
		i.histogram = &pdataHistogram{bounds: c.ExplicitBucketBoundaries(), series: map[attribute.Distinct]*histogramPoint{}}
	}
	return float64Histogram{pdataInstrument: i}, nil
}

// RegisterCallback registers f, run by every collection.
func (m *pdataMeter) RegisterCallback(f metric.Callback, _ ...metric.Observable) (metric.Registration, error) {
	r := &pdataRegistration{meter: m, callback: f}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.callbacks = append(m.callbacks, r)
	return r, nil
}

// Unregister removes the callback.
func (r *pdataRegistration) Unregister() error {
	r.meter.mu.Lock()
	defer r.meter.mu.Unlock()
	r.meter.callbacks = slices.DeleteFunc(r.meter.callbacks, func(c *pdataRegistration) bool { return c == r })
	return nil
}

// Enabled reports whether records are kept.
func (h float64Histogram) Enabled(context.Context) bool { return h.pdataInstrument != nil }

// Record adds v to the histogram.
func (h float64Histogram) Record(_ context.Context, v float64, options ...metric.RecordOption) {
	if h.pdataInstrument == nil {
		return
	}
	h.record(v, metric.NewRecordConfig(options).Attributes())
}

// record adds v to the histogram's series of attrs.
func (i *pdataInstrument) record(v float64, attrs attribute.Set) {
	h := i.histogram
	i.meter.mu.Lock()
	defer i.meter.mu.Unlock()
	p, ok := h.series[attrs.Equivalent()]
	if !ok {
		p = &histogramPoint{attrs: attrs, counts: make([]uint64, len(h.bounds)+1)}
		h.series[attrs.Equivalent()] = p
	}
	bucket, _ := slices.BinarySearch(h.bounds, v) // upper bounds are inclusive
	p.counts[bucket]++
	p.count++
	p.sum += v
}

// collect runs every callback and returns what they observed, with the
// packet-size histogram that sizes returns (Receiver.PacketSizes, nil for
// none), under the scope of packet-exporter's metrics. The collector's
// pipeline sets the resource.
func (m *pdataMeter) collect(ctx context.Context, sizes func() ([]pereceiver.PacketSizeSeries, error)) (pmetric.Metrics, error) {
	md := pmetric.NewMetrics()
	scope := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	scope.Scope().SetName(metricdef.ScopeName)
	scope.Scope().SetVersion(m.version)
	now := pcommon.NewTimestampFromTime(time.Now())

	m.collecting.Lock()
	defer m.collecting.Unlock()
	m.mu.Lock()
	m.current = map[*pdataInstrument]pmetric.Metric{}
	callbacks := slices.Clone(m.callbacks)
	m.mu.Unlock()
	obs := &pdataObserver{meter: m, metrics: scope.Metrics(), now: now}
	var errs []error
	for _, r := range callbacks {
		errs = append(errs, r.callback(ctx, obs))
	}
	m.mu.Lock()
	for _, i := range m.instruments {
		if i.histogram != nil && len(i.histogram.series) > 0 {
			m.appendHistogram(scope.Metrics(), i, now)
		}
	}
	m.current = nil
	m.mu.Unlock()
	if sizes != nil && !m.disabled[metricdef.NetworkPacketSize.Name] {
		series, err := sizes()
		errs = append(errs, err)
		appendPacketSizes(scope.Metrics(), series)
	}
	return md, errors.Join(errs...)
}

// pdataObserver appends a collection's observations.
type pdataObserver struct {
	noop.Observer
	meter   *pdataMeter
	metrics pmetric.MetricSlice
	now     pcommon.Timestamp
}

// ObserveInt64 appends an int64 point.
func (o *pdataObserver) ObserveInt64(obsrv metric.Int64Observable, value int64, options ...metric.ObserveOption) {
	if i := instrumentOf(obsrv); i != nil {
		o.point(i, options).SetIntValue(value)
	}
}

// ObserveFloat64 appends a float64 point.
func (o *pdataObserver) ObserveFloat64(obsrv metric.Float64Observable, value float64, options ...metric.ObserveOption) {
	if i := instrumentOf(obsrv); i != nil {
		o.point(i, options).SetDoubleValue(value)
	}
}

// instrumentOf returns the pdataMeter instrument of obsrv, nil for one of
// another meter or one switched off.
func instrumentOf(obsrv any) *pdataInstrument {
	if i, ok := obsrv.(interface{ instrument() *pdataInstrument }); ok {
		return i.instrument()
	}
	return nil
}

// point appends a point to i's metric, created on its first point.
func (o *pdataObserver) point(i *pdataInstrument, options []metric.ObserveOption) pmetric.NumberDataPoint {
	m := o.meter
	m.mu.Lock()
	defer m.mu.Unlock()
	dst, ok := m.current[i]
	if !ok {
		dst = o.metrics.AppendEmpty()
		dst.SetName(i.name)
		dst.SetUnit(i.unit)
		dst.SetDescription(i.desc)
		if i.sum {
			sum := dst.SetEmptySum()
			sum.SetIsMonotonic(true)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		} else {
			dst.SetEmptyGauge()
		}
		m.current[i] = dst
	}
	var p pmetric.NumberDataPoint
	if i.sum {
		p = dst.Sum().DataPoints().AppendEmpty()
		p.SetStartTimestamp(m.start)
	} else {
		p = dst.Gauge().DataPoints().AppendEmpty()
	}
	p.SetTimestamp(o.now)
	setAttributes(p.Attributes(), metric.NewObserveConfig(options).Attributes())
	return p
}

// appendHistogram appends i's cumulative histogram.
func (m *pdataMeter) appendHistogram(metrics pmetric.MetricSlice, i *pdataInstrument, now pcommon.Timestamp) {
	dst := metrics.AppendEmpty()
	dst.SetName(i.name)
	dst.SetUnit(i.unit)
	dst.SetDescription(i.desc)
	h := dst.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for _, s := range i.histogram.series {
		p := h.DataPoints().AppendEmpty()
		setAttributes(p.Attributes(), s.attrs)
		p.SetStartTimestamp(m.start)
		p.SetTimestamp(now)
		p.SetCount(s.count)
		p.SetSum(s.sum)
		p.ExplicitBounds().FromRaw(i.histogram.bounds)
		p.BucketCounts().FromRaw(s.counts)
	}
}

// appendPacketSizes appends the packet-size histogram, when it has series.
func appendPacketSizes(metrics pmetric.MetricSlice, sizes []pereceiver.PacketSizeSeries) {
	if len(sizes) == 0 {
		return
	}
	dst := metrics.AppendEmpty()
	dst.SetName(metricdef.NetworkPacketSize.Name)
	dst.SetUnit(metricdef.NetworkPacketSize.Unit)
	dst.SetDescription(metricdef.NetworkPacketSize.Description)
	h := dst.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for _, s := range sizes {
		p := h.DataPoints().AppendEmpty()
		setAttributes(p.Attributes(), s.Attributes)
		p.SetStartTimestamp(pcommon.NewTimestampFromTime(s.Start))
		p.SetTimestamp(pcommon.NewTimestampFromTime(s.Time))
		p.SetCount(s.Count)
		p.SetSum(float64(s.Sum))
		p.ExplicitBounds().FromRaw(s.Bounds)
		p.BucketCounts().FromRaw(s.Counts)
	}
}

// setAttributes copies an attribute set into a pdata map.
func setAttributes(dst pcommon.Map, set attribute.Set) {
	dst.EnsureCapacity(set.Len())
	for _, kv := range set.ToSlice() {
		switch kv.Value.Type() {
		case attribute.BOOL:
			dst.PutBool(string(kv.Key), kv.Value.AsBool())
		case attribute.INT64:
			dst.PutInt(string(kv.Key), kv.Value.AsInt64())
		case attribute.FLOAT64:
			dst.PutDouble(string(kv.Key), kv.Value.AsFloat64())
		default:
			dst.PutStr(string(kv.Key), kv.Value.String())
		}
	}
}
