// Package image builds packet-exporter's container image without a daemon:
// the image stage of the repository's Dockerfile (its files, labels, user,
// ports, entrypoint and command), on an empty base, for several platforms at
// once. The binary is built with the Dockerfile's own Go build command, for
// each platform. `make image` writes the result as an OCI image layout (one
// index of every platform) and, per platform, a tarball that `docker load`
// and `podman load` accept.
//
// The Dockerfile's base (distroless static) is replaced by nothing: the
// binary is static, its user numeric, and it carries its own fallback root
// certificates (golang.org/x/crypto/x509roots/fallback). The layer holds only
// the files the image stage copies, their directories and /tmp.
package image

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/packet-exporter/packet-exporter/deploy/internal/dockerfile"
)

// Platforms are the platforms `make image` builds, in the index's order.
var Platforms = []v1.Platform{
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm64"},
}

// defaultPath is the PATH of the image's environment, as Docker sets it for
// an image that sets none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Options say what to build.
type Options struct {
	// Context is the build context: the repository's top directory, which
	// holds the Dockerfile.
	Context string
	// Version is the VERSION build argument.
	Version string
	// Created is the time of the image and of its files (SOURCE_DATE_EPOCH;
	// the zero time gives the Unix epoch, for reproducible images).
	Created time.Time
	// Platforms are the platforms to build for.
	Platforms []v1.Platform
	// Go is the go command to build the binary with ("go" if empty).
	Go string
}

// Built is one platform's image.
type Built struct {
	// Platform is what it runs on.
	Platform v1.Platform
	// Image is the image.
	Image v1.Image
	// Binary is the size of the packet-exporter binary it carries.
	Binary int64
}

// Build builds the image for each platform of o.
func Build(ctx context.Context, o Options) ([]Built, error) {
	df, err := dockerfile.Read(filepath.Join(o.Context, "Dockerfile"))
	if err != nil {
		return nil, err
	}
	if o.Created.IsZero() {
		o.Created = time.Unix(0, 0)
	}
	o.Created = o.Created.UTC()
	tmp, err := os.MkdirTemp("", "packet-exporter-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var out []Built
	for _, p := range o.Platforms {
		b, err := buildPlatform(ctx, df, o, p, tmp)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", p.OS, p.Architecture, err)
		}
		out = append(out, b)
	}
	return out, nil
}

// buildPlatform builds the binary for p with the Dockerfile's command and
// assembles the image stage around it.
func buildPlatform(ctx context.Context, df dockerfile.File, o Options, p v1.Platform, tmp string) (Built, error) {
	args := map[string]string{"VERSION": o.Version, "TARGETOS": p.OS, "TARGETARCH": p.Architecture}
	gb, err := df.GoBuild(args)
	if err != nil {
		return Built{}, err
	}
	stage, err := df.Image(args)
	if err != nil {
		return Built{}, err
	}
	if gb.Output == "" {
		return Built{}, fmt.Errorf("RUN %q: no -o: the image stage copies the build's output", gb.Line)
	}
	bin := filepath.Join(tmp, "packet-exporter-"+p.OS+"-"+p.Architecture)
	cmdArgs := slices.Clone(gb.Args)
	cmdArgs[slices.Index(cmdArgs, "-o")+1] = bin
	goCmd := o.Go
	if goCmd == "" {
		goCmd = "go"
	}
	cmd := exec.CommandContext(ctx, goCmd, cmdArgs...)
	cmd.Dir = o.Context
	cmd.Env = append(os.Environ(), gb.Env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return Built{}, fmt.Errorf("%s %s: %w: %s", goCmd, strings.Join(cmdArgs, " "), err, out)
	}
	files, err := stageFiles(stage, gb, bin, o.Context)
	if err != nil {
		return Built{}, err
	}
	layer, err := newLayer(files, o.Created)
	if err != nil {
		return Built{}, err
	}
	img, err := assemble(stage, p, layer, o.Created)
	if err != nil {
		return Built{}, err
	}
	fi, err := os.Stat(bin)
	if err != nil {
		return Built{}, err
	}
	return Built{Platform: p, Image: img, Binary: fi.Size()}, nil
}

// file is one regular file of the layer.
type file struct {
	name string // absolute path in the image
	src  string // path on this machine
	mode os.FileMode
}

// stageFiles resolves the image stage's COPY instructions: from the build
// stage, only the Go build's output (which is bin here); from the context, its
// files. A destination ending in "/" is a directory.
func stageFiles(stage dockerfile.Image, gb dockerfile.GoBuild, bin, context string) ([]file, error) {
	var files []file
	for _, c := range stage.Copies {
		for _, src := range c.Sources {
			var f file
			switch c.From {
			case gb.Stage:
				if src != gb.Output {
					return nil, fmt.Errorf("COPY --from=%s %s: only the go build's output %s is known", c.From, src, gb.Output)
				}
				f.src = bin
			case "":
				f.src = filepath.Join(context, filepath.FromSlash(src))
			default:
				return nil, fmt.Errorf("COPY --from=%s: not the build stage", c.From)
			}
			fi, err := os.Stat(f.src)
			if err != nil {
				return nil, err
			}
			if !fi.Mode().IsRegular() {
				return nil, fmt.Errorf("COPY %s: not a regular file", src)
			}
			f.mode = fi.Mode().Perm()
			f.name = c.Dest
			if strings.HasSuffix(c.Dest, "/") || len(c.Sources) > 1 {
				f.name = path.Join(c.Dest, path.Base(src))
			}
			files = append(files, f)
		}
	}
	return files, nil
}

// newLayer writes the layer's tar: each file's parent directories (0755),
// /tmp (1777), and the files, owned by root, all dated created.
func newLayer(files []file, created time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	header := func(h *tar.Header) error {
		h.ModTime, h.Uid, h.Gid, h.Format = created, 0, 0, tar.FormatPAX
		return tw.WriteHeader(h)
	}
	var mkdir func(dir string, mode int64) error
	mkdir = func(dir string, mode int64) error {
		if dir == "/" || dirs[dir] {
			return nil
		}
		if err := mkdir(path.Dir(dir), 0o755); err != nil {
			return err
		}
		dirs[dir] = true
		return header(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(dir, "/") + "/", Mode: mode})
	}
	if err := mkdir("/tmp", 0o1777); err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := mkdir(path.Dir(f.name), 0o755); err != nil {
			return nil, err
		}
		data, err := os.ReadFile(f.src)
		if err != nil {
			return nil, err
		}
		if err := header(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.name, "/"), Mode: int64(f.mode), Size: int64(len(data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// assemble makes the image: the layer on an empty base, with the image
// stage's configuration.
func assemble(stage dockerfile.Image, p v1.Platform, layer v1.Layer, created time.Time) (v1.Image, error) {
	cfg := v1.Config{
		Labels:     stage.Labels,
		Env:        append([]string{defaultPath}, stage.Env...),
		User:       stage.User,
		Entrypoint: stage.Entrypoint,
		Cmd:        stage.Cmd,
	}
	if len(stage.ExposedPorts) > 0 {
		cfg.ExposedPorts = map[string]struct{}{}
		for _, port := range stage.ExposedPorts {
			if !strings.Contains(port, "/") {
				port += "/tcp"
			}
			cfg.ExposedPorts[port] = struct{}{}
		}
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		History:   v1.History{Created: v1.Time{Time: created}, CreatedBy: "packet-exporter make image: the Dockerfile's image stage", Comment: "on an empty base"},
		MediaType: types.OCILayer,
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: created}
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}

// Index makes the OCI image index of images, each with its platform.
func Index(images []Built) v1.ImageIndex {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, b := range images {
		p := b.Platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: b.Image, Descriptor: v1.Descriptor{Platform: &p}})
	}
	return idx
}

// LayerSize returns the uncompressed size of img's layers: what it takes on
// a node's disk.
func LayerSize(img v1.Image) (int64, error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return 0, err
		}
		m, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

// LayoutDir is the directory, under Write's, of the OCI image layout.
const LayoutDir = "oci"

// TarballName is the file name, under Write's directory, of the tarball of
// platform p.
func TarballName(p v1.Platform) string {
	name := "packet-exporter-" + p.OS + "-" + p.Architecture
	if p.Variant != "" {
		name += "-" + p.Variant
	}
	return name + ".tar"
}

// Write writes images under dir, replacing what a previous Write left: an
// OCI image layout in LayoutDir whose index.json names one image index of
// every platform (annotated org.opencontainers.image.ref.name=refName), and
// per platform a tarball (TarballName: Docker's `docker save` format) whose
// image carries every tag of tags.
func Write(dir string, images []Built, refName string, tags []name.Tag) error {
	layoutPath := filepath.Join(dir, LayoutDir)
	if err := os.RemoveAll(layoutPath); err != nil {
		return err
	}
	lp, err := layout.Write(layoutPath, empty.Index)
	if err != nil {
		return fmt.Errorf("write the image layout: %w", err)
	}
	if err := lp.AppendIndex(Index(images), layout.WithAnnotations(map[string]string{ocispec.AnnotationRefName: refName})); err != nil {
		return fmt.Errorf("write the image layout: %w", err)
	}
	for _, b := range images {
		refs := map[name.Reference]v1.Image{}
		for _, t := range tags {
			refs[t] = b.Image
		}
		if err := tarball.MultiRefWriteToFile(filepath.Join(dir, TarballName(b.Platform)), refs); err != nil {
			return fmt.Errorf("write the %s tarball: %w", b.Platform.Architecture, err)
		}
	}
	return nil
}
