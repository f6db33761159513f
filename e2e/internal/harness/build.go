package harness

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ExporterVersion is the version the packet-exporter binary under test is built
// with (-X main.version); it is its service.version resource attribute.
const ExporterVersion = "e2e-test"

// Binaries are the programs under test.
type Binaries struct {
	// Exporter is the packet-exporter binary.
	Exporter string
	// Collector is the test collector (cmd/testcollector).
	Collector string
	// Took is how long building both took.
	Took time.Duration
}

// Build builds packet-exporter from the product module in productDir and the
// test collector from the e2e module in e2eDir, both into outDir, in parallel.
func Build(outDir, productDir, e2eDir string) (Binaries, error) {
	start := time.Now()
	b := Binaries{
		Exporter:  filepath.Join(outDir, "packet-exporter"),
		Collector: filepath.Join(outDir, "testcollector"),
	}
	if err := checkModule(productDir, "github.com/packet-exporter/packet-exporter"); err != nil {
		return b, err
	}
	if err := checkModule(e2eDir, "github.com/packet-exporter/packet-exporter/e2e"); err != nil {
		return b, err
	}
	// The exporter is built like the Makefile builds it (static, -trimpath).
	// The collector is built with the go command's defaults, the settings
	// `go test` compiled this module's packages with, so that the build cache
	// serves the packages they share.
	builds := []struct {
		dir  string
		env  []string
		args []string
	}{
		{productDir, []string{"CGO_ENABLED=0"}, []string{"build", "-trimpath", "-ldflags", "-X main.version=" + ExporterVersion, "-o", b.Exporter, "./cmd/packet-exporter"}},
		{e2eDir, nil, []string{"build", "-o", b.Collector, "./cmd/testcollector"}},
	}
	errs := make([]error, len(builds))
	var wg sync.WaitGroup
	for i, bd := range builds {
		wg.Go(func() {
			cmd := exec.Command(goCommand(), bd.args...)
			cmd.Dir = bd.dir
			cmd.Env = append(os.Environ(), bd.env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go %s (in %s): %v\n%s", strings.Join(bd.args, " "), bd.dir, err, out)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return b, err
		}
	}
	b.Took = time.Since(start)
	return b, nil
}

// goCommand is the go command running the tests if it can be found, so that
// the binaries are built with the same toolchain.
func goCommand() string {
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// checkModule checks that dir holds the go.mod of module path.
func checkModule(dir, path string) error {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return fmt.Errorf("harness: %w", err)
	}
	first, _, _ := bytes.Cut(b, []byte("\n"))
	if strings.TrimSpace(string(first)) != "module "+path {
		return fmt.Errorf("harness: %s/go.mod is not module %s (first line %q)", dir, path, first)
	}
	return nil
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
	cmd.Env = hermeticEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return false, fmt.Sprintf("%v: %s", err, bytes.TrimSpace(out))
	}
	return true, ""
}
