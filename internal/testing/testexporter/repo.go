package testexporter

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ModulePath is the module path of the repository's root module, the product.
const ModulePath = "github.com/packet-exporter/packet-exporter"

// RepoRoot returns the repository's top directory: the nearest directory,
// from the working directory (the directory of the package under test) up,
// whose go.mod declares ModulePath. It works from every module of the
// repository.
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for dir := wd; ; {
		if declaresRootModule(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find repository root: no go.mod of module %s in %s or above", ModulePath, wd)
		}
		dir = parent
	}
}

// declaresRootModule reports whether the go.mod file at path declares
// ModulePath.
func declaresRootModule(path string) bool {
	mod, err := ModulePathOf(path)
	return err == nil && mod == ModulePath
}

// ModulePathOf returns the module path that the go.mod file at path declares.
func ModulePathOf(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("module path: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		line, _, _ = strings.Cut(line, "//")
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], "\"`"), nil
		}
	}
	return "", fmt.Errorf("module path: %s declares no module", path)
}
