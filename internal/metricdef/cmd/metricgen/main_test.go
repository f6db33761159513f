package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
)

// TestRun checks that run fills the tables of a file in place, leaves a
// generated file as it is, and names the file in its errors.
func TestRun(t *testing.T) {
	var empty strings.Builder
	for _, name := range []string{"traffic", "packet sizes", "tunnels", "drops", "devices", "pods", "attribution", "flows", "events", "agent health", "process and runtime"} {
		empty.WriteString("<!-- metrics table: " + name + " -->\n<!-- end metrics table -->\n")
	}
	for _, tc := range []struct {
		name, in, err string
	}{
		{name: "filled", in: "# Metrics\n" + empty.String() + "prose\n"},
		{name: "bad marker", in: "<!-- metrics table: nothing -->\n", err: `README.md: line 1: metrics table "nothing"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "README.md")
			if err := os.WriteFile(path, []byte(tc.in), 0o600); err != nil {
				t.Fatal(err)
			}
			err := run(path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			first, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(first), "| `packet_exporter.network.packets` | `packet_exporter_network_packets_total` |") ||
				!strings.Contains(string(first), "| `go_goroutines` | `/metrics` |") || !strings.Contains(string(first), "| `go.goroutine.count` | OTLP |") ||
				!strings.HasPrefix(string(first), "# Metrics\n") || !strings.HasSuffix(string(first), "prose\n") {
				t.Errorf("tables not filled or prose lost:\n%s", first)
			}
			if err := run(path); err != nil {
				t.Fatal(err)
			}
			if second, err := os.ReadFile(path); err != nil || string(second) != string(first) {
				t.Errorf("a second run changed the file (%v)", err)
			}
		})
	}
}

// TestSortedMetadata checks that the copy for mdatagen has its attributes
// and metrics in name order and keeps everything else as it is.
func TestSortedMetadata(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{
			name: "sorted",
			in:   "type: x\nattributes:\n  b: {type: string}\n  a: {type: int}\nmetrics:\n  z.m: {unit: '1'}\n  a.m: {unit: By}\nstatus: {class: receiver}\n",
			want: "type: x\nattributes:\n  a: {type: int}\n  b: {type: string}\nmetrics:\n  a.m: {unit: By}\n  z.m: {unit: '1'}\nstatus: {class: receiver}\n",
		},
		{name: "not a mapping", in: "- a\n", err: "not a mapping"},
		{name: "not YAML", in: "a: [\n", err: "yaml:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sortedMetadata([]byte(tc.in))
			if testenv.ErrorPrefix(t, err, tc.err) {
				return
			}
			if string(got) != tc.want {
				t.Errorf("sortedMetadata = %q\nwant %q", got, tc.want)
			}
		})
	}
}
