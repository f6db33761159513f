// Command manifests writes deploy/kubernetes' manifests from the Helm chart
// deploy/helm/packet-exporter rendered with its defaults (make manifests):
// the chart holds the facts, the manifests are for kubectl apply. Run it in
// the deploy directory.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/packet-exporter/packet-exporter/deploy/internal/helmchart"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "manifests:", err)
		os.Exit(1)
	}
}

func run() error {
	for _, m := range helmchart.Manifests {
		text, err := m.Render(filepath.Join("helm", "packet-exporter"))
		if err != nil {
			return fmt.Errorf("%s: %w", m.File, err)
		}
		if err := os.WriteFile(filepath.FromSlash(m.File), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}
