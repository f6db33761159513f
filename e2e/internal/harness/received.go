package harness

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Point is one number data point the collector received, flattened with
// everything around it.
type Point struct {
	// Line is the index (from 0) of the output line, i.e. of the batch the
	// collector's exporter got, and Export the index of the resource's metrics
	// within all received (one per OTLP export of a single-resource sender,
	// unless the batch processor split it).
	Line, Export int
	// Resource holds the resource attributes, as strings.
	Resource map[string]string
	// Scope is the instrumentation scope name.
	Scope string

	Metric string
	Unit   string
	// Type is the metric type: "Sum", "Gauge", ...
	Type string
	// Temporality is "Cumulative" or "Delta" for sums, "" otherwise.
	Temporality string
	Monotonic   bool

	// Attrs holds the data point's attributes, as strings.
	Attrs       map[string]string
	Start, Time time.Time
	// Int is the value of an integer point; Double that of a double point
	// (and the integer's value converted).
	Int    int64
	Double float64
	IsInt  bool
}

// Received is everything the collector wrote so far.
type Received struct {
	// Lines is the number of complete lines (batches).
	Lines int
	// Exports is the number of resource-metrics entries.
	Exports int
	// Points are the number data points, in order of arrival.
	Points []Point
}

// ReadReceived parses the collector's output file. A missing file is read as
// empty (the collector creates it when it starts); a last line without its
// newline is still being written and is left out.
func ReadReceived(path string) (*Received, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return &Received{}, nil
	}
	if err != nil {
		return nil, err
	}
	r := &Received{}
	var um pmetric.JSONUnmarshaler
	for len(b) > 0 {
		line, rest, complete := bytes.Cut(b, []byte("\n"))
		if !complete {
			break
		}
		b = rest
		md, err := um.UnmarshalMetrics(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, r.Lines+1, err)
		}
		r.add(md)
		r.Lines++
	}
	return r, nil
}

func (r *Received) add(md pmetric.Metrics) {
	for _, rm := range md.ResourceMetrics().All() {
		res := attrMap(rm.Resource().Attributes())
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				base := Point{
					Line:     r.Lines,
					Export:   r.Exports,
					Resource: res,
					Scope:    sm.Scope().Name(),
					Metric:   m.Name(),
					Unit:     m.Unit(),
					Type:     m.Type().String(),
				}
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
					base.Temporality = m.Sum().AggregationTemporality().String()
					base.Monotonic = m.Sum().IsMonotonic()
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				default:
					// Histograms and summaries: only the metric is recorded.
					r.Points = append(r.Points, base)
					continue
				}
				for _, dp := range dps.All() {
					p := base
					p.Attrs = attrMap(dp.Attributes())
					p.Start = dp.StartTimestamp().AsTime()
					p.Time = dp.Timestamp().AsTime()
					switch dp.ValueType() {
					case pmetric.NumberDataPointValueTypeInt:
						p.IsInt, p.Int, p.Double = true, dp.IntValue(), float64(dp.IntValue())
					case pmetric.NumberDataPointValueTypeDouble:
						p.Double = dp.DoubleValue()
					}
					r.Points = append(r.Points, p)
				}
			}
		}
		r.Exports++
	}
}

func attrMap(m pcommon.Map) map[string]string {
	out := make(map[string]string, m.Len())
	for k, v := range m.All() {
		out[k] = v.AsString()
	}
	return out
}

// Of returns the points of metric whose attributes include all of match.
func (r *Received) Of(metric string, match map[string]string) []Point {
	var out []Point
	for _, p := range r.Points {
		if p.Metric == metric && includes(p.Attrs, match) {
			out = append(out, p)
		}
	}
	return out
}

// Since returns a copy of r with only the points of lines >= line.
func (r *Received) Since(line int) *Received {
	out := &Received{Lines: r.Lines, Exports: r.Exports}
	for _, p := range r.Points {
		if p.Line >= line {
			out.Points = append(out.Points, p)
		}
	}
	return out
}

// Latest returns, per attribute set (see AttrKey), the point with the latest
// timestamp (the later one in arrival order on a tie).
func Latest(points []Point) map[string]Point {
	out := map[string]Point{}
	for _, p := range points {
		k := AttrKey(p.Attrs)
		if q, ok := out[k]; !ok || !p.Time.Before(q.Time) {
			out[k] = p
		}
	}
	return out
}

// AttrKey is a canonical string of an attribute set: k=v pairs sorted by key.
func AttrKey(attrs map[string]string) string {
	keys := slices.Sorted(maps.Keys(attrs))
	var sb strings.Builder
	for i, k := range keys {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "%s=%q", k, attrs[k])
	}
	return sb.String()
}

func includes(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}
