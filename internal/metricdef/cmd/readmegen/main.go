// Command readmegen rewrites the metric tables of README.md from the metric
// definitions of internal/metricdef/metadata.yaml, keeping the prose around
// them (see package metricdoc for the markers). make generate runs it,
// through go generate in internal/metricdef:
//
//	go run ./internal/metricdef/cmd/readmegen -readme README.md
//
// The file is written only when its tables change.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/packet-exporter/packet-exporter/internal/metricdef/metricdoc"
)

func main() {
	readme := flag.String("readme", "README.md", "the Markdown file whose metric tables are rewritten")
	flag.Parse()
	if err := run(*readme); err != nil {
		fmt.Fprintln(os.Stderr, "readmegen:", err)
		os.Exit(1)
	}
}

// run rewrites the metric tables of the file at path.
func run(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := metricdoc.Rewrite(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if bytes.Equal(out, data) {
		return nil
	}
	return os.WriteFile(path, out, 0o644)
}
