package metricdoc

import (
	"os"
	"reflect"
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

// TestDefinitionsCurrent checks that metadata_generated.go is what
// metadata.yaml makes (make generate writes it), and that the definitions
// the package holds are metadata.yaml's, each under its Go name.
func TestDefinitionsCurrent(t *testing.T) {
	want, err := Definitions()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../metadata_generated.go")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("internal/metricdef/metadata_generated.go differs from what metadata.yaml makes: run make generate")
	}
	md, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(metricdef.All, md.Metrics) {
		t.Errorf("metricdef.All differs from metadata.yaml's metrics: run make generate")
	}
	if d, ok := metricdef.ByName(metricdef.NetworkPackets.Name); !ok || d != &metricdef.NetworkPackets {
		t.Errorf("ByName(%q) = %p, %t; want the named definition %p", metricdef.NetworkPackets.Name, d, ok, &metricdef.NetworkPackets)
	}
}

// TestDefinitionsRefuseClashes checks that two metrics with one Go name are
// an error, not a file that does not compile.
func TestDefinitionsRefuseClashes(t *testing.T) {
	a, b := metricdef.NetworkPackets, metricdef.NetworkPackets
	b.Name = "network.packets"
	if _, err := definitions(Metadata{Metrics: []*metricdef.Definition{&a, &b}}, nil); err == nil || !strings.Contains(err.Error(), "same Go name NetworkPackets") {
		t.Errorf("error %v, want one naming the clash", err)
	}
}
