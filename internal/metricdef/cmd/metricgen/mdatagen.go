package main

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// writeCollectorDoc writes the Collector receiver's documentation.md to path,
// made by mdatagen (the tool pinned in the module at toolDir) from
// metadata.yaml. mdatagen generates into the directory of its input, so it
// runs on a copy in a module of its own in a temporary directory, of which
// only documentation.md is kept.
func writeCollectorDoc(path, toolDir string) error {
	sorted, err := sortedMetadata(metricdef.MetadataYAML)
	if err != nil {
		return fmt.Errorf("metadata.yaml: %w", err)
	}
	temp, err := os.MkdirTemp("", "metricgen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(temp)
	// mdatagen names the generated package after the directory.
	dir := filepath.Join(temp, "packetexporterreceiver")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	for name, content := range map[string][]byte{
		"go.mod":        []byte("module metricgen.invalid/packetexporterreceiver\n\ngo 1.26\n"),
		"doc.go":        []byte("package packetexporterreceiver\n"),
		"metadata.yaml": sorted,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			return err
		}
	}
	tool := exec.Command("go", "tool", "mdatagen", filepath.Join(dir, "metadata.yaml"))
	tool.Dir, tool.Stdout, tool.Stderr = toolDir, os.Stderr, os.Stderr
	if err := tool.Run(); err != nil {
		return fmt.Errorf("mdatagen: %w", err)
	}
	out, err := os.ReadFile(filepath.Join(dir, "documentation.md"))
	if err != nil {
		return fmt.Errorf("mdatagen: %w", err)
	}
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return writeChanged(path, old, out)
}

// sortedMetadata returns the metadata.yaml data with its attributes and
// metrics sorted by name, as mdatagen requires; metadata.yaml itself keeps
// the README's order.
func sortedMetadata(data []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("not a mapping")
	}
	top := doc.Content[0].Content
	for i := 0; i+1 < len(top); i += 2 {
		if name := top[i].Value; name == "attributes" || name == "metrics" {
			sortMapping(top[i+1])
		}
	}
	var out bytes.Buffer
	encoder := yaml.NewEncoder(&out)
	encoder.SetIndent(2)
	if err := encoder.Encode(&doc); err != nil {
		return nil, err
	}
	return out.Bytes(), encoder.Close()
}

// sortMapping orders the entries of a mapping node by key.
func sortMapping(n *yaml.Node) {
	entries := make([][2]*yaml.Node, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		entries = append(entries, [2]*yaml.Node{n.Content[i], n.Content[i+1]})
	}
	slices.SortFunc(entries, func(a, b [2]*yaml.Node) int { return cmp.Compare(a[0].Value, b[0].Value) })
	n.Content = n.Content[:0]
	for _, entry := range entries {
		n.Content = append(n.Content, entry[0], entry[1])
	}
}
