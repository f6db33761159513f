package packetexporterreceiver

import (
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// toPdata converts one collection of the SDK to the collector's data model:
// scopes, metrics and their points, for the aggregations packet-exporter
// makes (sums and gauges of int64 or float64, explicit-bucket histograms).
// The SDK's resource (the agent's service.name, host.name) is left out: in
// a collector the resource is the pipeline's to set. Any other aggregation
// is an error, so that a new kind of metric cannot go missing unnoticed.
func toPdata(rm metricdata.ResourceMetrics) (pmetric.Metrics, error) {
	out := pmetric.NewMetrics()
	scopes := out.ResourceMetrics().AppendEmpty().ScopeMetrics()
	for _, sm := range rm.ScopeMetrics {
		scope := scopes.AppendEmpty()
		scope.Scope().SetName(sm.Scope.Name)
		scope.Scope().SetVersion(sm.Scope.Version)
		scope.SetSchemaUrl(sm.Scope.SchemaURL)
		for _, m := range sm.Metrics {
			if err := appendMetric(scope.Metrics().AppendEmpty(), m); err != nil {
				return pmetric.NewMetrics(), err
			}
		}
	}
	return out, nil
}

// appendMetric fills dst with m.
func appendMetric(dst pmetric.Metric, m metricdata.Metrics) error {
	dst.SetName(m.Name)
	dst.SetDescription(m.Description)
	dst.SetUnit(m.Unit)
	switch data := m.Data.(type) {
	case metricdata.Sum[int64]:
		appendSum(dst.SetEmptySum(), data, pmetric.NumberDataPoint.SetIntValue)
	case metricdata.Sum[float64]:
		appendSum(dst.SetEmptySum(), data, pmetric.NumberDataPoint.SetDoubleValue)
	case metricdata.Gauge[int64]:
		appendNumbers(dst.SetEmptyGauge().DataPoints(), data.DataPoints, pmetric.NumberDataPoint.SetIntValue)
	case metricdata.Gauge[float64]:
		appendNumbers(dst.SetEmptyGauge().DataPoints(), data.DataPoints, pmetric.NumberDataPoint.SetDoubleValue)
	case metricdata.Histogram[int64]:
		appendHistogram(dst.SetEmptyHistogram(), data)
	case metricdata.Histogram[float64]:
		appendHistogram(dst.SetEmptyHistogram(), data)
	default:
		return fmt.Errorf("metric %s: aggregation %T not supported", m.Name, m.Data)
	}
	return nil
}

func appendSum[N int64 | float64](dst pmetric.Sum, src metricdata.Sum[N], set func(pmetric.NumberDataPoint, N)) {
	dst.SetIsMonotonic(src.IsMonotonic)
	dst.SetAggregationTemporality(temporality(src.Temporality))
	appendNumbers(dst.DataPoints(), src.DataPoints, set)
}

func appendNumbers[N int64 | float64](dst pmetric.NumberDataPointSlice, src []metricdata.DataPoint[N], set func(pmetric.NumberDataPoint, N)) {
	dst.EnsureCapacity(len(src))
	for _, p := range src {
		point := dst.AppendEmpty()
		setAttributes(point.Attributes(), p.Attributes)
		point.SetStartTimestamp(timestamp(p.StartTime))
		point.SetTimestamp(timestamp(p.Time))
		set(point, p.Value)
	}
}

func appendHistogram[N int64 | float64](dst pmetric.Histogram, src metricdata.Histogram[N]) {
	dst.SetAggregationTemporality(temporality(src.Temporality))
	points := dst.DataPoints()
	points.EnsureCapacity(len(src.DataPoints))
	for _, p := range src.DataPoints {
		point := points.AppendEmpty()
		setAttributes(point.Attributes(), p.Attributes)
		point.SetStartTimestamp(timestamp(p.StartTime))
		point.SetTimestamp(timestamp(p.Time))
		point.SetCount(p.Count)
		point.SetSum(float64(p.Sum))
		if v, ok := p.Min.Value(); ok {
			point.SetMin(float64(v))
		}
		if v, ok := p.Max.Value(); ok {
			point.SetMax(float64(v))
		}
		point.ExplicitBounds().FromRaw(p.Bounds)
		point.BucketCounts().FromRaw(p.BucketCounts)
	}
}

func temporality(t metricdata.Temporality) pmetric.AggregationTemporality {
	switch t {
	case metricdata.CumulativeTemporality:
		return pmetric.AggregationTemporalityCumulative
	case metricdata.DeltaTemporality:
		return pmetric.AggregationTemporalityDelta
	}
	return pmetric.AggregationTemporalityUnspecified
}

func timestamp(t time.Time) pcommon.Timestamp {
	if t.IsZero() {
		return 0
	}
	return pcommon.NewTimestampFromTime(t)
}

// setAttributes copies set into dst with each value's type kept.
func setAttributes(dst pcommon.Map, set attribute.Set) {
	dst.EnsureCapacity(set.Len())
	for it := set.Iter(); it.Next(); {
		kv := it.Attribute()
		key := string(kv.Key)
		switch kv.Value.Type() {
		case attribute.BOOL:
			dst.PutBool(key, kv.Value.AsBool())
		case attribute.INT64:
			dst.PutInt(key, kv.Value.AsInt64())
		case attribute.FLOAT64:
			dst.PutDouble(key, kv.Value.AsFloat64())
		case attribute.STRING:
			dst.PutStr(key, kv.Value.AsString())
		default:
			// Slices: packet-exporter sets none; their string form keeps
			// the information.
			dst.PutStr(key, kv.Value.String())
		}
	}
}
