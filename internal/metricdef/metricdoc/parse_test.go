package metricdoc

import (
	"reflect"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
)

// TestParse checks what a metadata.yaml entry becomes, and that entries the
// definitions cannot take are refused with the metric's name.
func TestParse(t *testing.T) {
	const attributes = `
attributes:
  a: {description: x, type: string}
  b: {description: y, type: string, enum: [v, w], requirement_level: conditionally_required}
  c: {description: x, type: string, name_override: a}
  d: {type: string}
metrics:
`
	for _, tc := range []struct {
		name, metric string
		want         metricdef.Definition
		err          string
	}{
		{name: "sum", metric: `m: {enabled: true, description: d, extended_documentation: e, unit: By, sum: {value_type: int, monotonic: true, aggregation_temporality: cumulative}, attributes: [a, b]}`,
			want: metricdef.Definition{Name: "m", Kind: metricdef.Counter, Unit: "By", Description: "d", ExtendedDocumentation: "e", Attributes: []attribute.Key{"a"},
				AllAttributes: []metricdef.Attribute{{Key: "a", Description: "x"}, {Key: "b", Description: "y", Values: []string{"v", "w"}, Conditional: true}}, Enabled: true}},
		{name: "name override", metric: `m: {enabled: true, description: d, unit: "", gauge: {value_type: int}, attributes: [c]}`,
			want: metricdef.Definition{Name: "m", Kind: metricdef.Gauge, Description: "d", Attributes: []attribute.Key{"a"}, AllAttributes: []metricdef.Attribute{{Key: "a", Description: "x"}}, Enabled: true}},
		{name: "gauge off", metric: `m: {enabled: false, description: d, unit: "", gauge: {value_type: double}}`,
			want: metricdef.Definition{Name: "m", Kind: metricdef.Gauge, Float: true, Description: "d"}},
		{name: "histogram", metric: `m: {enabled: true, description: d, unit: s, histogram: {value_type: double, bucket_boundaries: [1, 2]}}`,
			want: metricdef.Definition{Name: "m", Kind: metricdef.Histogram, Float: true, Unit: "s", Description: "d", Buckets: []float64{1, 2}, Enabled: true}},
		{name: "no unit", metric: `m: {enabled: true, description: d, gauge: {value_type: int}}`, err: "m: a unit"},
		{name: "two kinds", metric: `m: {enabled: true, description: d, unit: "", gauge: {value_type: int}, sum: {value_type: int}}`, err: "m: exactly one"},
		{name: "delta sum", metric: `m: {enabled: true, description: d, unit: "", sum: {value_type: int, monotonic: true, aggregation_temporality: delta}}`, err: "m: a sum"},
		{name: "value type", metric: `m: {enabled: true, description: d, unit: "", gauge: {value_type: string}}`, err: `m: value_type "string"`},
		{name: "undeclared attribute", metric: `m: {enabled: true, description: d, unit: "", gauge: {value_type: int}, attributes: [z]}`, err: "m: attribute z is not declared"},
		{name: "attribute twice", metric: `m: {enabled: true, description: d, unit: "", gauge: {value_type: int}, attributes: [a, c]}`, err: "m: attribute a listed twice"},
		{name: "attribute undescribed", metric: `m: {enabled: true, description: d, unit: "", gauge: {value_type: int}, attributes: [d]}`, err: "m: attribute d has no description"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md, err := Parse([]byte(attributes + "  " + tc.metric + "\n"))
			if testenv.ErrorPrefix(t, err, tc.err) {
				return
			}
			if len(md.Metrics) != 1 || !reflect.DeepEqual(*md.Metrics[0], tc.want) {
				t.Errorf("got %+v, want %+v", md.Metrics, tc.want)
			}
		})
	}
}
