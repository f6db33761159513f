package metricdef_test

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/telemetry"
)

// readmeRow is one row of a README metric table, by column header.
type readmeRow struct {
	line  int
	cells map[string]string
}

// readmeMetrics returns the rows of the README's tables whose first column
// is "OpenTelemetry", by metric name. A row whose attributes are "the same"
// takes the previous row's.
func readmeMetrics(t *testing.T) map[string]readmeRow {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]readmeRow{}
	var header []string
	previousAttributes := ""
	for i, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "|") {
			header = nil
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		switch {
		case header == nil:
			if cells[0] == "OpenTelemetry" {
				header = cells
			} else {
				header = []string{} // a table of something else
			}
			continue
		case len(header) == 0 || strings.HasPrefix(cells[0], "---"):
			continue
		}
		row := readmeRow{line: i + 1, cells: map[string]string{}}
		for j, h := range header {
			if j < len(cells) {
				row.cells[h] = cells[j]
			}
		}
		if row.cells["attributes"] == "the same" {
			row.cells["attributes"] = previousAttributes
		}
		previousAttributes = row.cells["attributes"]
		name := strings.Trim(cells[0], "`")
		if _, dup := rows[name]; dup {
			t.Errorf("README.md:%d: %s is in the tables twice", i+1, name)
		}
		rows[name] = row
	}
	return rows
}

// prometheusName returns the name the Prometheus bridge, as the exporter
// configures it, gives to the metric d.
func prometheusName(t *testing.T, d *metricdef.Definition) string {
	t.Helper()
	p, err := telemetry.New(telemetry.Options{Prometheus: true, CardinalityLimit: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	meter := p.Meter("test")
	attrs := metric.WithAttributes(attribute.String("a", "b"))
	switch {
	case d.Kind == metricdef.Histogram && d.Float:
		h, err := d.Float64Histogram(meter)
		if err != nil {
			t.Fatal(err)
		}
		h.Record(context.Background(), 1, attrs)
	case d.Kind == metricdef.Histogram:
		// Made by a producer, not an instrument: the same name, unit and kind.
		h, err := meter.Int64Histogram(d.Name, metric.WithUnit(d.Unit), metric.WithDescription(d.Description))
		if err != nil {
			t.Fatal(err)
		}
		h.Record(context.Background(), 1, attrs)
	default:
		var instrument metric.Observable
		switch {
		case d.Kind == metricdef.Counter && d.Float:
			instrument, err = d.Float64Counter(meter)
		case d.Kind == metricdef.Counter:
			instrument, err = d.Int64Counter(meter)
		case d.Float:
			instrument, err = d.Float64Gauge(meter)
		default:
			instrument, err = d.Int64Gauge(meter)
		}
		if err != nil {
			t.Fatal(err)
		}
		_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			switch i := instrument.(type) {
			case metric.Float64Observable:
				o.ObserveFloat64(i, 1, attrs)
			case metric.Int64Observable:
				o.ObserveInt64(i, 1, attrs)
			}
			return nil
		}, instrument)
		if err != nil {
			t.Fatal(err)
		}
	}
	families, err := p.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		if f.GetName() != "target_info" {
			names = append(names, f.GetName())
		}
	}
	if len(names) != 1 {
		t.Fatalf("%s: the bridge made %v", d.Name, names)
	}
	return names[0]
}

// shorthand is what the README's tables write for the traffic attributes.
var shorthand = map[attribute.Key]*regexp.Regexp{
	metricdef.Interface:   regexp.MustCompile(`\binterface\b`),
	metricdef.Direction:   regexp.MustCompile(`\bdirection\b`),
	metricdef.NetworkType: regexp.MustCompile(`\btype\b`),
	metricdef.Transport:   regexp.MustCompile(`\btransport\b`),
	metricdef.Hook:        regexp.MustCompile(`\bhook\b`),
}

var backquoted = regexp.MustCompile("`([^`]*)`")

// TestREADMEMetricTables checks that the README's metric tables list every
// metric of the definitions, and nothing else, with the Prometheus name the
// bridge gives it, its kind, unit and attributes.
func TestREADMEMetricTables(t *testing.T) {
	rows := readmeMetrics(t)
	for _, d := range metricdef.All {
		t.Run(d.Name, func(t *testing.T) {
			row, ok := rows[d.Name]
			if !ok {
				t.Fatalf("not in the README's metric tables")
			}
			if got, want := row.cells["Prometheus"], "`"+prometheusName(t, d)+"`"; got != want {
				t.Errorf("README.md:%d: Prometheus name %s, the bridge makes %s", row.line, got, want)
			}
			kindCell, ok := row.cells["type, unit"]
			if !ok {
				kindCell, ok = row.cells["type"]
			}
			if !ok {
				t.Fatalf("README.md:%d: the table has no type column", row.line)
			}
			if kind := strings.TrimSuffix(strings.Fields(kindCell)[0], ","); kind != d.Kind.String() {
				t.Errorf("README.md:%d: type %q, defined as a %s", row.line, kindCell, d.Kind)
			}
			unit := ""
			if m := backquoted.FindStringSubmatch(kindCell); m != nil {
				unit = m[1]
			}
			if unit != d.Unit {
				t.Errorf("README.md:%d: unit %q, defined as %q", row.line, unit, d.Unit)
			}
			attributes, ok := row.cells["attributes"]
			if !ok {
				if len(d.Attributes) > 0 {
					t.Errorf("README.md:%d: no attributes column for attributes %v", row.line, d.Attributes)
				}
				return
			}
			for _, key := range d.Attributes {
				if strings.Contains(attributes, "`"+string(key)+"`") {
					continue
				}
				if re, ok := shorthand[key]; ok && re.MatchString(attributes) {
					continue
				}
				t.Errorf("README.md:%d: attribute %s not in %q", row.line, key, attributes)
			}
		})
	}
	for name, row := range rows {
		if !slices.ContainsFunc(metricdef.All, func(d *metricdef.Definition) bool { return d.Name == name }) {
			t.Errorf("README.md:%d: %s is not a defined metric", row.line, name)
		}
	}
}
