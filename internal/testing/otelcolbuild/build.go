package otelcolbuild

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// BuilderModule is the OpenTelemetry Collector Builder (ocb).
const BuilderModule = "go.opentelemetry.io/collector/cmd/builder"

// BuilderDir is the directory, relative to the repository root, of the
// module that pins ocb (a tool directive); ocb is built there.
const BuilderDir = "deploy/otelcol"

// CacheDir is the directory, under the user's cache directory, that holds
// built collectors, one subdirectory per key (Derived.Key).
const CacheDir = "packet-exporter-otelcol"

// keepCollectors is how many collectors (the most recently used) the cache
// keeps: the variants of e2e and tools/collector, and one or two older ones.
const keepCollectors = 4

// DefaultTimeout bounds one ocb run when a Collector sets no Timeout: a cold
// build (modules downloaded, nothing compiled) of the shipped distribution
// took 5 minutes on 2 cores.
const DefaultTimeout = 20 * time.Minute

// builderProgram is ocb, built from the version BuilderDir's go.mod pins.
var builderProgram = &testexporter.Program{
	Name: "ocb",
	Dir:  BuilderDir,
	Command: func(out string) (env, args []string, err error) {
		return nil, []string{"build", "-o", out, BuilderModule}, nil
	},
}

// BuilderVersion returns the version of ocb that BuilderDir's go.mod pins in
// the checkout at repoRoot.
func BuilderVersion(repoRoot string) (string, error) {
	path := filepath.Join(repoRoot, filepath.FromSlash(BuilderDir), "go.mod")
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("builder version: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		line, _, _ = strings.Cut(line, "//")
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "require" {
			f = f[1:]
		}
		if len(f) == 2 && f[0] == BuilderModule {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("builder version: %s does not require %s", path, BuilderModule)
}

// Collector is a variant of the collector that tests run, built (or found in
// the cache) on first use and then shared by every test of the process.
type Collector struct {
	// Variant is what is built.
	Variant Variant
	// Timeout bounds the ocb run; zero means DefaultTimeout.
	Timeout time.Duration

	once sync.Once
	dist Distribution
	err  error
}

// Distribution is a built collector.
type Distribution struct {
	// Binary is the collector's path.
	Binary string
	// Key is its key (Derived.Key).
	Key string
	// Cached reports whether it came from the cache, unbuilt.
	Cached bool
	// Took is how long finding or building it took.
	Took time.Duration
}

// How tells how the collector was had: "built with ocb" or "found in the
// cache".
func (d Distribution) How() string {
	if d.Cached {
		return "found in the cache"
	}
	return "built with ocb"
}

// Build returns the collector on every call, built by the first: the variant
// derived (Derive) for the checkout the tests run in, kept under the user's
// cache directory, CacheDir/KEY, and built with ocb only when no collector of
// the same key is there. It is safe for concurrent use.
func (c *Collector) Build() (Distribution, error) {
	c.once.Do(func() { c.dist, c.err = c.build() })
	return c.dist, c.err
}

// Path is Build for a test: it returns the collector's binary and fails the
// test if the build failed.
func (c *Collector) Path(tb testing.TB) string {
	tb.Helper()
	d, err := c.Build()
	if err != nil {
		tb.Fatal(err)
	}
	return d.Binary
}

func (c *Collector) build() (Distribution, error) {
	start := time.Now()
	root, err := testexporter.RepoRoot()
	if err != nil {
		return Distribution{}, err
	}
	shipped, err := ReadShipped(root)
	if err != nil {
		return Distribution{}, err
	}
	d, err := Derive(shipped, root, c.Variant)
	if err != nil {
		return Distribution{}, err
	}
	key, err := d.Key()
	if err != nil {
		return Distribution{}, err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return Distribution{}, fmt.Errorf("collector cache: %w", err)
	}
	cacheRoot := filepath.Join(cache, CacheDir)
	entry := filepath.Join(cacheRoot, key)
	dist := Distribution{Binary: filepath.Join(entry, d.Manifest.Dist.Name), Key: key}
	if _, err := os.Stat(dist.Binary); err == nil {
		now := time.Now()
		_ = os.Chtimes(entry, now, now) // most recently used
		dist.Cached, dist.Took = true, time.Since(start)
		return dist, nil
	}
	if err := os.MkdirAll(cacheRoot, 0o755); err != nil {
		return Distribution{}, fmt.Errorf("collector cache: %w", err)
	}
	ocb, err := builderProgram.Build()
	if err != nil {
		return Distribution{}, err
	}
	tmp, err := os.MkdirTemp(cacheRoot, "build-")
	if err != nil {
		return Distribution{}, fmt.Errorf("collector cache: %w", err)
	}
	defer os.RemoveAll(tmp) // gone once renamed
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if err := runBuilder(ocb, d.Manifest, tmp, timeout); err != nil {
		return Distribution{}, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Distribution{}, fmt.Errorf("collector cache: %w", err)
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
	prune(cacheRoot, key)
	dist.Took = time.Since(start)
	return dist, nil
}

// runBuilder runs ocb on manifest m with dir as its output directory, where
// it also writes the manifest and its log (build.log).
func runBuilder(ocb string, m Manifest, dir string, timeout time.Duration) error {
	m.Dist.OutputPath = dir
	b, err := m.YAML()
	if err != nil {
		return err
	}
	manifest := filepath.Join(dir, "manifest.yaml")
	if err := os.WriteFile(manifest, b, 0o644); err != nil {
		return fmt.Errorf("write builder manifest: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, ocb, "--config", manifest)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	_ = os.WriteFile(filepath.Join(dir, "build.log"), out, 0o644)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("not done within %v: %w", timeout, err)
		}
		return fmt.Errorf("ocb --config %s: %w\n%s\nmanifest:\n%s", manifest, err, testexporter.Tail(string(out), 8000), b)
	}
	if _, err := os.Stat(filepath.Join(dir, m.Dist.Name)); err != nil {
		return fmt.Errorf("ocb built no %s: %w\n%s", m.Dist.Name, err, testexporter.Tail(string(out), 8000))
	}
	return nil
}

// prune removes the cached collectors beyond the keepCollectors most
// recently used (keeping current), and builds left by processes that died
// more than a day ago.
func prune(cacheRoot, current string) {
	entries, err := os.ReadDir(cacheRoot)
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
				os.RemoveAll(filepath.Join(cacheRoot, e.Name()))
			}
			continue
		}
		if e.Name() != current {
			dists = append(dists, dirAge{e.Name(), info.ModTime()})
		}
	}
	slices.SortFunc(dists, func(a, b dirAge) int { return b.mod.Compare(a.mod) })
	for i, d := range dists {
		if i >= keepCollectors-1 {
			os.RemoveAll(filepath.Join(cacheRoot, d.name))
		}
	}
}
