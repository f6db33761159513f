// Package dockerfile reads the repository's top-level Dockerfile as BuildKit
// would: its Go build command (which the deploy tests compare with `make
// build` and run) and its image stage (which `make image` reproduces without
// a daemon, and the tests compare the built image with).
package dockerfile

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// File is a parsed Dockerfile.
type File struct {
	// Stages are its build stages, in order.
	Stages []instructions.Stage
	// MetaArgs are the ARG instructions before the first FROM.
	MetaArgs []instructions.ArgCommand
}

// Read reads and parses the Dockerfile at path.
func Read(path string) (File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return File{}, err
	}
	res, err := parser.Parse(bytes.NewReader(b))
	if err != nil {
		return File{}, fmt.Errorf("parse %s: %w", path, err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return File{}, fmt.Errorf("parse the instructions of %s: %w", path, err)
	}
	return File{Stages: stages, MetaArgs: metaArgs}, nil
}

// GoBuild is the Go build command of a Dockerfile's build stage.
type GoBuild struct {
	// Stage is the name of the stage it runs in.
	Stage string
	// Workdir is that stage's working directory when it runs.
	Workdir string
	// Env are the NAME=value assignments in front of the command.
	Env []string
	// Args are the command's words after "go" (build ...).
	Args []string
	// Output is the -o argument.
	Output string
	// Line is the RUN line as written.
	Line string
}

// GoBuild finds the one RUN instruction that runs `go build` and expands it
// as BuildKit would with buildArgs (--build-arg values, and BuildKit's
// automatic TARGETOS and TARGETARCH); ARG defaults fill in the rest.
func (f File) GoBuild(buildArgs map[string]string) (GoBuild, error) {
	var found []GoBuild
	for _, st := range f.Stages {
		env := map[string]string{}
		workdir := "/"
		for _, c := range st.Commands {
			switch c := c.(type) {
			case *instructions.ArgCommand:
				declareArgs(env, c, buildArgs)
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
				words, err := shell.NewLex('\\').ProcessWords(c.CmdLine[0], envGetter(env))
				if err != nil {
					return GoBuild{}, fmt.Errorf("expand %q: %w", c.CmdLine[0], err)
				}
				b := GoBuild{Stage: st.Name, Workdir: workdir, Line: c.CmdLine[0]}
				b.Env, b.Args = SplitCommand(words)
				if len(b.Args) < 2 || b.Args[0] != "go" || b.Args[1] != "build" {
					return GoBuild{}, fmt.Errorf("RUN %q is not `[VAR=value ...] go build ...` (words %q)", c.CmdLine[0], words)
				}
				b.Args = b.Args[1:]
				b.Output = OutputOf(b.Args)
				found = append(found, b)
			}
		}
	}
	if len(found) != 1 {
		return GoBuild{}, fmt.Errorf("want exactly one RUN with `go build`, found %d", len(found))
	}
	return found[0], nil
}

// SplitCommand splits a command's words into the NAME=value assignments in
// front of it and the command itself.
func SplitCommand(words []string) (env, command []string) {
	i := 0
	for ; i < len(words) && strings.Contains(words[i], "=") && !strings.HasPrefix(words[i], "-"); i++ {
	}
	return words[:i], words[i:]
}

// OutputOf returns the value of a go build command's -o flag ("" if none).
func OutputOf(args []string) string {
	for i, a := range args {
		if a == "-o" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// Image is what a Dockerfile's last stage puts into the image: its base, the
// files it copies, and its configuration.
type Image struct {
	// Base is the FROM of the stage.
	Base string
	// Copies are its COPY instructions, in order.
	Copies []Copy
	// Labels are its LABELs, with build arguments expanded.
	Labels map[string]string
	// Env are its ENV assignments (NAME=value), in order.
	Env []string
	// User is its USER ("" if none).
	User string
	// ExposedPorts are its EXPOSE ports as written (9743, 9743/udp).
	ExposedPorts []string
	// Entrypoint and Cmd are its ENTRYPOINT and CMD, in exec form.
	Entrypoint, Cmd []string
}

// Copy is one COPY instruction of an image stage.
type Copy struct {
	// From is the stage it copies from; "" for the build context.
	From string
	// Sources are its source paths, Dest its destination.
	Sources []string
	Dest    string
}

// Image interprets the last stage with buildArgs as BuildKit would. An
// instruction whose effect it does not reproduce (RUN, WORKDIR, shell forms,
// COPY flags...) is an error, so that an image built from Image never
// silently differs from one built by BuildKit but for its base.
func (f File) Image(buildArgs map[string]string) (Image, error) {
	if len(f.Stages) == 0 {
		return Image{}, fmt.Errorf("no stage")
	}
	st := f.Stages[len(f.Stages)-1]
	img := Image{Base: st.BaseName, Labels: map[string]string{}}
	env := map[string]string{}
	expand := func(word string) (string, error) {
		s, _, err := shell.NewLex('\\').ProcessWord(word, envGetter(env))
		return s, err
	}
	for _, c := range st.Commands {
		var err error
		switch c := c.(type) {
		case *instructions.ArgCommand:
			declareArgs(env, c, buildArgs)
		case *instructions.LabelCommand:
			if err = c.Expand(expand); err == nil {
				for _, kv := range c.Labels {
					img.Labels[kv.Key] = kv.Value
				}
			}
		case *instructions.EnvCommand:
			if err = c.Expand(expand); err == nil {
				for _, kv := range c.Env {
					env[kv.Key] = kv.Value
					img.Env = append(img.Env, kv.Key+"="+kv.Value)
				}
			}
		case *instructions.CopyCommand:
			if c.Chown != "" || c.Chmod != "" || c.Link || c.Parents || len(c.ExcludePatterns) > 0 || len(c.SourceContents) > 0 {
				err = fmt.Errorf("flags or here-documents are not reproduced")
			} else if err = c.Expand(expand); err == nil {
				img.Copies = append(img.Copies, Copy{From: c.From, Sources: slices.Clone(c.SourcePaths), Dest: c.DestPath})
			}
		case *instructions.UserCommand:
			if err = c.Expand(expand); err == nil {
				img.User = c.User
			}
		case *instructions.ExposeCommand:
			img.ExposedPorts = append(img.ExposedPorts, c.Ports...)
		case *instructions.EntrypointCommand:
			if c.PrependShell {
				err = fmt.Errorf("shell form: the image has no shell")
			}
			img.Entrypoint = slices.Clone(c.CmdLine)
		case *instructions.CmdCommand:
			if c.PrependShell {
				err = fmt.Errorf("shell form: the image has no shell")
			}
			img.Cmd = slices.Clone(c.CmdLine)
		default:
			err = fmt.Errorf("not reproduced by this reader")
		}
		if err != nil {
			return Image{}, fmt.Errorf("image stage, %s: %w", strings.ToUpper(c.Name()), err)
		}
	}
	return img, nil
}

// declareArgs records the variables an ARG instruction declares: the build
// argument's value if given, else the default.
func declareArgs(env map[string]string, c *instructions.ArgCommand, buildArgs map[string]string) {
	for _, a := range c.Args {
		switch v, ok := buildArgs[a.Key]; {
		case ok:
			env[a.Key] = v
		case a.Value != nil:
			env[a.Key] = *a.Value
		default:
			env[a.Key] = ""
		}
	}
}

// envGetter makes variables a shell.EnvGetter, in a stable order.
func envGetter(env map[string]string) shell.EnvGetter {
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		kv = append(kv, k+"="+env[k])
	}
	return shell.EnvsFromSlice(kv)
}
