package metricdoc

import (
	"strings"
	"testing"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
)

// TestPrometheusName checks the names the exporter's Prometheus bridge
// gives metrics of each kind, with and without a unit.
func TestPrometheusName(t *testing.T) {
	for _, tc := range []struct {
		d    metricdef.Definition
		want string
	}{
		{metricdef.NetworkPackets, "packet_exporter_network_packets_total"},
		{metricdef.NetworkIO, "packet_exporter_network_io_bytes_total"},
		{metricdef.NetworkPacketSize, "packet_exporter_network_packet_size_bytes"},
		{metricdef.SystemNetworkErrors, "system_network_errors_total"},
		{metricdef.InterfaceInfo, "packet_exporter_interface_info"},
		{metricdef.AttributionUnresolved, "packet_exporter_attribution_unresolved"},
		{metricdef.KernelReadDuration, "packet_exporter_kernel_read_duration_seconds"},
		{metricdef.ProgramRunTime, "packet_exporter_program_run_time_seconds_total"},
		{metricdef.CollectorDuration, "packet_exporter_collector_duration_seconds"},
	} {
		t.Run(tc.d.Name, func(t *testing.T) {
			got, err := PrometheusName(&tc.d)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("%s, want %s", got, tc.want)
			}
		})
	}
}

// TestRow checks a table row: the type and unit, each attribute with its
// values, its description where first named and wherever it is
// conditional, and the meaning.
func TestRow(t *testing.T) {
	plain := metricdef.Attribute{Key: "a", Description: "The a."}
	enum := metricdef.Attribute{Key: "e", Description: "XDP or not.", Values: []string{"x", "y"}}
	conditional := metricdef.Attribute{Key: "c", Description: "When | there.", Conditional: true}
	for _, tc := range []struct {
		name      string
		d         metricdef.Definition
		described []string // described before the row
		want      string
	}{
		{name: "no unit, no attributes",
			d:    metricdef.Definition{Name: "m", Kind: metricdef.Gauge, Description: "Always 1."},
			want: "| `m` | `p` | gauge | – | Always 1. |\n"},
		{name: "first described",
			d: metricdef.Definition{Name: "m", Kind: metricdef.Counter, Unit: "By", Description: "D.", ExtendedDocumentation: "More\n  text.",
				AllAttributes: []metricdef.Attribute{plain, enum, conditional}},
			want: "| `m` | `p` | counter, `By` | `a` (the a), `e` (`x`, `y`: XDP or not), `c` (when \\| there) | D. More text. |\n"},
		{name: "described before",
			d:         metricdef.Definition{Name: "m", Kind: metricdef.Histogram, Unit: "s", Description: "D.", AllAttributes: []metricdef.Attribute{plain, enum, conditional}},
			described: []string{"a\x00The a.", "e\x00XDP or not.", "c\x00When | there."},
			want:      "| `m` | `p` | histogram, `s` | `a`, `e` (`x`, `y`), `c` (when \\| there) | D. |\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			described := map[string]bool{}
			for _, id := range tc.described {
				described[id] = true
			}
			if got := row(&tc.d, "p", described); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			for _, a := range tc.d.AllAttributes {
				if !described[string(a.Key)+"\x00"+a.Description] {
					t.Errorf("%s not marked described", a.Key)
				}
			}
		})
	}
}

// TestClause checks how a description becomes a clause in parentheses.
func TestClause(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"The hook.", "the hook"},
		{"XDP only.", "XDP only"},
		{"A kind: a, b, ...", "a kind: a, b, ..."},
		{"On failures: `x`, …", "on failures: `x`, …"},
		{"lower already", "lower already"},
		{"", ""},
	} {
		if got := clause(tc.in); got != tc.want {
			t.Errorf("clause(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestGroup checks that each table takes the metrics from its first one up
// to the next table's first, and that a table whose first metric is
// missing or out of order is refused.
func TestGroup(t *testing.T) {
	defs := []*metricdef.Definition{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}}
	for _, tc := range []struct {
		name   string
		tables []table
		want   string // the groups' names, | between groups
		err    string
	}{
		{name: "two tables", tables: []table{{"x", "a"}, {"y", "c"}}, want: "a b|c d"},
		{name: "one table", tables: []table{{"x", "a"}}, want: "a b c d"},
		{name: "not from the first", tables: []table{{"x", "b"}}, err: "metric a comes before"},
		{name: "unknown first", tables: []table{{"x", "a"}, {"y", "z"}}, err: `metrics table "y": its first metric z`},
		{name: "out of order", tables: []table{{"x", "a"}, {"y", "c"}, {"z", "b"}}, err: `metrics table "z"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			groups, err := group(defs, tc.tables)
			if testenv.ErrorPrefix(t, err, tc.err) {
				return
			}
			var names []string
			for _, g := range groups {
				var group []string
				for _, d := range g {
					group = append(group, d.Name)
				}
				names = append(names, strings.Join(group, " "))
			}
			if got := strings.Join(names, "|"); got != tc.want {
				t.Errorf("groups %s, want %s", got, tc.want)
			}
		})
	}
}

// TestRewrite checks that the tables between the markers are replaced and
// everything else kept, and that misplaced markers are refused with their
// line.
func TestRewrite(t *testing.T) {
	defs := []*metricdef.Definition{
		{Name: "a", Kind: metricdef.Gauge, Description: "A."},
		{Name: "b", Kind: metricdef.Gauge, Description: "B."},
	}
	tables := []table{{"x", "a"}, {"y", "b"}}
	promName := func(d *metricdef.Definition) (string, error) { return d.Name + "_p", nil }
	tableA := "\n" + header + "| `a` | `a_p` | gauge | – | A. |\n\n"
	tableB := "\n" + header + "| `b` | `b_p` | gauge | – | B. |\n\n"
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{name: "replaced, prose kept",
			in:   "# T\n\nprose\n<!-- metrics table: x -->\nold\n| old |\n<!-- end metrics table -->\nmore\n  <!-- metrics table: y -->  \n<!-- end metrics table -->\nend",
			want: "# T\n\nprose\n<!-- metrics table: x -->\n" + tableA + "<!-- end metrics table -->\nmore\n  <!-- metrics table: y -->  \n" + tableB + "<!-- end metrics table -->\nend"},
		{name: "unchanged when generated",
			in:   "<!-- metrics table: x -->\n" + tableA + "<!-- end metrics table -->\n<!-- metrics table: y -->\n" + tableB + "<!-- end metrics table -->\n",
			want: "<!-- metrics table: x -->\n" + tableA + "<!-- end metrics table -->\n<!-- metrics table: y -->\n" + tableB + "<!-- end metrics table -->\n"},
		{name: "out of order",
			in:  "<!-- metrics table: y -->\n<!-- end metrics table -->\n",
			err: `line 1: metrics table "y" where "x" comes next`},
		{name: "unknown",
			in:  "<!-- metrics table: x -->\n<!-- end metrics table -->\n<!-- metrics table: y -->\n<!-- end metrics table -->\n<!-- metrics table: z -->\n",
			err: `line 5: metrics table "z" after the last one`},
		{name: "no end",
			in:  "<!-- metrics table: x -->\n| a |\n",
			err: `line 1: metrics table "x" has no <!-- end metrics table -->`},
		{name: "start inside",
			in:  "<!-- metrics table: x -->\n<!-- metrics table: y -->\n<!-- end metrics table -->\n",
			err: `line 2: metrics table "y" starts inside "x"`},
		{name: "end without start",
			in:  "text\n<!-- end metrics table -->\n",
			err: "line 2: end of a metrics table that did not start"},
		{name: "missing table",
			in:  "<!-- metrics table: x -->\n<!-- end metrics table -->\n",
			err: `no metrics table "y"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rendered, err := render(defs, tables, promName)
			if err != nil {
				t.Fatal(err)
			}
			got, err := rewrite([]byte(tc.in), rendered)
			if testenv.ErrorPrefix(t, err, tc.err) {
				return
			}
			if string(got) != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
