package otelcolbuild

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// ShippedManifest is the builder manifest users build the collector from
// (README, "Your own OpenTelemetry Collector"), relative to the repository
// root: the one manifest every collector of the repository is built from.
const ShippedManifest = "deploy/otelcol/manifest.yaml"

// ReceiverModule is the module (and package) of the packetexporter receiver,
// which the shipped manifest builds.
const ReceiverModule = testexporter.ModulePath + "/otelcol/packetexporterreceiver"

// ZeroVersion is the version a module known only through a replace directive
// is required at: Go's zero pseudo-version, as the shipped manifest names the
// receiver.
const ZeroVersion = "v0.0.0-00010101000000-000000000000"

// Manifest is an ocb manifest: the keys of ocb v0.165.0 that the shipped
// manifest uses or may reasonably use. ParseManifest refuses any other key,
// so that a derived manifest never drops one silently.
type Manifest struct {
	Dist       Dist       `yaml:"dist"`
	Receivers  []Module   `yaml:"receivers,omitempty"`
	Processors []Module   `yaml:"processors,omitempty"`
	Exporters  []Module   `yaml:"exporters,omitempty"`
	Extensions []Module   `yaml:"extensions,omitempty"`
	Connectors []Module   `yaml:"connectors,omitempty"`
	Providers  []Module   `yaml:"providers,omitempty"`
	Converters []Module   `yaml:"converters,omitempty"`
	Telemetry  *Module    `yaml:"telemetry,omitempty"`
	Replaces   []string   `yaml:"replaces,omitempty"`
	Excludes   []string   `yaml:"excludes,omitempty"`
	Resolver   *yaml.Node `yaml:"conf_resolver,omitempty"`
}

// ReplaceDirs returns the replaces of a manifest Derive made, each
// "MODULE => directory", as the directory of each module.
func (m Manifest) ReplaceDirs() map[string]string {
	dirs := map[string]string{}
	for _, r := range m.Replaces {
		mod, dir, _ := strings.Cut(r, " => ")
		dirs[mod] = dir
	}
	return dirs
}

// Dist is a manifest's dist section.
type Dist struct {
	Module      string `yaml:"module,omitempty"`
	Name        string `yaml:"name"`
	Description string `yaml:"description,omitempty"`
	Version     string `yaml:"version,omitempty"`
	OutputPath  string `yaml:"output_path,omitempty"`
	BuildTags   string `yaml:"build_tags,omitempty"`
	CGoEnabled  bool   `yaml:"cgo_enabled,omitempty"`
}

// Module is a component or provider of a manifest.
type Module struct {
	GoMod  string `yaml:"gomod"`
	Import string `yaml:"import,omitempty"`
	Name   string `yaml:"name,omitempty"`
	Path   string `yaml:"path,omitempty"`
}

// ImportPath is the package the builder imports for m: Import, or the
// module of GoMod.
func (m Module) ImportPath() string {
	if m.Import != "" {
		return m.Import
	}
	mod, _, _ := strings.Cut(m.GoMod, " ")
	return mod
}

// ParseManifest decodes a manifest strictly: unknown keys are errors.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("builder manifest: %w", err)
	}
	return m, nil
}

// YAML encodes the manifest.
func (m Manifest) YAML() ([]byte, error) {
	b, err := yaml.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode builder manifest: %w", err)
	}
	return b, nil
}

// pipelineComponents returns the lists of m's receivers, processors,
// exporters, extensions and connectors, each by its address in m.
func (m *Manifest) pipelineComponents() []*[]Module {
	return []*[]Module{&m.Receivers, &m.Processors, &m.Exporters, &m.Extensions, &m.Connectors}
}

// components returns the lists of every module the builder imports a
// package of: the pipeline components, the providers and the converters.
func (m *Manifest) components() []*[]Module {
	return append(m.pipelineComponents(), &m.Providers, &m.Converters)
}

// Variant declares a collector built from the shipped manifest: its
// components, or those Keep names, plus components of a module of this
// checkout. The zero Variant is the shipped distribution.
type Variant struct {
	// Keep, if not empty, keeps only the shipped receivers, processors,
	// exporters, extensions and connectors whose import path it lists, each
	// of which must be in the manifest; the providers and converters are
	// always kept.
	Keep []string
	// Module, if set, is the directory (relative to the repository root) of a
	// module of this checkout whose packages Receivers, Processors and
	// Exporters add as components. A replace points at it, and the generated
	// program's module lies under its path, so that it may import the
	// module's internal packages.
	Module string
	// Receivers, Processors and Exporters are packages of Module, as paths
	// relative to its module path.
	Receivers, Processors, Exporters []string
}

// SourceTree is a module a derived manifest replaces with a directory.
type SourceTree struct {
	// Module is the module path.
	Module string
	// Dir is its directory (absolute).
	Dir string
}

// Derived is the manifest of a variant, ready for ocb.
type Derived struct {
	Manifest Manifest
	// Sources are the modules its replace directives point at.
	Sources []SourceTree
	// Builder is the directory of the module that pins ocb (BuilderDir).
	Builder string
}

// Derive derives the manifest of variant v from the shipped manifest, for the
// checkout at repoRoot: the shipped components that v keeps, in order, and
// the shipped providers and replaces (their relative paths resolved as the
// builder would from repoRoot, the directory the README runs it in, and made
// absolute), then v's own components and a replace of their module. It
// checks that each replace points at the module it names, and that the
// shipped manifest builds the packetexporter receiver.
func Derive(shipped []byte, repoRoot string, v Variant) (Derived, error) {
	m, err := ParseManifest(shipped)
	if err != nil {
		return Derived{}, err
	}
	if m.Dist.OutputPath == "" {
		return Derived{}, errors.New("builder manifest: no dist.output_path: the replaces' relative paths are relative to it")
	}
	if !slices.ContainsFunc(m.Receivers, func(r Module) bool { return r.ImportPath() == ReceiverModule }) {
		return Derived{}, fmt.Errorf("builder manifest: no receiver %s", ReceiverModule)
	}
	for _, mods := range m.components() {
		for _, mod := range *mods {
			if mod.Path != "" {
				return Derived{}, fmt.Errorf("builder manifest: %s: path %q: use a replaces entry (the tests resolve those)", mod.GoMod, mod.Path)
			}
		}
	}
	d := Derived{Builder: filepath.Join(repoRoot, filepath.FromSlash(BuilderDir))}
	outDir := filepath.Join(repoRoot, filepath.FromSlash(m.Dist.OutputPath))
	replaces := make([]string, 0, len(m.Replaces)+1)
	for _, r := range m.Replaces {
		mod, target, ok := strings.Cut(r, "=>")
		mod, target = strings.TrimSpace(mod), strings.TrimSpace(target)
		if !ok || strings.Contains(mod, " ") || !(strings.HasPrefix(target, ".") || filepath.IsAbs(target)) {
			return Derived{}, fmt.Errorf("builder manifest: replace %q: want MODULE => a directory", r)
		}
		dir := target
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(outDir, filepath.FromSlash(target))
		}
		if got, err := testexporter.ModulePathOf(filepath.Join(dir, "go.mod")); err != nil || got != mod {
			return Derived{}, fmt.Errorf("builder manifest: replace %q: %s (from dist.output_path %s) is module %q, not %s (%v)",
				r, dir, m.Dist.OutputPath, got, mod, err)
		}
		replaces = append(replaces, mod+" => "+dir)
		d.Sources = append(d.Sources, SourceTree{Module: mod, Dir: dir})
	}
	if err := keep(&m, v.Keep); err != nil {
		return Derived{}, err
	}
	if v.Module != "" {
		dir := filepath.Join(repoRoot, filepath.FromSlash(v.Module))
		mod, err := testexporter.ModulePathOf(filepath.Join(dir, "go.mod"))
		if err != nil {
			return Derived{}, fmt.Errorf("variant module %s: %w", v.Module, err)
		}
		if slices.ContainsFunc(d.Sources, func(s SourceTree) bool { return s.Module == mod }) {
			return Derived{}, fmt.Errorf("variant module %s: %s is replaced by the manifest already", v.Module, mod)
		}
		for _, add := range []struct {
			to   *[]Module
			pkgs []string
		}{{&m.Receivers, v.Receivers}, {&m.Processors, v.Processors}, {&m.Exporters, v.Exporters}} {
			for _, pkg := range add.pkgs {
				*add.to = append(*add.to, Module{GoMod: mod + " " + ZeroVersion, Import: mod + "/" + pkg})
			}
		}
		replaces = append(replaces, mod+" => "+dir)
		d.Sources = append(d.Sources, SourceTree{Module: mod, Dir: dir})
		m.Dist.Module = mod + "/otelcol"
	}
	m.Replaces = replaces
	m.Dist.OutputPath = "" // set where it is built
	d.Manifest = m
	return d, nil
}

// keep reduces the pipeline components of m to those whose import path is
// in paths (all of them if paths is empty); every path must name one.
func keep(m *Manifest, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	found := map[string]bool{}
	for _, mods := range m.pipelineComponents() {
		*mods = slices.DeleteFunc(*mods, func(mod Module) bool {
			found[mod.ImportPath()] = true
			return !slices.Contains(paths, mod.ImportPath())
		})
	}
	for _, p := range paths {
		if !found[p] {
			return fmt.Errorf("builder manifest: no component %s to keep", p)
		}
	}
	return nil
}

// ReadShipped reads the shipped manifest of the checkout at repoRoot.
func ReadShipped(repoRoot string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(ShippedManifest)))
	if err != nil {
		return nil, fmt.Errorf("builder manifest: %w", err)
	}
	return b, nil
}
