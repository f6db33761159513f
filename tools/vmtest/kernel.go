package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// kernel is a bootable kernel image and the modules built for it.
type kernel struct {
	name    string // for reports: the package and version, or the image's path
	image   string // bzImage / vmlinuz
	modules string // lib/modules/RELEASE of the same build, or "" for none
	arch    string // GOARCH, from the image's header (imageArch)
}

// debianPrefix marks a kernel spec that names a Debian package (a glob).
const debianPrefix = "debian:"

// resolveKernel turns a -kernel spec into a kernel:
//
//	debian:GLOB  the newest candidate among the Debian packages whose names match
//	             GLOB (e.g. linux-image-6.1.0-*-amd64-unsigned; see matchPackage
//	             for what * matches), downloaded with apt-get and unpacked into
//	             cache once
//	FILE.deb     a kernel package file, unpacked into cache once
//	DIR          an unpacked kernel package (DIR/boot/vmlinuz-*, DIR/lib/modules/*);
//	             the uncompressed kernel is written to DIR/boot (unpackedKernel)
//	FILE         a kernel image; its modules are looked for in
//	             ../lib/modules/RELEASE when FILE is .../boot/vmlinuz-RELEASE,
//	             otherwise the image must have what /init needs built in
//
// The kernel's architecture is read from its image's header (headerArch),
// which works for every kind of spec; a package's Architecture field would
// not be there for an image or an unpacked package.
func resolveKernel(spec, cache string) (kernel, error) {
	if glob, ok := strings.CutPrefix(spec, debianPrefix); ok {
		return debianKernel(glob, cache)
	}
	fi, err := os.Stat(spec)
	if err != nil {
		return kernel{}, fmt.Errorf("kernel %q: not %sGLOB and %w", spec, debianPrefix, err)
	}
	switch {
	case fi.IsDir():
		return unpackedKernel(spec, spec)
	case strings.HasSuffix(spec, ".deb"):
		dir, err := unpackDeb(spec, filepath.Join(cache, strings.TrimSuffix(filepath.Base(spec), ".deb")))
		if err != nil {
			return kernel{}, err
		}
		return unpackedKernel(dir, filepath.Base(spec))
	}
	arch, err := imageArch(spec)
	if err != nil {
		return kernel{}, err
	}
	k := kernel{name: spec, image: spec, arch: arch}
	if rel, ok := strings.CutPrefix(filepath.Base(spec), "vmlinuz-"); ok {
		dir := filepath.Join(filepath.Dir(spec), "..", "lib", "modules", rel)
		if _, err := os.Stat(dir); err == nil {
			k.modules = dir
		}
	}
	return k, nil
}

// unpackedKernel finds the one kernel image and module tree of an unpacked
// kernel package. When an x86 bzImage holds a kernel that QEMU can start
// directly (PVH), that one is unpacked next to it once and booted instead: it
// saves the ~8 s that decompressing takes under emulation. An arm64 vmlinuz
// is booted as it is: Debian's is an uncompressed Image, and QEMU unpacks an
// Image.gz itself, on the host.
func unpackedKernel(root, name string) (kernel, error) {
	images, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if len(images) != 1 {
		return kernel{}, fmt.Errorf("%s: want one boot/vmlinuz-*, found %d", root, len(images))
	}
	arch, err := imageArch(images[0])
	if err != nil {
		return kernel{}, err
	}
	rel := strings.TrimPrefix(filepath.Base(images[0]), "vmlinuz-")
	k := kernel{name: name, image: images[0], arch: arch}
	if arch == "amd64" {
		elfImage := filepath.Join(root, "boot", "vmlinux-"+rel+".pvh")
		if _, err := os.Stat(elfImage); err == nil {
			k.image = elfImage
		} else if err := extractPVH(images[0], elfImage); err == nil {
			k.image = elfImage
		} else {
			logf("booting the compressed image of %s: %v", name, err)
		}
	}
	for _, dir := range []string{"lib", "usr/lib"} { // usrmerged packages ship usr/lib/modules
		d := filepath.Join(root, dir, "modules", rel)
		if _, err := os.Stat(d); err == nil {
			k.modules = d
			break
		}
	}
	return k, nil
}

// debianKernel resolves glob with apt-cache to the newest package version
// available, and returns it unpacked under cache/NAME_VERSION, downloading it
// only when that directory does not exist yet. Older versions of packages that
// match the same glob are removed from the cache. Without apt's lists (no
// apt-get update, no network) the newest version already in the cache is used.
func debianKernel(glob, cache string) (kernel, error) {
	pkg, version, err := newestDebianPackage(glob)
	if err != nil {
		cached, cerr := newestCached(glob, cache)
		if cerr != nil {
			return kernel{}, fmt.Errorf("%w (and nothing cached: %v)", err, cerr)
		}
		logf("apt: %v; using the cached %s", err, filepath.Base(cached))
		return unpackedKernel(cached, filepath.Base(cached))
	}
	entry := pkg + "_" + version
	dir := filepath.Join(cache, entry)
	if _, err := os.Stat(dir); err != nil {
		logf("downloading %s %s into %s", pkg, version, cache)
		if err := os.MkdirAll(cache, 0o755); err != nil {
			return kernel{}, err
		}
		dl, err := os.MkdirTemp(cache, ".download-")
		if err != nil {
			return kernel{}, err
		}
		defer os.RemoveAll(dl)
		if out, err := runIn(dl, "apt-get", "download", "-q", pkg+"="+version); err != nil {
			return kernel{}, fmt.Errorf("apt-get download %s=%s: %w\n%s", pkg, version, err, out)
		}
		debs, _ := filepath.Glob(filepath.Join(dl, "*.deb"))
		if len(debs) != 1 {
			return kernel{}, fmt.Errorf("apt-get download %s: want one .deb, found %d", pkg, len(debs))
		}
		if _, err := unpackDeb(debs[0], dir); err != nil {
			return kernel{}, err
		}
		pruneCache(glob, cache, entry)
	}
	return unpackedKernel(dir, entry)
}

// matchPackage reports whether the package name matches glob, where * stands
// for any run of characters but '-' and ? for one such character: in
// linux-image-6.1.0-*-amd64-unsigned, * is the ABI number, so the pattern
// does not also match linux-image-6.1.0-57-rt-amd64-unsigned.
func matchPackage(glob, name string) bool {
	var re strings.Builder
	re.WriteString("^")
	for _, r := range glob {
		switch r {
		case '*':
			re.WriteString("[^-]*")
		case '?':
			re.WriteString("[^-]")
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String()).MatchString(name)
}

// newestDebianPackage lists the packages whose names match glob (apt-cache
// pkgnames) and returns the one whose candidate version is the highest, by
// dpkg's version ordering.
func newestDebianPackage(glob string) (pkg, version string, err error) {
	prefix, _, _ := strings.Cut(glob, "*")
	prefix, _, _ = strings.Cut(prefix, "?")
	out, err := runIn("", "apt-cache", "pkgnames", prefix)
	if err != nil {
		return "", "", fmt.Errorf("apt-cache pkgnames %s: %w\n%s", prefix, err, out)
	}
	var names []string
	for _, n := range strings.Fields(string(out)) {
		if matchPackage(glob, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "", "", fmt.Errorf("apt-cache knows no package matching %s (apt-get update needed?)", glob)
	}
	out, err = runIn("", "apt-cache", append([]string{"show", "--no-all-versions"}, names...)...)
	if err != nil {
		return "", "", fmt.Errorf("apt-cache show: %w\n%s", err, out)
	}
	candidates := parseStanzas(string(out))
	if len(candidates) == 0 {
		return "", "", fmt.Errorf("no installable candidate among %d packages matching %s", len(names), glob)
	}
	best := candidates[0]
	for _, c := range candidates[1:] {
		if debVersionGreater(c[1], best[1]) {
			best = c
		}
	}
	return best[0], best[1], nil
}

// parseStanzas returns the Package and Version fields of each stanza of
// apt-cache show output.
func parseStanzas(s string) [][2]string {
	var res [][2]string
	for _, stanza := range strings.Split(s, "\n\n") {
		var pv [2]string
		for _, line := range strings.Split(stanza, "\n") {
			if v, ok := strings.CutPrefix(line, "Package: "); ok {
				pv[0] = strings.TrimSpace(v)
			} else if v, ok := strings.CutPrefix(line, "Version: "); ok {
				pv[1] = strings.TrimSpace(v)
			}
		}
		if pv[0] != "" && pv[1] != "" {
			res = append(res, pv)
		}
	}
	return res
}

// debVersionGreater reports whether Debian version a sorts after b.
func debVersionGreater(a, b string) bool {
	return exec.Command("dpkg", "--compare-versions", a, "gt", b).Run() == nil
}

// cachedEntries returns the cache directories (NAME_VERSION) whose package
// name matches glob.
func cachedEntries(glob, cache string) []string {
	ents, _ := os.ReadDir(cache)
	var res []string
	for _, e := range ents {
		name, _, ok := strings.Cut(e.Name(), "_")
		if ok && e.IsDir() && matchPackage(glob, name) {
			res = append(res, e.Name())
		}
	}
	sort.Strings(res)
	return res
}

func newestCached(glob, cache string) (string, error) {
	var best string
	for _, e := range cachedEntries(glob, cache) {
		if best == "" || debVersionGreater(strings.SplitN(e, "_", 2)[1], strings.SplitN(best, "_", 2)[1]) {
			best = e
		}
	}
	if best == "" {
		return "", fmt.Errorf("no %s under %s", glob, cache)
	}
	return filepath.Join(cache, best), nil
}

// pruneCache removes the cached versions of glob other than keep: a new ABI
// makes the old one useless, and each takes ~400 MB unpacked.
func pruneCache(glob, cache, keep string) {
	for _, e := range cachedEntries(glob, cache) {
		if e != keep {
			logf("removing the superseded %s from the cache", e)
			os.RemoveAll(filepath.Join(cache, e))
		}
	}
}

// unpackDeb unpacks deb into dir (dpkg-deb -x) unless dir exists. It unpacks
// into a temporary sibling first so that an interrupted run leaves no
// half-unpacked kernel behind.
func unpackDeb(deb, dir string) (string, error) {
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".unpack-")
	if err != nil {
		return "", err
	}
	if out, err := runIn("", "dpkg-deb", "-x", deb, tmp); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("dpkg-deb -x %s: %w\n%s", deb, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	return dir, nil
}

// runIn runs a command in dir ("" for the current directory) and returns its
// combined output.
func runIn(dir, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		err = fmt.Errorf("%s: %v", name, exitErr)
	}
	return out.Bytes(), err
}
