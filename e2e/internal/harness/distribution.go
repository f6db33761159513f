package harness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"go/build"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/modfile"

	"github.com/packet-exporter/packet-exporter/internal/testexporter"
)

// ShippedManifest is the builder manifest users build the collector from
// (README, "Your own OpenTelemetry Collector"), relative to the repository
// root.
const ShippedManifest = "deploy/otelcol/manifest.yaml"

// BuilderModule is the OpenTelemetry Collector Builder (ocb). Its version is
// pinned by this module's go.mod (a tool directive).
const BuilderModule = "go.opentelemetry.io/collector/cmd/builder"

// e2eModule is this module's path.
const e2eModule = testexporter.ModulePath + "/e2e"

// zeroVersion is the version a module known only through a replace
// directive is required at: Go's zero pseudo-version, as the shipped
// manifest names the receiver.
const zeroVersion = "v0.0.0-00010101000000-000000000000"

// DistributionCacheDir is the directory, under the user's cache directory,
// that holds built distributions, one subdirectory per DistributionKey.
const DistributionCacheDir = "packet-exporter-otelcol"

// keepDistributions is how many distributions (the most recently used) the
// cache keeps.
const keepDistributions = 3

// buildTimeout bounds one ocb run: a cold build (modules downloaded, nothing
// compiled) took 5 minutes on 2 cores.
const buildTimeout = 20 * time.Minute

// builderProgram is ocb, built from the module version this module's go.mod
// pins.
var builderProgram = &testexporter.Program{
	Name: "ocb",
	Dir:  "e2e",
	Command: func(out string) (env, args []string, err error) {
		return nil, []string{"build", "-o", out, BuilderModule}, nil
	},
}

// Manifest is an ocb manifest: the keys of ocb v0.165.0 that the shipped
// manifest uses or may reasonably use. ParseManifest refuses any other key,
// so that the derived manifest never drops one silently.
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
	return yaml.Marshal(m)
}

// SourceTree is a module a derived manifest replaces with a directory.
type SourceTree struct {
	// Module is the module path.
	Module string
	// Dir is its directory (absolute).
	Dir string
}

// Derived is the test collector's manifest, derived from the shipped one.
type Derived struct {
	Manifest Manifest
	// Sources are the modules its replace directives point at.
	Sources []SourceTree
}

// DeriveManifest derives the test collector's manifest from the shipped one,
// for the checkout at repoRoot: the shipped components, providers and
// replaces (their relative paths resolved as the builder would from
// repoRoot, the directory the README runs it in, and made absolute), plus
// this module's jsonfile exporter and a replace of this module. The module of
// the generated program lies under this module's path, so that it may
// import the exporter's internal package. It checks that each replace
// points at the module it names, and that the shipped manifest builds the
// packetexporter receiver.
func DeriveManifest(shipped []byte, repoRoot string) (Derived, error) {
	m, err := ParseManifest(shipped)
	if err != nil {
		return Derived{}, err
	}
	if m.Dist.OutputPath == "" {
		return Derived{}, errors.New("builder manifest: no dist.output_path: the replaces' relative paths are relative to it")
	}
	receiver := testexporter.ModulePath + "/otelcol/packetexporterreceiver"
	if !slices.ContainsFunc(m.Receivers, func(r Module) bool { return r.ImportPath() == receiver }) {
		return Derived{}, fmt.Errorf("builder manifest: no receiver %s", receiver)
	}
	var d Derived
	for _, mods := range [][]Module{m.Receivers, m.Processors, m.Exporters, m.Extensions, m.Connectors, m.Providers, m.Converters} {
		for _, mod := range mods {
			if mod.Path != "" {
				return Derived{}, fmt.Errorf("builder manifest: %s: path %q: use a replaces entry (the e2e test resolves those)", mod.GoMod, mod.Path)
			}
		}
	}
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
		if got, err := modulePathOf(filepath.Join(dir, "go.mod")); err != nil || got != mod {
			return Derived{}, fmt.Errorf("builder manifest: replace %q: %s (from dist.output_path %s) is module %q, not %s (%v)",
				r, dir, m.Dist.OutputPath, got, mod, err)
		}
		replaces = append(replaces, mod+" => "+dir)
		d.Sources = append(d.Sources, SourceTree{Module: mod, Dir: dir})
	}
	const exporterPackage = "internal/jsonfileexporter"
	e2eDir := filepath.Join(repoRoot, "e2e")
	m.Exporters = append(m.Exporters, Module{GoMod: e2eModule + " " + zeroVersion, Import: e2eModule + "/" + exporterPackage})
	replaces = append(replaces, e2eModule+" => "+e2eDir)
	d.Sources = append(d.Sources, SourceTree{Module: e2eModule, Dir: e2eDir})
	m.Replaces = replaces
	m.Dist.Module = e2eModule + "/otelcol"
	m.Dist.OutputPath = "" // set where it is built
	d.Manifest = m
	return d, nil
}

// modulePathOf returns the module path a go.mod file declares.
func modulePathOf(goMod string) (string, error) {
	b, err := os.ReadFile(goMod)
	if err != nil {
		return "", err
	}
	if p := modfile.ModulePath(b); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("%s declares no module", goMod)
}

// keyEnvironment are the environment variables that change what the go
// command builds, beyond those ocb sets itself.
var keyEnvironment = []string{"GOFLAGS", "GOEXPERIMENT", "GOAMD64", "GOARM64", "GOOS", "GOARCH", "GOTOOLCHAIN"}

// DistributionKey identifies a build of the derived manifest: a hash of the
// manifest, the Go toolchain and the build-relevant environment, the go.mod
// and go.sum of each module it replaces, and every file of theirs that can
// go into the build (see sourceFiles). The same key means the same collector.
func DistributionKey(d Derived) (string, error) {
	h := sha256.New()
	manifest, err := d.Manifest.YAML()
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "packet-exporter-otelcol 1\n%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, k := range keyEnvironment {
		fmt.Fprintf(h, "%s=%s\n", k, os.Getenv(k))
	}
	fmt.Fprintf(h, "manifest %d\n", len(manifest))
	h.Write(manifest)
	files, err := sourceFiles(d)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if err := hashFile(h, f); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

func hashFile(h io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	fmt.Fprintf(h, "file %s %d\n", path, fi.Size())
	_, err = io.Copy(h, f)
	return err
}

// sourceFiles lists, sorted, the files of the replaced modules that can go
// into the collector: their go.mod and go.sum, and, for every package of
// theirs the collector imports (from the manifest's components, following
// imports from package to package with the build's constraints: this
// platform, cgo as the manifest says, its build tags), every non-test Go
// file, including those the constraints exclude (a change of a constraint
// changes the key), assembly, headers, syso files and what it embeds.
func sourceFiles(d Derived) ([]string, error) {
	var files []string
	for _, src := range d.Sources {
		for _, name := range []string{"go.mod", "go.sum"} {
			if _, err := os.Stat(filepath.Join(src.Dir, name)); err == nil {
				files = append(files, filepath.Join(src.Dir, name))
			}
		}
	}
	ctx := build.Default
	ctx.CgoEnabled = d.Manifest.Dist.CGoEnabled
	if d.Manifest.Dist.BuildTags != "" {
		ctx.BuildTags = strings.Split(d.Manifest.Dist.BuildTags, ",")
	}
	m := d.Manifest
	var queue []string
	for _, mods := range [][]Module{m.Receivers, m.Processors, m.Exporters, m.Extensions, m.Connectors, m.Providers, m.Converters} {
		for _, mod := range mods {
			queue = append(queue, mod.ImportPath())
		}
	}
	seen := map[string]bool{}
	for len(queue) > 0 {
		importPath := queue[0]
		queue = queue[1:]
		if seen[importPath] {
			continue
		}
		seen[importPath] = true
		dir, ok := d.dirOf(importPath)
		if !ok {
			continue // a module the go command downloads: go.sum pins it
		}
		pkg, err := ctx.ImportDir(dir, 0)
		if err != nil {
			return nil, fmt.Errorf("package %s: %w", importPath, err)
		}
		names := slices.Concat(pkg.GoFiles, pkg.CgoFiles, pkg.IgnoredGoFiles, pkg.SFiles, pkg.HFiles, pkg.SysoFiles)
		for _, name := range names {
			if !strings.HasSuffix(name, "_test.go") {
				files = append(files, filepath.Join(dir, name))
			}
		}
		embedded, err := embeddedFiles(dir, pkg.EmbedPatterns)
		if err != nil {
			return nil, fmt.Errorf("package %s: %w", importPath, err)
		}
		files = append(files, embedded...)
		queue = append(queue, pkg.Imports...)
	}
	slices.Sort(files)
	return slices.Compact(files), nil
}

// dirOf returns the directory of a package of a replaced module: that of
// the module with the longest path that is a prefix of importPath.
func (d Derived) dirOf(importPath string) (string, bool) {
	best := -1
	for i, src := range d.Sources {
		if (importPath == src.Module || strings.HasPrefix(importPath, src.Module+"/")) &&
			(best < 0 || len(src.Module) > len(d.Sources[best].Module)) {
			best = i
		}
	}
	if best < 0 {
		return "", false
	}
	src := d.Sources[best]
	return filepath.Join(src.Dir, filepath.FromSlash(strings.TrimPrefix(importPath, src.Module))), true
}

// embeddedFiles returns the files the //go:embed patterns of a package in
// dir match (a directory: every file under it).
func embeddedFiles(dir string, patterns []string) ([]string, error) {
	var files []string
	for _, pattern := range patterns {
		matches, err := filepath.Glob(filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(pattern, "all:"))))
		if err != nil {
			return nil, fmt.Errorf("embed %s: %w", pattern, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("embed %s: no matching files", pattern)
		}
		for _, match := range matches {
			err := filepath.WalkDir(match, func(p string, e fs.DirEntry, err error) error {
				if err == nil && e.Type().IsRegular() {
					files = append(files, p)
				}
				return err
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return files, nil
}

// Distribution is the test collector built from the derived manifest.
type Distribution struct {
	// Binary is the collector's path.
	Binary string
	// Key is its DistributionKey.
	Key string
	// Cached reports whether it came from the cache, unbuilt.
	Cached bool
	// Took is how long finding or building it took.
	Took time.Duration
}

// BuildDistribution returns the collector of the manifest derived from the
// shipped one (DeriveManifest) for the checkout at repoRoot. It is kept under
// the user's cache directory, DistributionCacheDir/KEY, and built with ocb
// only when no collector of the same key is there; the cache keeps the
// keepDistributions most recently used ones.
func BuildDistribution(repoRoot string) (Distribution, error) {
	start := time.Now()
	shipped, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(ShippedManifest)))
	if err != nil {
		return Distribution{}, err
	}
	d, err := DeriveManifest(shipped, repoRoot)
	if err != nil {
		return Distribution{}, err
	}
	key, err := DistributionKey(d)
	if err != nil {
		return Distribution{}, err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return Distribution{}, err
	}
	root := filepath.Join(cache, DistributionCacheDir)
	entry := filepath.Join(root, key)
	dist := Distribution{Binary: filepath.Join(entry, d.Manifest.Dist.Name), Key: key}
	if _, err := os.Stat(dist.Binary); err == nil {
		now := time.Now()
		_ = os.Chtimes(entry, now, now) // most recently used
		dist.Cached, dist.Took = true, time.Since(start)
		return dist, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return Distribution{}, err
	}
	ocb, err := builderProgram.Build()
	if err != nil {
		return Distribution{}, err
	}
	tmp, err := os.MkdirTemp(root, "build-")
	if err != nil {
		return Distribution{}, err
	}
	defer os.RemoveAll(tmp) // gone once renamed
	if err := runBuilder(ocb, d.Manifest, tmp); err != nil {
		return Distribution{}, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Distribution{}, err
	}
	if _, err := os.Stat(dist.Binary); err != nil {
		os.RemoveAll(entry) // what an interrupted copy or a clean-up left
	}
	if err := os.Rename(tmp, entry); err != nil {
		// Another test process built the same key meanwhile.
		if _, statErr := os.Stat(dist.Binary); statErr != nil {
			return Distribution{}, fmt.Errorf("store the collector in the cache: %w", err)
		}
	}
	pruneDistributions(root, key)
	dist.Took = time.Since(start)
	return dist, nil
}

// runBuilder runs ocb on manifest m with dir as its output directory, where
// it also writes the manifest and its log (build.log).
func runBuilder(ocb string, m Manifest, dir string) error {
	m.Dist.OutputPath = dir
	b, err := m.YAML()
	if err != nil {
		return err
	}
	manifest := filepath.Join(dir, "manifest.yaml")
	if err := os.WriteFile(manifest, b, 0o644); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, ocb, "--config", manifest)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	_ = os.WriteFile(filepath.Join(dir, "build.log"), out, 0o644)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("not done within %v: %w", buildTimeout, err)
		}
		return fmt.Errorf("ocb --config %s: %w\n%s\nmanifest:\n%s", manifest, err, testexporter.Tail(string(out), 8000), b)
	}
	if _, err := os.Stat(filepath.Join(dir, m.Dist.Name)); err != nil {
		return fmt.Errorf("ocb built no %s: %w\n%s", m.Dist.Name, err, testexporter.Tail(string(out), 8000))
	}
	return nil
}

// pruneDistributions removes the cached distributions beyond the
// keepDistributions most recently used (keeping current), and builds left by
// processes that died more than a day ago.
func pruneDistributions(root, current string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	type dirAge struct {
		name string
		mod  time.Time
	}
	var dists []dirAge
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !e.IsDir() {
			continue
		}
		if strings.HasPrefix(e.Name(), "build-") {
			if time.Since(info.ModTime()) > 24*time.Hour {
				os.RemoveAll(filepath.Join(root, e.Name()))
			}
			continue
		}
		if e.Name() != current {
			dists = append(dists, dirAge{e.Name(), info.ModTime()})
		}
	}
	slices.SortFunc(dists, func(a, b dirAge) int { return b.mod.Compare(a.mod) })
	for i, d := range dists {
		if i >= keepDistributions-1 {
			os.RemoveAll(filepath.Join(root, d.name))
		}
	}
}
