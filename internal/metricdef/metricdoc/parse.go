package metricdoc

import (
	"cmp"
	"fmt"
	"slices"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.yaml.in/yaml/v3"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// Metadata is what the definitions take of a metadata.yaml.
type Metadata struct {
	// ScopeName is the instrumentation scope of every metric.
	ScopeName string
	// Metrics are the definitions, in the file's order.
	Metrics []*metricdef.Definition
	// Keys are the attribute keys declared (after name_override), each
	// once, in the order of their first declaration.
	Keys []attribute.Key
}

// Load parses metricdef's metadata.yaml (metricdef.MetadataYAML), once.
var Load = sync.OnceValues(func() (Metadata, error) { return Parse(metricdef.MetadataYAML) })

// The parts of the Collector's metadata.yaml format that the definitions
// take (mdatagen's schema; the other keys are the Collector's).
type (
	metadataFile struct {
		ScopeName  string    `yaml:"scope_name"`
		Attributes yaml.Node `yaml:"attributes"`
		Metrics    yaml.Node `yaml:"metrics"`
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

// Parse reads the definitions of a metadata.yaml.
func Parse(data []byte) (Metadata, error) {
	var f metadataFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		return Metadata{}, err
	}
	md := Metadata{ScopeName: f.ScopeName}
	attributes := map[string]metadataAttribute{}
	err := forEachEntry(&f.Attributes, "attributes", func(ref string, n *yaml.Node) error {
		var a metadataAttribute
		if err := n.Decode(&a); err != nil {
			return err
		}
		attributes[ref] = a
		if key := attribute.Key(cmp.Or(a.NameOverride, ref)); !slices.Contains(md.Keys, key) {
			md.Keys = append(md.Keys, key)
		}
		return nil
	})
	if err != nil {
		return Metadata{}, err
	}
	seen := map[string]bool{}
	err = forEachEntry(&f.Metrics, "metrics", func(name string, n *yaml.Node) error {
		var m metadataMetric
		if err := n.Decode(&m); err != nil {
			return err
		}
		d, err := m.definition(name, attributes)
		if err != nil {
			return err
		}
		if seen[name] {
			return fmt.Errorf("declared twice")
		}
		seen[name] = true
		md.Metrics = append(md.Metrics, d)
		return nil
	})
	return md, err
}

// forEachEntry calls fn for each entry of the mapping n (section, which may
// be absent), in order; an error is returned with the entry's name.
func forEachEntry(n *yaml.Node, section string, fn func(name string, value *yaml.Node) error) error {
	if n.Kind == 0 { // absent
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: not a mapping", section)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if err := fn(n.Content[i].Value, n.Content[i+1]); err != nil {
			return fmt.Errorf("%s: %w", n.Content[i].Value, err)
		}
	}
	return nil
}

// definition turns one metric's entry into its definition.
func (m metadataMetric) definition(name string, attributes map[string]metadataAttribute) (*metricdef.Definition, error) {
	d := &metricdef.Definition{Name: name, Description: m.Description, ExtendedDocumentation: m.ExtendedDocumentation, Enabled: m.Enabled}
	var values *metadataValues
	switch {
	case m.Sum != nil && m.Gauge == nil && m.Histogram == nil:
		d.Kind, values = metricdef.Counter, m.Sum
		if !m.Sum.Monotonic || m.Sum.AggregationKind != "cumulative" {
			return nil, fmt.Errorf("a sum must be monotonic and cumulative")
		}
	case m.Gauge != nil && m.Sum == nil && m.Histogram == nil:
		d.Kind, values = metricdef.Gauge, m.Gauge
	case m.Histogram != nil && m.Sum == nil && m.Gauge == nil:
		d.Kind, values = metricdef.Histogram, m.Histogram
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
		if slices.ContainsFunc(d.AllAttributes, func(b metricdef.Attribute) bool { return b.Key == key }) {
			return nil, fmt.Errorf("attribute %s listed twice", key)
		}
		conditional := a.RequirementLevel == "conditionally_required"
		d.AllAttributes = append(d.AllAttributes, metricdef.Attribute{Key: key, Description: a.Description, Values: a.Enum, Conditional: conditional})
		if !conditional { // else on some series only
			d.Attributes = append(d.Attributes, key)
		}
	}
	return d, nil
}
