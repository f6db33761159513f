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
// collectors observe straight into pdata, with no SDK in between: collect runs
// the registered callbacks with an observer appending each observation to a
// fresh pmetric.Metrics. It implements what the collectors use (observable
// int64 and float64 counters and gauges, a float64 histogram recorded during
// the callbacks); every other instrument is the no-op one.
type pdataMeter struct {
	noop.Meter
	version  string
	start    pcommon.Timestamp // of every cumulative sum
	disabled []string          // metrics switched off: observations go nowhere

	collecting  sync.Mutex // serializes collections
	mu          sync.Mutex // guards the rest
	instruments []*pdataInstrument
	callbacks   []*pdataRegistration
	current     map[*pdataInstrument]pmetric.NumberDataPointSlice // of the collection running
}

// pdataInstrument is one instrument: its definition, and a histogram's
// cumulative state. The types below make it each kind of instrument.
type pdataInstrument struct {
	meter *pdataMeter
	name  string
	unit  string
	desc  string
	sum   bool // a monotonic cumulative sum; a gauge otherwise
	// A histogram's bucket bounds and cumulative points by attribute set.
	bounds []float64
	series map[attribute.Distinct]pmetric.HistogramDataPoint
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

// pdataRegistration is one registered callback.
type pdataRegistration struct {
	noop.Registration
	meter    *pdataMeter
	callback metric.Callback
}

func newPdataMeter(version string, disabled []string) *pdataMeter {
	return &pdataMeter{version: version, start: pcommon.NewTimestampFromTime(time.Now()), disabled: disabled}
}

// instrument returns the instrument named name, created on its first
// request, nil when switched off (its observations and records are dropped).
func (m *pdataMeter) instrument(name, unit, desc string, sum bool) *pdataInstrument {
	if slices.Contains(m.disabled, name) {
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
	i := &pdataInstrument{meter: m, name: name, unit: unit, desc: desc, sum: sum}
	m.instruments = append(m.instruments, i)
	return i
}

// Int64ObservableCounter creates an observable int64 counter.
func (m *pdataMeter) Int64ObservableCounter(name string, options ...metric.Int64ObservableCounterOption) (metric.Int64ObservableCounter, error) {
	c := metric.NewInt64ObservableCounterConfig(options...)
	return int64Counter{pdataInstrument: m.instrument(name, c.Unit(), c.Description(), true)}, nil
}

// Int64ObservableGauge creates an observable int64 gauge.
func (m *pdataMeter) Int64ObservableGauge(name string, options ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	c := metric.NewInt64ObservableGaugeConfig(options...)
	return int64Gauge{pdataInstrument: m.instrument(name, c.Unit(), c.Description(), false)}, nil
}

// Float64ObservableCounter creates an observable float64 counter.
func (m *pdataMeter) Float64ObservableCounter(name string, options ...metric.Float64ObservableCounterOption) (metric.Float64ObservableCounter, error) {
	c := metric.NewFloat64ObservableCounterConfig(options...)
	return float64Counter{pdataInstrument: m.instrument(name, c.Unit(), c.Description(), true)}, nil
}

// Float64ObservableGauge creates an observable float64 gauge.
func (m *pdataMeter) Float64ObservableGauge(name string, options ...metric.Float64ObservableGaugeOption) (metric.Float64ObservableGauge, error) {
	c := metric.NewFloat64ObservableGaugeConfig(options...)
	return float64Gauge{pdataInstrument: m.instrument(name, c.Unit(), c.Description(), false)}, nil
}

// Float64Histogram creates a float64 histogram with explicit buckets, whose
// records during a collection's callbacks it reports, cumulative.
func (m *pdataMeter) Float64Histogram(name string, options ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	c := metric.NewFloat64HistogramConfig(options...)
	i := m.instrument(name, c.Unit(), c.Description(), false)
	if i != nil {
		i.bounds, i.series = c.ExplicitBucketBoundaries(), map[attribute.Distinct]pmetric.HistogramDataPoint{}
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
	i := h.pdataInstrument
	if i == nil {
		return
	}
	attrs := metric.NewRecordConfig(options).Attributes()
	i.meter.mu.Lock()
	defer i.meter.mu.Unlock()
	p, ok := i.series[attrs.Equivalent()]
	if !ok {
		p = pmetric.NewHistogramDataPoint()
		setAttributes(p.Attributes(), attrs)
		p.SetStartTimestamp(i.meter.start)
		p.ExplicitBounds().FromRaw(i.bounds)
		p.BucketCounts().FromRaw(make([]uint64, len(i.bounds)+1))
		i.series[attrs.Equivalent()] = p
	}
	bucket, _ := slices.BinarySearch(i.bounds, v) // upper bounds are inclusive
	p.BucketCounts().SetAt(bucket, p.BucketCounts().At(bucket)+1)
	p.SetCount(p.Count() + 1)
	p.SetSum(p.Sum() + v)
}

// collect runs every callback and returns what they observed, with the
// packet-size histogram of sizes (Receiver.PacketSizes, nil for none), under
// packet-exporter's scope; the collector's pipeline sets the resource.
func (m *pdataMeter) collect(ctx context.Context, sizes func() ([]pereceiver.PacketSizeSeries, error),
	starts func(metric string, attrs attribute.Set) (time.Time, bool)) (pmetric.Metrics, error) {
	md := pmetric.NewMetrics()
	scope := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	scope.Scope().SetName(metricdef.ScopeName)
	scope.Scope().SetVersion(m.version)
	now := pcommon.NewTimestampFromTime(time.Now())

	m.collecting.Lock()
	defer m.collecting.Unlock()
	m.mu.Lock()
	m.current = map[*pdataInstrument]pmetric.NumberDataPointSlice{}
	callbacks := slices.Clone(m.callbacks)
	m.mu.Unlock()
	obs := &pdataObserver{meter: m, metrics: scope.Metrics(), now: now, starts: starts}
	var errs []error
	for _, r := range callbacks {
		errs = append(errs, r.callback(ctx, obs))
	}
	m.mu.Lock()
	for _, i := range m.instruments {
		if len(i.series) == 0 {
			continue
		}
		points := appendHistogram(scope.Metrics(), i.name, i.unit, i.desc)
		for _, s := range i.series {
			p := points.AppendEmpty()
			s.CopyTo(p)
			p.SetTimestamp(now)
		}
	}
	m.current = nil
	m.mu.Unlock()
	if sizes != nil && !slices.Contains(m.disabled, metricdef.NetworkPacketSize.Name) {
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
	// starts gives the start of the series begun before this run (persistence).
	starts func(metric string, attrs attribute.Set) (time.Time, bool)
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
	points, ok := m.current[i]
	if !ok {
		dst := appendMetric(o.metrics, i.name, i.unit, i.desc)
		if i.sum {
			sum := dst.SetEmptySum()
			sum.SetIsMonotonic(true)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			points = sum.DataPoints()
		} else {
			points = dst.SetEmptyGauge().DataPoints()
		}
		m.current[i] = points
	}
	p := points.AppendEmpty()
	attrs := metric.NewObserveConfig(options).Attributes()
	if i.sum {
		p.SetStartTimestamp(m.start)
		if start, ok := o.starts(i.name, attrs); ok {
			p.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		}
	}
	p.SetTimestamp(o.now)
	setAttributes(p.Attributes(), attrs)
	return p
}

// appendPacketSizes appends the packet-size histogram, when it has series.
func appendPacketSizes(metrics pmetric.MetricSlice, sizes []pereceiver.PacketSizeSeries) {
	if len(sizes) == 0 {
		return
	}
	d := metricdef.NetworkPacketSize
	points := appendHistogram(metrics, d.Name, d.Unit, d.Description)
	for _, s := range sizes {
		p := points.AppendEmpty()
		setAttributes(p.Attributes(), s.Attributes)
		p.SetStartTimestamp(pcommon.NewTimestampFromTime(s.Start))
		p.SetTimestamp(pcommon.NewTimestampFromTime(s.Time))
		p.SetCount(s.Count)
		p.SetSum(float64(s.Sum))
		p.ExplicitBounds().FromRaw(s.Bounds)
		p.BucketCounts().FromRaw(s.Counts)
	}
}

// appendMetric appends a metric of that name, unit and description.
func appendMetric(metrics pmetric.MetricSlice, name, unit, desc string) pmetric.Metric {
	m := metrics.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	m.SetDescription(desc)
	return m
}

// appendHistogram appends a cumulative histogram metric and returns its points.
func appendHistogram(metrics pmetric.MetricSlice, name, unit, desc string) pmetric.HistogramDataPointSlice {
	h := appendMetric(metrics, name, unit, desc).SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	return h.DataPoints()
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
