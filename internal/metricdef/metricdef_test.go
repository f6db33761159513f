package metricdef_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/packet-exporter/packet-exporter/internal/metricdef/metricdoc"
)

// TestREADMEMetricTables checks that README.md's metric tables are the ones
// metadata.yaml makes (make generate writes them): every metric, and
// nothing else, with the Prometheus name the exporter's bridge gives it, its
// kind, unit, attributes and meaning.
func TestREADMEMetricTables(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := metricdoc.Rewrite(data)
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	if bytes.Equal(data, want) {
		return
	}
	got, wantLines := strings.Split(string(data), "\n"), strings.Split(string(want), "\n")
	for i := range min(len(got), len(wantLines)) {
		if got[i] != wantLines[i] {
			t.Errorf("README.md:%d:\n%s\nmetadata.yaml makes\n%s", i+1, got[i], wantLines[i])
			break
		}
	}
	t.Error("README.md's metric tables are not what metadata.yaml makes: run make generate")
}
