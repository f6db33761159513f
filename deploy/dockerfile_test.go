package deploy

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/packet-exporter/packet-exporter/deploy/internal/dockerfile"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// testVersion is the VERSION build argument the tests build the exporter with.
const testVersion = "deploy-test"

// testBuildArgs are the build arguments of a build with `--build-arg
// VERSION=testVersion` on this machine (BuildKit's automatic TARGETOS and
// TARGETARCH).
var testBuildArgs = map[string]string{
	"VERSION":    testVersion,
	"TARGETOS":   runtime.GOOS,
	"TARGETARCH": runtime.GOARCH,
}

func parseDockerfile(t testing.TB) dockerfile.File {
	t.Helper()
	df, err := dockerfile.Read(repoPath("Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return df
}

// dockerfileGoBuild returns the Dockerfile's Go build command as BuildKit
// expands it with testBuildArgs.
func dockerfileGoBuild(t testing.TB) dockerfile.GoBuild {
	t.Helper()
	b, err := parseDockerfile(t).GoBuild(testBuildArgs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// makefileBuild returns what `make build` runs, split like a shell would.
func makefileBuild(t testing.TB, version string) (env, args []string, output string) {
	t.Helper()
	requireTool(t, "make")
	cmd := exec.Command("make", "--no-print-directory", "-n", "build", "VERSION="+version)
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n build: %v: %s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 {
		t.Fatalf("make -n build: want one command, got %q", out)
	}
	words, err := shell.NewLex('\\').ProcessWords(lines[0], shell.EnvsFromSlice(nil))
	if err != nil {
		t.Fatalf("split %q: %v", lines[0], err)
	}
	env, args = dockerfile.SplitCommand(words)
	if len(args) < 2 || filepath.Base(args[0]) != "go" || args[1] != "build" {
		t.Fatalf("make build runs %q, not `go build`", lines[0])
	}
	args = args[1:]
	output = dockerfile.OutputOf(args)
	return env, args, output
}

// withoutOutput returns args with the value of -o replaced by OUT.
func withoutOutput(args []string) []string {
	res := slices.Clone(args)
	for i := range res {
		if res[i] == "-o" && i+1 < len(res) {
			res[i+1] = "OUT"
		}
	}
	return res
}

// dockerfileExporter is packet-exporter built with the Dockerfile's own Go
// build command, run on this machine: the same words, environment assignments
// and working directory (the build context, i.e. the repository root), only
// the output path moved from the image's filesystem into the directory of the
// test binaries.
var dockerfileExporter = &testexporter.Program{
	Name: "packet-exporter",
	Command: func(out string) (env, args []string, err error) {
		df, err := dockerfile.Read(repoPath("Dockerfile"))
		if err != nil {
			return nil, nil, err
		}
		b, err := df.GoBuild(testBuildArgs)
		if err != nil {
			return nil, nil, fmt.Errorf("extract the Dockerfile's go build command: %w", err)
		}
		args = slices.Clone(b.Args)
		for i := range args {
			if args[i] == "-o" && i+1 < len(args) {
				args[i+1] = out
			}
		}
		return b.Env, args, nil
	},
}

// exporterBinary returns dockerfileExporter, built once per test binary:
// every test of this package that runs the exporter uses this binary.
func exporterBinary(t testing.TB) string {
	t.Helper()
	return dockerfileExporter.Path(t)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestDockerfileBuildCommandIsMakeBuild checks that the Dockerfile's Go build
// is the command CI's `make build` runs: same flags and package, same
// environment (the Dockerfile only adds the target platform).
func TestDockerfileBuildCommandIsMakeBuild(t *testing.T) {
	b := dockerfileGoBuild(t)
	mEnv, mArgs, _ := makefileBuild(t, testVersion)
	if !slices.Equal(withoutOutput(b.Args), withoutOutput(mArgs)) {
		t.Errorf("Dockerfile builds with\n  go %s\nmake build with\n  go %s", strings.Join(b.Args, " "), strings.Join(mArgs, " "))
	}
	for _, e := range mEnv {
		if !slices.Contains(b.Env, e) {
			t.Errorf("make build sets %s, the Dockerfile's build does not (it sets %q)", e, b.Env)
		}
	}
	for _, e := range b.Env {
		name, _, _ := strings.Cut(e, "=")
		if !slices.Contains(mEnv, e) && name != "GOOS" && name != "GOARCH" {
			t.Errorf("the Dockerfile's build sets %s, make build does not", e)
		}
	}
	if !slices.Contains(b.Env, "CGO_ENABLED=0") {
		t.Errorf("the Dockerfile's build does not set CGO_ENABLED=0 (static binary): %q", b.Env)
	}
	if !slices.Contains(b.Args, "-trimpath") {
		t.Errorf("the Dockerfile's build does not use -trimpath: %q", b.Args)
	}
	if b.Args[len(b.Args)-1] != "./cmd/packet-exporter" {
		t.Errorf("the Dockerfile builds %q, want ./cmd/packet-exporter", b.Args[len(b.Args)-1])
	}
	if !strings.HasPrefix(b.Output, "/") {
		t.Errorf("the Dockerfile's -o %q is not absolute", b.Output)
	}
}

// TestDockerfileBinary runs the Dockerfile's build command and checks the
// result: a static executable whose --version is the VERSION build argument,
// that accepts the configuration the image carries.
func TestDockerfileBinary(t *testing.T) {
	bin := exporterBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s is dynamically linked (program header %s): the distroless static base has no libc", bin, p.Type)
		}
	}
	if f.Section(".symtab") != nil {
		t.Errorf("%s has a symbol table: -s -w should have stripped it", bin)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v: %s", err, out)
	}
	if !strings.Contains(string(out), testVersion) {
		t.Errorf("--version printed %q, want the VERSION build argument %q", out, testVersion)
	}
	// The image's default configuration (COPY packet-exporter.example.yaml).
	out, err = exec.Command(bin, "--check-config", "--config", repoPath("packet-exporter.example.yaml")).CombinedOutput()
	if err != nil {
		t.Errorf("--check-config on packet-exporter.example.yaml: %v: %s", err, out)
	}
}

// TestDockerfileImage checks the image stage: a distroless static base, the
// binary copied from the build stage's output, the configuration file at the
// path the command line names, uid 0 (for the added capabilities), port 9743.
func TestDockerfileImage(t *testing.T) {
	df := parseDockerfile(t)
	if len(df.Stages) != 2 {
		t.Fatalf("want 2 stages (build, image), got %d", len(df.Stages))
	}
	b := dockerfileGoBuild(t)
	build, final := df.Stages[0], df.Stages[1]
	if b.Stage != build.Name || build.Name == "" {
		t.Errorf("go build runs in stage %q, want the first, named stage (%q)", b.Stage, build.Name)
	}
	if !strings.HasPrefix(build.BaseName, "golang:") {
		t.Errorf("build stage base %q is not a golang image", build.BaseName)
	}
	if !strings.HasPrefix(final.BaseName, "gcr.io/distroless/static") {
		t.Errorf("image base %q, want gcr.io/distroless/static*", final.BaseName)
	}
	img, err := df.Image(testBuildArgs)
	if err != nil {
		t.Fatal(err)
	}
	var copiedBinary, copiedConfig string
	for _, c := range img.Copies {
		if c.From == build.Name && slices.Contains(c.Sources, b.Output) {
			copiedBinary = c.Dest
		}
		if slices.Contains(c.Sources, "packet-exporter.example.yaml") {
			copiedConfig = c.Dest
		}
	}
	entrypoint, cmd, user, exposed := strings.Join(img.Entrypoint, " "), img.Cmd, img.User, img.ExposedPorts
	if copiedBinary == "" || copiedBinary != entrypoint {
		t.Errorf("the build output %s is copied to %q, the ENTRYPOINT is %q", b.Output, copiedBinary, entrypoint)
	}
	if len(cmd) != 2 || cmd[0] != "--config" || cmd[1] != copiedConfig {
		t.Errorf("CMD %q, want [--config %s] (the configuration the image carries)", cmd, copiedConfig)
	}
	if user != "0:0" && user != "0" && user != "root" {
		t.Errorf("USER %q: the added capabilities are effective only for uid 0 in a container", user)
	}
	if !slices.Contains(exposed, "9743") {
		t.Errorf("EXPOSE %q, want 9743 (the default listen port)", exposed)
	}
	// The build context must contain what the build needs.
	ignore := string(readRepoFile(t, ".dockerignore"))
	for _, line := range strings.Split(ignore, "\n") {
		line = strings.TrimSpace(line)
		switch line {
		case "cmd", "cmd/", "bpf", "bpf/", "receiver", "internal", "config", "go.mod", "go.sum", "packet-exporter.example.yaml", "*", "**":
			t.Errorf(".dockerignore excludes %q, which the image build needs", line)
		}
	}
}
