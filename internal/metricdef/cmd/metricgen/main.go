// Command metricgen writes what comes from the metric definitions of
// internal/metricdef/metadata.yaml: the metric tables of README.md, keeping
// the prose around them (see package metricdoc for the markers), and the Go
// definitions (package metricdef's metadata_generated.go), and the
// Collector receiver's documentation.md through mdatagen (pinned in
// tools/mdatagen). make generate runs it, through go generate in
// internal/metricdef (see gen.go).
//
// A file is written only when it changes.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/packet-exporter/packet-exporter/internal/metricdef/metricdoc"
)

// The files to write, and where mdatagen is pinned.
var (
	readme  = flag.String("readme", "README.md", "the Markdown file whose metric tables are rewritten")
	goFile  = flag.String("go", "", "the Go file of the definitions, if any")
	doc     = flag.String("collector-doc", "", "the Collector receiver's documentation.md, if any, made by mdatagen")
	toolDir = flag.String("mdatagen", "", "the module that pins mdatagen as a tool (with -collector-doc)")
)

func main() {
	flag.Parse()
	err := run(*readme)
	if err == nil && *goFile != "" {
		err = writeDefinitions(*goFile)
	}
	if err == nil && *doc != "" {
		err = writeCollectorDoc(*doc, *toolDir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "metricgen:", err)
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
	return writeChanged(path, data, out)
}

// writeDefinitions writes the definitions' Go source to path.
func writeDefinitions(path string) error {
	out, err := metricdoc.Definitions()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return writeChanged(path, data, out)
}

// writeChanged writes out to path unless it is what the file holds.
func writeChanged(path string, data, out []byte) error {
	if bytes.Equal(out, data) {
		return nil
	}
	return os.WriteFile(path, out, 0o644)
}
