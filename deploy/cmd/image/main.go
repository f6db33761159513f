// Command image builds packet-exporter's container image for every platform
// of image.Platforms without a daemon (make image) and writes it under -out:
// an OCI image layout (oci/, one index of every platform) and one tarball
// per platform for `docker load` or `podman load`. The images are tagged with
// the Helm chart's image repository, once with -version and once with the
// chart's default tag, so that a loaded image is the one the chart's defaults
// name. Run it in the deploy directory; SOURCE_DATE_EPOCH, when set, dates
// the image (else the Unix epoch: the same sources give the same digests).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/packet-exporter/packet-exporter/deploy/internal/helmchart"
	"github.com/packet-exporter/packet-exporter/deploy/internal/image"
)

func main() {
	out := flag.String("out", filepath.Join("..", "_image"), "directory to write the image layout and tarballs to")
	version := flag.String("version", "dev", "the VERSION build argument, and a tag")
	platforms := flag.String("platforms", platformList(image.Platforms), "comma-separated OS/ARCH[/VARIANT] to build for")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *out, *version, *platforms); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out, version, platforms string) error {
	o := image.Options{Context: "..", Version: version}
	for _, s := range strings.Split(platforms, ",") {
		p, err := v1.ParsePlatform(strings.TrimSpace(s))
		if err != nil {
			return err
		}
		o.Platforms = append(o.Platforms, *p)
	}
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		sec, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
		}
		o.Created = time.Unix(sec, 0)
	}
	repo, defaultTag, err := helmchart.DefaultImage(filepath.Join("helm", "packet-exporter"))
	if err != nil {
		return err
	}
	var tags []name.Tag
	for _, t := range []string{version, defaultTag} {
		tag, err := name.NewTag(repo + ":" + t)
		if err != nil {
			return fmt.Errorf("tag: %w", err)
		}
		tags = append(tags, tag)
	}
	images, err := image.Build(ctx, o)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := image.Write(out, images, version, tags); err != nil {
		return err
	}
	for _, b := range images {
		size, err := image.LayerSize(b.Image)
		if err != nil {
			return err
		}
		digest, err := b.Image.Digest()
		if err != nil {
			return err
		}
		fmt.Printf("%s: %s, %d bytes (binary %d), %s\n", v1.Platform.String(b.Platform), filepath.Join(out, image.TarballName(b.Platform)), size, b.Binary, digest)
	}
	fmt.Printf("OCI image layout (every platform): %s; tags %s and %s\n", filepath.Join(out, image.LayoutDir), tags[0], tags[1])
	return nil
}

// platformList formats platforms as the -platforms flag takes them.
func platformList(platforms []v1.Platform) string {
	var s []string
	for _, p := range platforms {
		s = append(s, p.String())
	}
	return strings.Join(s, ",")
}
