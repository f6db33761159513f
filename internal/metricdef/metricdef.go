// Package metricdef defines every metric packet-exporter exports, from one
// declaration: metadata.yaml, in the OpenTelemetry Collector's format (name,
// whether it is on by default, instrument kind, unit, description and the
// attributes every series of it carries), with the documentation the
// README's metric tables are generated from. cmd/metricgen (go generate)
// writes those tables and metadata_generated.go, each definition under the
// Go name metricdoc.GoName makes of it. The instruments are created from
// these definitions. They are the product's public contract: extend them,
// never rename or reshape them.
package metricdef

import (
	_ "embed"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

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
	if names := [...]string{"counter", "gauge", "histogram"}; k >= 0 && int(k) < len(names) {
		return names[k]
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
	// ExtendedDocumentation is what the documentation says of the metric
	// after its description (extended_documentation), empty for nothing.
	ExtendedDocumentation string
	// Attributes are the attribute keys every series carries (some metrics
	// add others under conditions AllAttributes and ExtendedDocumentation
	// give).
	Attributes []attribute.Key
	// AllAttributes are the attributes metadata.yaml gives the metric, in
	// its order, conditionally required ones included.
	AllAttributes []Attribute
	// Buckets are a histogram's explicit bucket boundaries, when an
	// instrument records it.
	Buckets []float64
	// Enabled tells whether the metric is exported unless the
	// configuration switches it off (metrics.<name>.enabled).
	Enabled bool
}

// Attribute is an attribute of a metric's series as metadata.yaml declares it.
type Attribute struct {
	// Key is the attribute's name on the series (its name_override, if any).
	Key attribute.Key
	// Description says what the value is and, for a conditional attribute,
	// which series carry it.
	Description string
	// Values are the values it takes, when metadata.yaml lists them (enum).
	Values []string
	// Conditional is set when only some series carry it
	// (requirement_level: conditionally_required).
	Conditional bool
}

// LibraryMetric is a metric a library exports for the agent, of the agent
// process itself rather than of the network it counts: the Prometheus
// client's process and Go collectors on /metrics, the OpenTelemetry runtime
// and host instrumentations over OTLP (internal/telemetry). Their names and
// meanings are the libraries'; Library lists them as they describe them.
type LibraryMetric struct {
	// Name is the metric's name where it is exported.
	Name string
	// OTLP is set for a metric sent over OTLP; the others are on /metrics.
	OTLP bool
	// Type is the metric's type as its exposition names it (counter, gauge,
	// summary; an OTLP sum that is not monotonic is an up-down counter).
	Type string
	// Unit is the UCUM unit of an OTLP metric, empty for none (a Prometheus
	// name says its unit).
	Unit string
	// Attributes are the keys of its attributes (labels).
	Attributes []string
	// Description is the library's description (HELP).
	Description string
}

// ByName returns the definition of the metric named name.
func ByName(name string) (*Definition, bool) {
	d, ok := byName[name]
	return d, ok
}

var byName = func() map[string]*Definition {
	m := make(map[string]*Definition, len(All))
	for _, d := range All {
		m[d.Name] = d
	}
	return m
}()

// MetadataYAML is metadata.yaml, which metricdoc reads to generate
// metadata_generated.go, the README's metric tables and the Collector
// receiver's documentation.
//
//go:embed metadata.yaml
var MetadataYAML []byte

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

// Float64Gauge creates d, a float64 gauge, as an observable gauge of meter.
func (d *Definition) Float64Gauge(meter metric.Meter) (metric.Float64ObservableGauge, error) {
	if err := d.check(Gauge, true); err != nil {
		return nil, err
	}
	return meter.Float64ObservableGauge(d.Name, metric.WithUnit(d.Unit), metric.WithDescription(d.Description))
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
