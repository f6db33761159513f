package harness

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/testing/otelcolbuild"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// ExporterVersion is the version the packet-exporter binary under test is built
// with (-X main.version); it is its service.version resource attribute.
const ExporterVersion = testexporter.Version

// Otelcol is the collector the tests run: the distribution users build
// from deploy/otelcol/manifest.yaml, plus this module's jsonfile exporter, so
// that a test reads back what the collector received (see
// internal/testing/otelcolbuild). It is built once per test binary by the first test
// that needs it, or found in the cache.
var Otelcol = &otelcolbuild.Collector{
	Variant: otelcolbuild.Variant{Module: "e2e", Exporters: []string{"internal/jsonfileexporter"}},
}

// Binaries are the programs under test.
type Binaries struct {
	// Exporter is the packet-exporter binary.
	Exporter string
	// Collector is the collector (Otelcol).
	Collector otelcolbuild.Distribution
	// Took is how long building both took.
	Took time.Duration
}

// Build builds packet-exporter (as make build does) and the collector, in
// parallel, once per test process.
func Build() (Binaries, error) {
	start := time.Now()
	var b Binaries
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { b.Exporter, errs[0] = testexporter.ExporterProgram.Build() })
	wg.Go(func() { b.Collector, errs[1] = Otelcol.Build() })
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return b, err
		}
	}
	b.Took = time.Since(start)
	return b, nil
}

// OTLPSupported reports whether the exporter binary accepts a configuration
// with an otlp section (`--check-config` exits 0), with its output otherwise.
func OTLPSupported(exporterBin, tmpDir string) (bool, string) {
	cfg := ExporterConfig{
		Interfaces:   []string{"lo"},
		OTLPEndpoint: "127.0.0.1:4317",
		Interval:     time.Second,
		Timeout:      time.Second,
		Resource:     map[string]string{"deployment.environment": "e2e"},
	}
	p := filepath.Join(tmpDir, "otlp-check.yaml")
	if err := os.WriteFile(p, []byte(cfg.YAML()), 0o644); err != nil {
		return false, err.Error()
	}
	cmd := exec.Command(exporterBin, "--check-config", "--config", p)
	cmd.Env = testexporter.Environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return false, fmt.Sprintf("%v: %s", err, bytes.TrimSpace(out))
	}
	return true, ""
}
