// Package metricdoc generates the README's metric tables from the metric
// definitions (internal/metricdef, read from metadata.yaml). Each table sits
// between two marker comments, which Rewrite keeps, replacing what is
// between them and leaving the prose around them as it is:
//
//	<!-- metrics table: traffic -->
//	... generated ...
//	<!-- end metrics table -->
//
// A row gives the metric's OpenTelemetry name, the name the Prometheus bridge
// makes of it (asked of the bridge itself, as the exporter configures it),
// its kind and unit, its attributes and its meaning (description, then
// extended_documentation).
package metricdoc

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// table is one of the README's metric tables. It holds the metrics of
// metadata.yaml from its first one up to the next table's first: a metric
// goes into a table by its place in metadata.yaml, never by a second list.
type table struct {
	name  string // as in its start marker
	first string // the metric it starts with
}

// tables are the README's metric tables, in metadata.yaml's order (and the
// README's): the first starts with metadata.yaml's first metric.
var tables = []table{
	{"traffic", "packet_exporter.network.packets"},
	{"packet sizes", "packet_exporter.network.packet.size"},
	{"tunnels", "packet_exporter.network.tunnel.packets"},
	{"drops", "packet_exporter.network.drops"},
	{"devices", "system.network.io"},
	{"pods", "k8s.pod.network.io"},
	{"attribution", "packet_exporter.interface.info"},
	{"flows", "packet_exporter.flow.packets"},
	{"events", "packet_exporter.events.emitted"},
	{"agent health", "packet_exporter.interface.attached"},
}

// The marker comments around a table.
const (
	startMarker = "<!-- metrics table: "
	markerEnd   = " -->"
	endMarker   = "<!-- end metrics table -->"
)

// header opens every table.
const header = "| OpenTelemetry | Prometheus | type, unit | attributes | meaning |\n|---|---|---|---|---|\n"

// libraryTable is the name of the README's table of the metrics libraries
// export for the agent (LibraryMetrics), after the tables of metadata.yaml.
const libraryTable = "process and runtime"

// libraryHeader opens the library table.
const libraryHeader = "| name | exported on | type, unit | attributes | meaning |\n|---|---|---|---|---|\n"

// renderedTable is a table's name, as in its start marker, and its Markdown.
type renderedTable struct{ name, text string }

// Rewrite returns readme with every metric table replaced by the one the
// definitions of metadata.yaml, or the libraries, make.
func Rewrite(readme []byte) ([]byte, error) {
	md, err := Load()
	if err != nil {
		return nil, fmt.Errorf("metadata.yaml: %w", err)
	}
	rendered, err := render(md.Metrics, tables, PrometheusName)
	if err != nil {
		return nil, err
	}
	library, err := LibraryMetrics()
	if err != nil {
		return nil, err
	}
	return rewrite(readme, append(rendered, renderedTable{libraryTable, renderLibrary(library)}))
}

// rewrite replaces the tables of readme by ts, which it holds in their order.
func rewrite(readme []byte, ts []renderedTable) ([]byte, error) {
	lines := strings.SplitAfter(string(readme), "\n")
	var out strings.Builder
	next := 0 // the table expected next
	for i := 0; i < len(lines); i++ {
		out.WriteString(lines[i])
		name, ok := start(lines[i])
		if !ok {
			if isEnd(lines[i]) {
				return nil, fmt.Errorf("line %d: end of a metrics table that did not start", i+1)
			}
			continue
		}
		switch {
		case next < len(ts) && ts[next].name == name:
		case next < len(ts):
			return nil, fmt.Errorf("line %d: metrics table %q where %q comes next", i+1, name, ts[next].name)
		default:
			return nil, fmt.Errorf("line %d: metrics table %q after the last one", i+1, name)
		}
		end := i + 1
		for ; end < len(lines) && !isEnd(lines[end]); end++ {
			if inner, ok := start(lines[end]); ok {
				return nil, fmt.Errorf("line %d: metrics table %q starts inside %q", end+1, inner, name)
			}
		}
		if end == len(lines) {
			return nil, fmt.Errorf("line %d: metrics table %q has no %s", i+1, name, endMarker)
		}
		out.WriteString("\n" + ts[next].text + "\n")
		out.WriteString(lines[end])
		i = end
		next++
	}
	if next < len(ts) {
		return nil, fmt.Errorf("no metrics table %q (%s%s%s)", ts[next].name, startMarker, ts[next].name, markerEnd)
	}
	return []byte(out.String()), nil
}

// start returns the name of the table line starts, if it is a start marker.
func start(line string) (string, bool) {
	line = strings.TrimSpace(line)
	name, ok := strings.CutPrefix(line, startMarker)
	if !ok {
		return "", false
	}
	return strings.CutSuffix(name, markerEnd)
}

// isEnd tells whether line is an end marker.
func isEnd(line string) bool {
	return strings.TrimSpace(line) == endMarker
}

// group splits defs, in their order, into the tables ts.
func group(defs []*metricdef.Definition, ts []table) ([][]*metricdef.Definition, error) {
	groups := make([][]*metricdef.Definition, len(ts))
	t := -1
	for _, d := range defs {
		if t+1 < len(ts) && d.Name == ts[t+1].first {
			t++
		}
		if t < 0 {
			return nil, fmt.Errorf("metric %s comes before the first table's first metric, %s", d.Name, ts[0].first)
		}
		groups[t] = append(groups[t], d)
	}
	if t+1 < len(ts) {
		return nil, fmt.Errorf("metrics table %q: its first metric %s is not defined after the previous table's", ts[t+1].name, ts[t+1].first)
	}
	return groups, nil
}

// render returns the tables ts of defs, one Markdown table each. An
// attribute's description is given in the first row that has the attribute
// and in every row of a conditional one (where it tells which series carry
// it); its values are given in every row.
func render(defs []*metricdef.Definition, ts []table, promName func(*metricdef.Definition) (string, error)) ([]renderedTable, error) {
	groups, err := group(defs, ts)
	if err != nil {
		return nil, err
	}
	described := map[string]bool{}
	out := make([]renderedTable, len(groups))
	for i, g := range groups {
		var b strings.Builder
		b.WriteString(header)
		for _, d := range g {
			prom, err := promName(d)
			if err != nil {
				return nil, err
			}
			b.WriteString(row(d, prom, described))
		}
		out[i] = renderedTable{ts[i].name, b.String()}
	}
	return out, nil
}

// row returns the table row of d, whose Prometheus name is prom; described
// holds the attributes already described (by key and description), and
// gets d's.
func row(d *metricdef.Definition, prom string, described map[string]bool) string {
	typ := d.Kind.String()
	if d.Unit != "" {
		typ += ", `" + d.Unit + "`"
	}
	attrs := "–"
	if len(d.AllAttributes) > 0 {
		cells := make([]string, len(d.AllAttributes))
		for i, a := range d.AllAttributes {
			id := string(a.Key) + "\x00" + a.Description
			cells[i] = attributeText(a, a.Conditional || !described[id])
			described[id] = true
		}
		attrs = strings.Join(cells, ", ")
	}
	meaning := d.Description
	if d.ExtendedDocumentation != "" {
		meaning += " " + d.ExtendedDocumentation
	}
	return tableRow("`"+d.Name+"`", "`"+prom+"`", typ, attrs, meaning)
}

// renderLibrary returns the table of the library metrics ms.
func renderLibrary(ms []metricdef.LibraryMetric) string {
	var b strings.Builder
	b.WriteString(libraryHeader)
	for _, m := range ms {
		where := "`/metrics`"
		if m.OTLP {
			where = "OTLP"
		}
		typ := m.Type
		if m.Unit != "" {
			typ += ", `" + m.Unit + "`"
		}
		attrs := "–"
		if len(m.Attributes) > 0 {
			attrs = "`" + strings.Join(m.Attributes, "`, `") + "`"
		}
		b.WriteString(tableRow("`"+m.Name+"`", where, typ, attrs, m.Description))
	}
	return b.String()
}

// tableRow returns a Markdown table row of cells, each on one line.
func tableRow(cells ...string) string {
	for i, c := range cells {
		cells[i] = strings.ReplaceAll(strings.Join(strings.Fields(c), " "), "|", `\|`)
	}
	return "| " + strings.Join(cells, " | ") + " |\n"
}

// attributeText returns how a row names the attribute a: its key, then in
// parentheses its values and, with describe, its description.
func attributeText(a metricdef.Attribute, describe bool) string {
	var details []string
	if len(a.Values) > 0 {
		details = append(details, "`"+strings.Join(a.Values, "`, `")+"`")
	}
	if describe && a.Description != "" {
		details = append(details, clause(a.Description))
	}
	text := "`" + string(a.Key) + "`"
	if len(details) > 0 {
		text += " (" + strings.Join(details, ": ") + ")"
	}
	return text
}

// clause turns a sentence into a clause to go inside parentheses: its first
// letter in lower case (unless it starts an abbreviation, such as XDP) and
// without its final full stop (an ellipsis stays).
func clause(sentence string) string {
	s := strings.TrimSpace(sentence)
	if !strings.HasSuffix(s, "..") {
		s = strings.TrimSuffix(s, ".")
	}
	first, n := utf8.DecodeRuneInString(s)
	second, _ := utf8.DecodeRuneInString(s[n:])
	if unicode.IsUpper(first) && !unicode.IsUpper(second) {
		s = string(unicode.ToLower(first)) + s[n:]
	}
	return s
}
