package deploy

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/packet-exporter/packet-exporter/deploy/internal/helmchart"
	"github.com/packet-exporter/packet-exporter/deploy/internal/image"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// imageTags are the tags make image gives, for the tests' build: the test
// version and the chart's default tag, on the chart's repository.
func imageTags(t testing.TB) []name.Tag {
	t.Helper()
	repo, tag, err := helmchart.DefaultImage(repoPath("deploy", "helm", "packet-exporter"))
	if err != nil {
		t.Fatal(err)
	}
	var tags []name.Tag
	for _, s := range []string{testVersion, tag} {
		tg, err := name.NewTag(repo + ":" + s)
		if err != nil {
			t.Fatal(err)
		}
		tags = append(tags, tg)
	}
	return tags
}

// imageBuild is make image's output for the tests.
type imageBuild struct {
	dir    string // what image.Write wrote
	images []image.Built
}

var (
	imageOnce   sync.Once
	imageResult imageBuild
	imageErr    error
)

// builtImage builds the images of every platform of image.Platforms with
// the test version and writes them as make image does, once per test binary
// (under testexporter.BuildDir).
func builtImage(t testing.TB) imageBuild {
	t.Helper()
	imageOnce.Do(func() {
		dir, err := testexporter.BuildDir("image")
		if err != nil {
			imageErr = err
			return
		}
		images, err := image.Build(t.Context(), image.Options{Context: repoRoot, Version: testVersion, Platforms: image.Platforms})
		if err == nil {
			err = image.Write(dir, images, testVersion, imageTags(t))
		}
		imageResult, imageErr = imageBuild{dir: dir, images: images}, err
	})
	if imageErr != nil {
		t.Fatalf("build the image: %v", imageErr)
	}
	return imageResult
}

// layerFiles returns the regular files of img's filesystem by absolute path,
// and every entry's mode.
func layerFiles(t testing.TB, img v1.Image) (files map[string][]byte, modes map[string]int64) {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files, modes = map[string][]byte{}, map[string]int64{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := path.Clean("/" + h.Name)
		modes[p] = h.Mode
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[p] = b
		}
	}
	return files, modes
}

// elfMachines are the ELF machines of the Go architectures the image is built for.
var elfMachines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// TestMakeImage checks what make image writes against the Dockerfile's image
// stage: one OCI index of every platform in the layout, each image with the
// stage's labels (VERSION expanded), user, ports, entrypoint and command,
// holding the static binary of its architecture at the entrypoint and the
// example configuration at the command's --config path, nothing else; at most
// 1 MiB more than the binary; the tarballs hold the same images under both
// tags.
func TestMakeImage(t *testing.T) {
	build := builtImage(t)
	df := parseDockerfile(t)

	idx, err := layout.ImageIndexFromPath(filepath.Join(build.dir, image.LayoutDir))
	if err != nil {
		t.Fatal(err)
	}
	top, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Manifests) != 1 || top.Manifests[0].Annotations[ocispec.AnnotationRefName] != testVersion {
		t.Fatalf("the layout's index.json: %+v, want one image index named %s", top.Manifests, testVersion)
	}
	platformIdx, err := idx.ImageIndex(top.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := platformIdx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []v1.Platform
	for _, m := range im.Manifests {
		platforms = append(platforms, *m.Platform)
	}
	if !slices.EqualFunc(platforms, image.Platforms, func(a, b v1.Platform) bool { return a.Equals(b) }) {
		t.Errorf("the index's platforms are %v, want %v", platforms, image.Platforms)
	}

	tags := imageTags(t)
	for i, m := range im.Manifests {
		p := *m.Platform
		t.Run(p.Architecture, func(t *testing.T) {
			img, err := platformIdx.Image(m.Digest)
			if err != nil {
				t.Fatal(err)
			}
			stage, err := df.Image(map[string]string{"VERSION": testVersion, "TARGETOS": p.OS, "TARGETARCH": p.Architecture})
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.OS != p.OS || cf.Architecture != p.Architecture {
				t.Errorf("config platform %s/%s, want %s", cf.OS, cf.Architecture, p)
			}
			c := cf.Config
			if !maps.Equal(c.Labels, stage.Labels) || c.Labels["org.opencontainers.image.version"] != testVersion {
				t.Errorf("labels %v, want the Dockerfile's %v (version %s)", c.Labels, stage.Labels, testVersion)
			}
			if c.User != stage.User || !slices.Equal(c.Entrypoint, stage.Entrypoint) || !slices.Equal(c.Cmd, stage.Cmd) {
				t.Errorf("user %q, entrypoint %q, cmd %q; the Dockerfile's: %q, %q, %q", c.User, c.Entrypoint, c.Cmd, stage.User, stage.Entrypoint, stage.Cmd)
			}
			var ports []string
			for port := range c.ExposedPorts {
				ports = append(ports, port)
			}
			var want []string
			for _, port := range stage.ExposedPorts {
				want = append(want, port+"/tcp")
			}
			if !sameSet(ports, want) {
				t.Errorf("exposed ports %q, want the Dockerfile's %q", ports, want)
			}

			files, modes := layerFiles(t, img)
			bin := files[stage.Entrypoint[0]]
			f, err := elf.NewFile(bytes.NewReader(bin))
			if err != nil {
				t.Fatalf("the entrypoint %s: %v", stage.Entrypoint[0], err)
			}
			if f.Machine != elfMachines[p.Architecture] {
				t.Errorf("the entrypoint is an ELF for %s, want %s", f.Machine, elfMachines[p.Architecture])
			}
			for _, prog := range f.Progs {
				if prog.Type == elf.PT_INTERP || prog.Type == elf.PT_DYNAMIC {
					t.Errorf("the entrypoint is dynamically linked (%s): the base is empty", prog.Type)
				}
			}
			if modes[stage.Entrypoint[0]]&0o111 == 0 {
				t.Errorf("the entrypoint's mode %o is not executable", modes[stage.Entrypoint[0]])
			}
			cfgPath := flagValue(stage.Cmd, "--config")
			if !bytes.Equal(files[cfgPath], readRepoFile(t, "packet-exporter.example.yaml")) {
				t.Errorf("%s in the image is not packet-exporter.example.yaml", cfgPath)
			}
			for p := range files {
				if p != stage.Entrypoint[0] && p != cfgPath {
					t.Errorf("unexpected file %s in the image", p)
				}
			}
			if modes["/tmp"] != 0o1777 {
				t.Errorf("/tmp has mode %o, want 1777", modes["/tmp"])
			}

			size, err := image.LayerSize(img)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: image %d bytes, binary %d bytes (+%d)", p, size, len(bin), size-int64(len(bin)))
			if size > int64(len(bin))+1<<20 {
				t.Errorf("the image takes %d bytes, more than the binary's %d + 1 MiB", size, len(bin))
			}
			if p.Architecture == runtime.GOARCH {
				exe := filepath.Join(t.TempDir(), "packet-exporter")
				if err := os.WriteFile(exe, bin, 0o755); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command(exe, "--version").CombinedOutput()
				if err != nil || !strings.Contains(string(out), testVersion) {
					t.Errorf("the image's binary --version: %v: %q, want %s", err, out, testVersion)
				}
			}

			// The tarball holds the same image under each tag: the same
			// configuration (the image ID), so the same layers. (Its manifest is
			// made up on reading: docker save's format stores none.)
			id, err := img.ConfigName()
			if err != nil {
				t.Fatal(err)
			}
			if built, _ := build.images[i].Image.ConfigName(); built != id {
				t.Errorf("the layout's image %s is not the one built (%s)", id, built)
			}
			for _, tag := range tags {
				timg, err := tarball.ImageFromPath(filepath.Join(build.dir, image.TarballName(p)), &tag)
				if err != nil {
					t.Fatalf("%s in the tarball: %v", tag, err)
				}
				if tid, _ := timg.ConfigName(); tid != id {
					t.Errorf("%s in the tarball is image %s, the layout's image %s", tag, tid, id)
				}
			}
		})
	}
}
