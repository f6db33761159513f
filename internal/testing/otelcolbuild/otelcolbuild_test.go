package otelcolbuild

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// shipped returns the repository root and its shipped manifest.
func shipped(t *testing.T) (string, []byte) {
	t.Helper()
	root, err := testexporter.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadShipped(root)
	if err != nil {
		t.Fatal(err)
	}
	return root, b
}

// TestDerive: the zero variant is the shipped manifest (deploy's
// TestOtelcolManifest checks what that holds); Keep keeps the components it
// names, in order, and the providers and replaces; a variant's module adds
// its packages, a replace of it, and the generated module under its path.
func TestDerive(t *testing.T) {
	root, b := shipped(t)
	orig, err := ParseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Derive(b, root, Variant{})
	if err != nil {
		t.Fatal(err)
	}
	shippedReplaces := d.Manifest.ReplaceDirs()
	if d.Builder != filepath.Join(root, filepath.FromSlash(BuilderDir)) {
		t.Errorf("builder module %s", d.Builder)
	}

	kept := []string{"go.opentelemetry.io/collector/exporter/debugexporter", "go.opentelemetry.io/collector/receiver/otlpreceiver"}
	d, err = Derive(b, root, Variant{Keep: kept})
	if err != nil {
		t.Fatal(err)
	}
	var imports []string
	for _, mods := range d.Manifest.pipelineComponents() {
		for _, mod := range *mods {
			imports = append(imports, mod.ImportPath())
		}
	}
	if slices.Sort(imports); !slices.Equal(imports, kept) {
		t.Errorf("kept %q, want %q", imports, kept)
	}
	if !slices.Equal(d.Manifest.Providers, orig.Providers) || !maps.Equal(d.Manifest.ReplaceDirs(), shippedReplaces) {
		t.Errorf("Keep changed the providers or replaces: %+v", d.Manifest)
	}
	if _, err := Derive(b, root, Variant{Keep: []string{"example.com/no/such/exporter"}}); err == nil {
		t.Error("a component to keep that the manifest lacks was accepted")
	}

	// A module of the checkout adds its packages, replaced by its directory.
	const e2e = testexporter.ModulePath + "/e2e"
	d, err = Derive(b, root, Variant{Module: "e2e", Exporters: []string{"internal/jsonfileexporter"}})
	if err != nil {
		t.Fatal(err)
	}
	last := d.Manifest.Exporters[len(d.Manifest.Exporters)-1]
	if len(d.Manifest.Exporters) != len(orig.Exporters)+1 || last.ImportPath() != e2e+"/internal/jsonfileexporter" || last.GoMod != e2e+" "+ZeroVersion {
		t.Errorf("exporters %+v: want the shipped ones and the variant's", d.Manifest.Exporters)
	}
	if d.Manifest.Dist.Module != e2e+"/otelcol" || d.Manifest.ReplaceDirs()[e2e] != filepath.Join(root, "e2e") {
		t.Errorf("dist module %s, replaces %q", d.Manifest.Dist.Module, d.Manifest.Replaces)
	}
	if _, err := Derive(b, root, Variant{Module: ".", Exporters: []string{"internal/x"}}); err == nil {
		t.Error("a variant's module that the manifest replaces already was accepted")
	}
}

// TestDeriveRefuses: a replace to the wrong module and unknown keys.
func TestDeriveRefuses(t *testing.T) {
	root, b := shipped(t)
	bad := strings.Replace(string(b), "packetexporterreceiver => ", "packetexporterreceiver => ../e2e #", 1)
	if _, err := Derive([]byte(bad), root, Variant{}); err == nil {
		t.Error("a replace to the wrong module was accepted")
	}
	if _, err := ParseManifest([]byte("dist:\n  name: x\n  unknown_key: 1\n")); err == nil {
		t.Error("an unknown key was accepted")
	}
}

// TestKey: the key follows every file that can go into the build, and no
// other.
func TestKey(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/m\n\ngo 1.26\n")
	write("a/a.go", "package a\n\nimport _ \"example.com/m/b\"\n")
	write("a/a_test.go", "package a\n")
	write("b/b.go", "package b\n\nimport _ \"embed\"\n\n//go:embed data\nvar data string\n")
	write("b/data", "1")
	write("b/other_windows.go", "package b\n")
	write("c/c.go", "package c\n")
	write("ocb/go.mod", "module example.com/ocb\n\ngo 1.26\n")
	d := Derived{
		Manifest: Manifest{Dist: Dist{Name: "x"}, Receivers: []Module{{GoMod: "example.com/m v0.0.0", Import: "example.com/m/a"}}},
		Sources:  []SourceTree{{Module: "example.com/m", Dir: dir}},
		Builder:  filepath.Join(dir, "ocb"),
	}
	key := func() string {
		t.Helper()
		k, err := d.Key()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	last := key()
	for _, tc := range []struct {
		file    string
		changes bool
	}{
		{"a/a.go", true},
		{"b/data", true},
		{"b/other_windows.go", true}, // a constraint may change
		{"go.mod", true},
		{"ocb/go.mod", true}, // another ocb
		{"a/a_test.go", false},
		{"c/c.go", false}, // not imported
		{"a/README.md", false},
	} {
		old, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(tc.file)))
		write(tc.file, string(old)+"// changed\n")
		k := key()
		if (k != last) != tc.changes {
			t.Errorf("changing %s: key changed %v, want %v", tc.file, k != last, tc.changes)
		}
		last = k
	}
}
