// Package metricdef defines every metric packet-exporter exports, from one
// declaration: metadata.yaml, in the OpenTelemetry Collector's format (name,
// whether it is on by default, instrument kind, unit, description and the
// attributes every series of it carries), with the documentation the
// README's metric tables are generated from. cmd/metricgen (go generate)
// writes those tables and names_generated.go, each definition under the Go
// name metricdoc.GoName makes of it. The instruments are created from these
// definitions. They are
// the product's public contract: extend them, never rename or reshape them.
package metricdef

import (
	"cmp"
	_ "embed"
	"fmt"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.yaml.in/yaml/v3"
)

// ScopeName is the instrumentation scope of every metric.
var ScopeName = metadata.ScopeName

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
	Collector          = attribute.Key("collector")
)

// All lists every metric of metadata.yaml, in its order.
var All = metadata.all

// ByName returns the definition of the metric named name.
func ByName(name string) (*Definition, bool) {
	d, ok := metadata.definitions[name]
	return d, ok
}

// lookup returns a copy of the definition of the metric named name, for
// names_generated.go; a name metadata.yaml no longer declares gives the
// empty definition until make generate writes the file again (and the
// package's tests fail until then), rather than a package that cannot
// start, not even to generate.
func lookup(name string) Definition {
	if d, ok := ByName(name); ok {
		return *d
	}
	return Definition{}
}

//go:embed metadata.yaml
var metadataYAML []byte

// metadata is metadata.yaml, read once.
var metadata = mustParse(metadataYAML)

// parsed is what the package takes of metadata.yaml.
type parsed struct {
	ScopeName   string
	definitions map[string]*Definition
	all         []*Definition   // in the file's order
	keys        map[string]bool // the attribute keys declared
}

// The parts of the Collector's metadata.yaml format that the definitions
// take (mdatagen's schema; the other keys are the Collector's).
type (
	metadataFile struct {
		ScopeName  string                       `yaml:"scope_name"`
		Attributes map[string]metadataAttribute `yaml:"attributes"`
		Metrics    yaml.Node                    `yaml:"metrics"`
	}
	metadataAttribute struct {
		NameOverride     string   `yaml:"name_override"`
		Description      string   `yaml:"description"`
		Enum             []string `yaml:"enum"`
		RequirementLevel string   `yaml:"requirement_level"`
	}
	metadataMetric struct {
		Enabled               bool            `yaml:"enabled"`
		Description           string          `yaml:"description"`
		ExtendedDocumentation string          `yaml:"extended_documentation"`
		Unit                  *string         `yaml:"unit"`
		Sum                   *metadataValues `yaml:"sum"`
		Gauge                 *metadataValues `yaml:"gauge"`
		Histogram             *metadataValues `yaml:"histogram"`
		Attributes            []string        `yaml:"attributes"`
	}
	metadataValues struct {
		ValueType       string    `yaml:"value_type"`
		Monotonic       bool      `yaml:"monotonic"`
		BucketSizes     []float64 `yaml:"bucket_boundaries"`
		AggregationKind string    `yaml:"aggregation_temporality"`
	}
)

func mustParse(data []byte) parsed {
	p, err := parse(data)
	if err != nil {
		panic("metricdef: metadata.yaml: " + err.Error())
	}
	return p
}

// parse reads the definitions of a metadata.yaml.
func parse(data []byte) (parsed, error) {
	var f metadataFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		return parsed{}, err
	}
	p := parsed{ScopeName: f.ScopeName, definitions: map[string]*Definition{}, keys: map[string]bool{}}
	for ref, a := range f.Attributes {
		p.keys[cmp.Or(a.NameOverride, ref)] = true
	}
	if f.Metrics.Kind != yaml.MappingNode {
		return parsed{}, fmt.Errorf("metrics: not a mapping")
	}
	for i := 0; i+1 < len(f.Metrics.Content); i += 2 {
		name := f.Metrics.Content[i].Value
		var m metadataMetric
		if err := f.Metrics.Content[i+1].Decode(&m); err != nil {
			return parsed{}, fmt.Errorf("%s: %w", name, err)
		}
		d, err := m.definition(name, f.Attributes)
		if err != nil {
			return parsed{}, fmt.Errorf("%s: %w", name, err)
		}
		if _, dup := p.definitions[name]; dup {
			return parsed{}, fmt.Errorf("%s: declared twice", name)
		}
		p.definitions[name] = d
		p.all = append(p.all, d)
	}
	return p, nil
}

// definition turns one metric's entry into its definition.
func (m metadataMetric) definition(name string, attributes map[string]metadataAttribute) (*Definition, error) {
	d := &Definition{Name: name, Description: m.Description, ExtendedDocumentation: m.ExtendedDocumentation, Enabled: m.Enabled}
	var values *metadataValues
	switch {
	case m.Sum != nil && m.Gauge == nil && m.Histogram == nil:
		d.Kind, values = Counter, m.Sum
		if !m.Sum.Monotonic || m.Sum.AggregationKind != "cumulative" {
			return nil, fmt.Errorf("a sum must be monotonic and cumulative")
		}
	case m.Gauge != nil && m.Sum == nil && m.Histogram == nil:
		d.Kind, values = Gauge, m.Gauge
	case m.Histogram != nil && m.Sum == nil && m.Gauge == nil:
		d.Kind, values = Histogram, m.Histogram
		d.Buckets = m.Histogram.BucketSizes
	default:
		return nil, fmt.Errorf("exactly one of sum, gauge and histogram")
	}
	switch values.ValueType {
	case "int":
	case "double":
		d.Float = true
	default:
		return nil, fmt.Errorf("value_type %q, not int or double", values.ValueType)
	}
	if m.Unit == nil || m.Description == "" {
		return nil, fmt.Errorf("a unit and a description are required")
	}
	d.Unit = *m.Unit
	for _, ref := range m.Attributes {
		a, ok := attributes[ref]
		if !ok {
			return nil, fmt.Errorf("attribute %s is not declared", ref)
		}
		if a.Description == "" {
			return nil, fmt.Errorf("attribute %s has no description", ref)
		}
		key := attribute.Key(cmp.Or(a.NameOverride, ref))
		if slices.ContainsFunc(d.AllAttributes, func(b Attribute) bool { return b.Key == key }) {
			return nil, fmt.Errorf("attribute %s listed twice", key)
		}
		conditional := a.RequirementLevel == "conditionally_required"
		d.AllAttributes = append(d.AllAttributes, Attribute{Key: key, Description: a.Description, Values: a.Enum, Conditional: conditional})
		if !conditional { // else on some series only
			d.Attributes = append(d.Attributes, key)
		}
	}
	return d, nil
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
