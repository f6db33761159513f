package testexporter

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Version is the version Binary builds packet-exporter with (-X
// main.version): what its --version prints, the version label of
// packet_exporter_build_info and its service.version resource attribute.
const Version = "test-binary"

// ExporterProgram is packet-exporter built as `make build` builds it (see
// MakeBuild), with Version.
var ExporterProgram = &Program{
	Name: "packet-exporter",
	Command: func(out string) (env, args []string, err error) {
		env, args = MakeBuild(Version, out)
		return env, args, nil
	},
}

// VariantProgram is ExporterProgram built with the build tag
// layoutvariant: programs whose pinned maps have another layout (the same
// counters in another order), for the tests of upgrades and downgrades.
var VariantProgram = &Program{
	Name: "packet-exporter-variant",
	Command: func(out string) (env, args []string, err error) {
		env, args = MakeBuild(Version, out)
		return env, append([]string{args[0], "-tags", "layoutvariant"}, args[1:]...), nil
	},
}

// Binary returns the path of ExporterProgram, built on first use, and fails
// the test if the build failed.
func Binary(tb testing.TB) string {
	tb.Helper()
	return ExporterProgram.Path(tb)
}

// MakeBuild returns the environment assignments and the arguments of the go
// command (after "go") with which `make build` builds packet-exporter at
// version into the file out: static, stripped, with -trimpath. They are to be
// run in the repository root.
func MakeBuild(version, out string) (env, args []string) {
	return []string{"CGO_ENABLED=0"},
		[]string{"build", "-trimpath", "-ldflags", "-s -w -X main.version=" + version, "-o", out, "./cmd/packet-exporter"}
}

// Program is a Go program of the repository that tests run, built on first
// use and then shared by every test of the process. Its binary lies in a
// directory of its own that every user can read and enter, so that tests can
// run it as an unprivileged user, under the directory that Run removes.
type Program struct {
	// Name is the file name of the binary.
	Name string
	// Dir is the directory the go command runs in: relative to the
	// repository root ("" is the root), or absolute.
	Dir string
	// Command returns the environment assignments to add to the test's
	// environment and the arguments of the go command (after "go") that build
	// the program into the file out.
	Command func(out string) (env, args []string, err error)
	// Timeout, if not zero, bounds the build.
	Timeout time.Duration

	once sync.Once
	path string
	err  error
}

// Build builds the program on its first call and returns the path of the
// binary, or the error of that build, on every call. It is safe for
// concurrent use: programs can be built in parallel.
func (p *Program) Build() (string, error) {
	p.once.Do(func() { p.path, p.err = p.build() })
	return p.path, p.err
}

// Path is Build for a test: it fails the test if the build failed.
func (p *Program) Path(tb testing.TB) string {
	tb.Helper()
	path, err := p.Build()
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// build runs the go command of p.
func (p *Program) build() (string, error) {
	dir := p.Dir
	if !filepath.IsAbs(dir) {
		root, err := RepoRoot()
		if err != nil {
			return "", fmt.Errorf("build %s: %w", p.Name, err)
		}
		dir = filepath.Join(root, dir)
	}
	binDir, err := BuildDir(p.Name)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", p.Name, err)
	}
	out := filepath.Join(binDir, p.Name)
	env, args, err := p.Command(out)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", p.Name, err)
	}
	ctx := context.Background()
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, goCommand(), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("not done within %v: %w", p.Timeout, err)
		}
		line := strings.Join(append(append(env[:len(env):len(env)], "go"), args...), " ")
		return "", fmt.Errorf("build %s: %s (in %s): %w\n%s", p.Name, line, dir, err, b)
	}
	return out, nil
}

// goCommand is the go command of the toolchain running the tests: the one in
// $GOROOT/bin if GOROOT is set, else the first on the PATH, where go test puts
// its own.
func goCommand() string {
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// binaries is the directory of the binaries this process built.
var binaries struct {
	mu  sync.Mutex
	dir string
}

// BuildDir creates a directory, readable and searchable by every user, for
// what a test process builds once and shares between its tests (as Program
// does its binaries): Run removes it at the end.
func BuildDir(name string) (string, error) {
	binaries.mu.Lock()
	defer binaries.mu.Unlock()
	if binaries.dir == "" {
		dir, err := publicTempDir("", "pe-test-bin-")
		if err != nil {
			return "", err
		}
		binaries.dir = dir
	}
	return publicTempDir(binaries.dir, name+"-")
}

// publicTempDir is os.MkdirTemp with mode 0755.
func publicTempDir(parent, pattern string) (string, error) {
	dir, err := os.MkdirTemp(parent, pattern)
	if err != nil {
		return "", fmt.Errorf("make binary directory: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", fmt.Errorf("make binary directory: %w", err)
	}
	return dir, nil
}

// Run runs the tests of m, then removes the binaries that Program built, and
// returns the exit code: a module's TestMain ends with
// os.Exit(testexporter.Run(m)).
func Run(m *testing.M) int {
	code := m.Run()
	binaries.mu.Lock()
	defer binaries.mu.Unlock()
	if binaries.dir != "" {
		os.RemoveAll(binaries.dir)
		binaries.dir = ""
	}
	return code
}
