package metricdoc

import (
	"os"
	"strings"
	"testing"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

func TestGoName(t *testing.T) {
	for name, want := range map[string]string{
		"packet_exporter.network.packets":      "NetworkPackets",
		"packet_exporter.network.io":           "NetworkIO",
		"packet_exporter.network.parse_errors": "NetworkParseErrors",
		"packet_exporter.otlp.exports":         "OTLPExports",
		"system.network.packet.dropped":        "SystemNetworkPacketDropped",
	} {
		if got := GoName(name); got != want {
			t.Errorf("GoName(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestNamesCurrent checks that names_generated.go is what metadata.yaml
// makes (make generate writes it), so that every metric has its Go name and
// no name outlives its metric.
func TestNamesCurrent(t *testing.T) {
	want, err := Names()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../names_generated.go")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("internal/metricdef/names_generated.go differs from what metadata.yaml makes: run make generate")
	}
	if n := strings.Count(string(got), "= lookup("); n != len(metricdef.All) {
		t.Errorf("%d names for %d metrics", n, len(metricdef.All))
	}
}

// TestNamesRefuseClashes checks that two metrics with one Go name are an
// error, not a file that does not compile.
func TestNamesRefuseClashes(t *testing.T) {
	a, b := metricdef.NetworkPackets, metricdef.NetworkPackets
	b.Name = "network.packets"
	if _, err := names([]*metricdef.Definition{&a, &b}); err == nil || !strings.Contains(err.Error(), "same Go name NetworkPackets") {
		t.Errorf("error %v, want one naming the clash", err)
	}
}
