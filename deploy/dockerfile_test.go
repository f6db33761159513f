package deploy

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// testVersion is the VERSION build argument the tests build the exporter with.
const testVersion = "deploy-test"

// dockerfile is the parsed top-level Dockerfile.
type dockerfile struct {
	stages   []instructions.Stage
	metaArgs []instructions.ArgCommand
}

func parseDockerfile(t testing.TB) dockerfile {
	t.Helper()
	df, err := readDockerfile()
	if err != nil {
		t.Fatal(err)
	}
	return df
}

// readDockerfile reads and parses the Dockerfile.
func readDockerfile() (dockerfile, error) {
	b, err := os.ReadFile(repoPath("Dockerfile"))
	if err != nil {
		return dockerfile{}, err
	}
	res, err := parser.Parse(bytes.NewReader(b))
	if err != nil {
		return dockerfile{}, fmt.Errorf("parse Dockerfile: %w", err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return dockerfile{}, fmt.Errorf("parse Dockerfile instructions: %w", err)
	}
	return dockerfile{stages: stages, metaArgs: metaArgs}, nil
}

// goBuild is the Go build command of the Dockerfile's build stage.
type goBuild struct {
	stage   string
	workdir string
	env     []string // NAME=value assignments in front of the command
	args    []string // go build ..., after "go"
	output  string   // the -o argument
	line    string   // the RUN line as written
}

// dockerfileGoBuild finds the RUN instruction that runs `go build` and
// expands it as BuildKit would, with VERSION=testVersion and the target
// platform of this machine (BuildKit's automatic TARGETOS/TARGETARCH).
func dockerfileGoBuild(t testing.TB) goBuild {
	t.Helper()
	b, err := findDockerfileGoBuild()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// findDockerfileGoBuild is dockerfileGoBuild returning its error.
func findDockerfileGoBuild() (goBuild, error) {
	df, err := readDockerfile()
	if err != nil {
		return goBuild{}, err
	}
	// Variables a build with `--build-arg VERSION=testVersion` on this machine
	// sees; ARG defaults are filled in as the instructions are walked.
	buildArgs := map[string]string{
		"VERSION":    testVersion,
		"TARGETOS":   runtime.GOOS,
		"TARGETARCH": runtime.GOARCH,
	}
	var found []goBuild
	for _, st := range df.stages {
		env := map[string]string{}
		workdir := "/"
		for _, c := range st.Commands {
			switch c := c.(type) {
			case *instructions.ArgCommand:
				for _, a := range c.Args {
					if v, ok := buildArgs[a.Key]; ok {
						env[a.Key] = v
					} else if a.Value != nil {
						env[a.Key] = *a.Value
					} else {
						env[a.Key] = ""
					}
				}
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					env[kv.Key] = kv.Value
				}
			case *instructions.WorkdirCommand:
				workdir = c.Path
			case *instructions.RunCommand:
				if !c.PrependShell || len(c.CmdLine) != 1 || !strings.Contains(c.CmdLine[0], "go build") {
					continue
				}
				var kv []string
				for k, v := range env {
					kv = append(kv, k+"="+v)
				}
				words, err := shell.NewLex('\\').ProcessWords(c.CmdLine[0], shell.EnvsFromSlice(kv))
				if err != nil {
					return goBuild{}, fmt.Errorf("expand %q: %w", c.CmdLine[0], err)
				}
				b := goBuild{stage: st.Name, workdir: workdir, line: c.CmdLine[0]}
				i := 0
				for ; i < len(words) && strings.Contains(words[i], "=") && !strings.HasPrefix(words[i], "-"); i++ {
					b.env = append(b.env, words[i])
				}
				if i >= len(words)-1 || words[i] != "go" || words[i+1] != "build" {
					return goBuild{}, fmt.Errorf("Dockerfile: RUN %q is not `[VAR=value ...] go build ...` (words %q)", c.CmdLine[0], words)
				}
				b.args = words[i+1:]
				for j, w := range b.args {
					if w == "-o" && j+1 < len(b.args) {
						b.output = b.args[j+1]
					}
				}
				found = append(found, b)
			}
		}
	}
	if len(found) != 1 {
		return goBuild{}, fmt.Errorf("Dockerfile: want exactly one RUN with `go build`, found %d", len(found))
	}
	return found[0], nil
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
	i := 0
	for ; i < len(words) && strings.Contains(words[i], "=") && !strings.HasPrefix(words[i], "-"); i++ {
		env = append(env, words[i])
	}
	if i >= len(words)-1 || filepath.Base(words[i]) != "go" || words[i+1] != "build" {
		t.Fatalf("make build runs %q, not `go build`", lines[0])
	}
	args = words[i+1:]
	for j, w := range args {
		if w == "-o" && j+1 < len(args) {
			output = args[j+1]
		}
	}
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
		b, err := findDockerfileGoBuild()
		if err != nil {
			return nil, nil, fmt.Errorf("extract the Dockerfile's go build command: %w", err)
		}
		args = slices.Clone(b.args)
		for i := range args {
			if args[i] == "-o" && i+1 < len(args) {
				args[i+1] = out
			}
		}
		return b.env, args, nil
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
	if !slices.Equal(withoutOutput(b.args), withoutOutput(mArgs)) {
		t.Errorf("Dockerfile builds with\n  go %s\nmake build with\n  go %s", strings.Join(b.args, " "), strings.Join(mArgs, " "))
	}
	for _, e := range mEnv {
		if !slices.Contains(b.env, e) {
			t.Errorf("make build sets %s, the Dockerfile's build does not (it sets %q)", e, b.env)
		}
	}
	for _, e := range b.env {
		name, _, _ := strings.Cut(e, "=")
		if !slices.Contains(mEnv, e) && name != "GOOS" && name != "GOARCH" {
			t.Errorf("the Dockerfile's build sets %s, make build does not", e)
		}
	}
	if !slices.Contains(b.env, "CGO_ENABLED=0") {
		t.Errorf("the Dockerfile's build does not set CGO_ENABLED=0 (static binary): %q", b.env)
	}
	if !slices.Contains(b.args, "-trimpath") {
		t.Errorf("the Dockerfile's build does not use -trimpath: %q", b.args)
	}
	if b.args[len(b.args)-1] != "./cmd/packet-exporter" {
		t.Errorf("the Dockerfile builds %q, want ./cmd/packet-exporter", b.args[len(b.args)-1])
	}
	if !strings.HasPrefix(b.output, "/") {
		t.Errorf("the Dockerfile's -o %q is not absolute", b.output)
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
	if len(df.stages) != 2 {
		t.Fatalf("want 2 stages (build, image), got %d", len(df.stages))
	}
	b := dockerfileGoBuild(t)
	build, final := df.stages[0], df.stages[1]
	if b.stage != build.Name || build.Name == "" {
		t.Errorf("go build runs in stage %q, want the first, named stage (%q)", b.stage, build.Name)
	}
	if !strings.HasPrefix(build.BaseName, "golang:") {
		t.Errorf("build stage base %q is not a golang image", build.BaseName)
	}
	if !strings.HasPrefix(final.BaseName, "gcr.io/distroless/static") {
		t.Errorf("image base %q, want gcr.io/distroless/static*", final.BaseName)
	}
	var (
		copiedBinary, copiedConfig, user, entrypoint string
		cmd                                          []string
		exposed                                      []string
	)
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.CopyCommand:
			if c.From == build.Name && slices.Contains(c.SourcePaths, b.output) {
				copiedBinary = c.DestPath
			}
			if slices.Contains(c.SourcePaths, "packet-exporter.example.yaml") {
				copiedConfig = c.DestPath
			}
		case *instructions.UserCommand:
			user = c.User
		case *instructions.EntrypointCommand:
			if c.PrependShell {
				t.Errorf("ENTRYPOINT in shell form: the image has no shell")
			}
			entrypoint = strings.Join(c.CmdLine, " ")
		case *instructions.CmdCommand:
			if c.PrependShell {
				t.Errorf("CMD in shell form: the image has no shell")
			}
			cmd = c.CmdLine
		case *instructions.ExposeCommand:
			exposed = append(exposed, c.Ports...)
		case *instructions.RunCommand:
			t.Errorf("RUN %q in the image stage: the distroless base has no shell", c.CmdLine)
		}
	}
	if copiedBinary == "" || copiedBinary != entrypoint {
		t.Errorf("the build output %s is copied to %q, the ENTRYPOINT is %q", b.output, copiedBinary, entrypoint)
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
