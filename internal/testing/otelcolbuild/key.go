package otelcolbuild

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"go/build"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// keyEnvironment are the environment variables that change what the go
// command builds, beyond those ocb sets itself.
var keyEnvironment = []string{"GOFLAGS", "GOEXPERIMENT", "GOAMD64", "GOARM64", "GOOS", "GOARCH", "GOTOOLCHAIN"}

// Key identifies a build of d: a hash of the manifest, the Go toolchain and
// the build-relevant environment, the go.mod and go.sum of the module that
// pins ocb and of each module d replaces, and every file of theirs that can
// go into the build (see Files). The same key means the same collector.
func (d Derived) Key() (string, error) {
	h := sha256.New()
	manifest, err := d.Manifest.YAML()
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "packet-exporter-otelcol 2\n%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, k := range keyEnvironment {
		fmt.Fprintf(h, "%s=%s\n", k, os.Getenv(k))
	}
	fmt.Fprintf(h, "manifest %d\n", len(manifest))
	h.Write(manifest)
	files, err := d.Files()
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if err := hashFile(h, f); err != nil {
			return "", fmt.Errorf("collector key: %w", err)
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

// Files lists, sorted, the files of this checkout that can go into the
// collector of d: the go.mod and go.sum of the module that pins ocb and of
// the replaced modules, and, for every package of the replaced modules the
// collector imports (from the manifest's components, following imports from
// package to package with the build's constraints: this platform, cgo as the
// manifest says, its build tags), every non-test Go file, including those the
// constraints exclude (a change of a constraint changes the key), assembly,
// headers, syso files and what it embeds.
func (d Derived) Files() ([]string, error) {
	var files []string
	var dirs []string
	if d.Builder != "" {
		dirs = append(dirs, d.Builder)
	}
	for _, src := range d.Sources {
		dirs = append(dirs, src.Dir)
	}
	for _, dir := range dirs {
		for _, name := range []string{"go.mod", "go.sum"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				files = append(files, filepath.Join(dir, name))
			}
		}
	}
	ctx := build.Default
	ctx.CgoEnabled = d.Manifest.Dist.CGoEnabled
	if d.Manifest.Dist.BuildTags != "" {
		ctx.BuildTags = strings.Split(d.Manifest.Dist.BuildTags, ",")
	}
	var queue []string
	for _, mods := range d.Manifest.components() {
		for _, mod := range *mods {
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
			return nil, fmt.Errorf("collector sources: package %s: %w", importPath, err)
		}
		names := slices.Concat(pkg.GoFiles, pkg.CgoFiles, pkg.IgnoredGoFiles, pkg.SFiles, pkg.HFiles, pkg.SysoFiles)
		for _, name := range names {
			if !strings.HasSuffix(name, "_test.go") {
				files = append(files, filepath.Join(dir, name))
			}
		}
		embedded, err := embeddedFiles(dir, pkg.EmbedPatterns)
		if err != nil {
			return nil, fmt.Errorf("collector sources: package %s: %w", importPath, err)
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
				return nil, fmt.Errorf("embed %s: %w", pattern, err)
			}
		}
	}
	return files, nil
}
