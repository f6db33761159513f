package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// defaultGuestPackages are the Debian packages that make the userland of a
// guest whose architecture is not the host's (see guestUserland):
// busybox-static for the initramfs and for the shell and commands of
// busyboxApplets, iproute2 for the `ip netns add`, `ip netns del` and
// `ip -batch` of the tests' network namespaces (internal/testing/testenv).
var defaultGuestPackages = []string{"busybox-static", "iproute2"}

// busyboxApplets are linked to the userland's busybox: sh and env, with which
// /init starts run.sh, the date run.sh calls, and everyday commands for tests
// that run one and for a person debugging. Each hides the host's executable
// of that name in the guest, where the host's would not run anyway; a name
// that one of the packages has (ip) is left to the package.
var busyboxApplets = []string{
	"sh", "env", "date", "cat", "echo", "ls", "mkdir", "rm", "cp", "mv", "ln", "touch", "chmod",
	"grep", "sed", "awk", "cut", "head", "tail", "wc", "sort", "tr", "find", "xargs", "sleep",
	"true", "false", "id", "uname", "mount", "umount", "ps", "kill", "dmesg", "sync", "readlink",
}

// userlandPrefix starts the name of a cached userland: userland-ARCH-HASH.
const userlandPrefix = "userland-"

// debPackage is one binary package of apt-cache show.
type debPackage struct {
	name, version, arch string
	depends             []string // of Pre-Depends and Depends, the first alternative of each
}

// guestUserland returns the userland for a guest of architecture arch: the
// Debian packages pkgs of that architecture and the libraries they depend on,
// downloaded with apt-get and unpacked into cache/userland-ARCH-HASH once per
// set of versions of pkgs (a new libc alone does not download it again).
// /init mounts it over the host's root in the guest (the host's executables
// cannot run there): its usr/bin/sh and usr/bin/env are busybox's, so run.sh
// runs chrooted there as on the host's architecture, and its ip is iproute2's.
// Its files are placed the way the host's root has them: where the host's
// /bin, /sbin or /lib is a link into /usr (merged /usr), the packages' files
// go into usr/ too, or the directory would hide the host's link. Without
// apt's lists the newest cached userland of arch is used.
func guestUserland(arch string, pkgs []string, cache string) (string, error) {
	roots, err := aptShow(pkgs, arch)
	if err == nil {
		for _, p := range pkgs {
			if _, ok := roots[p]; !ok {
				err = fmt.Errorf("apt-cache knows no %s package %s (dpkg --add-architecture %s and apt-get update needed?)", arch, p, arch)
				break
			}
		}
	}
	if err != nil {
		cached, cerr := newestUserland(arch, cache)
		if cerr != nil {
			return "", fmt.Errorf("%w (and nothing cached: %v)", err, cerr)
		}
		logf("apt: %v; using the cached %s", err, filepath.Base(cached))
		return cached, nil
	}
	var ids []string
	for _, p := range pkgs {
		ids = append(ids, p+"="+roots[p].version)
	}
	sort.Strings(ids)
	sum := sha256.Sum256([]byte(strings.Join(ids, "\n")))
	entry := userlandPrefix + arch + "-" + hex.EncodeToString(sum[:6])
	dir := filepath.Join(cache, entry)
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	all, err := debClosure(pkgs, func(names []string) (map[string]debPackage, error) { return aptShow(names, arch) })
	if err != nil {
		return "", err
	}
	logf("downloading the %s userland (%s and %d libraries) into %s", arch, strings.Join(ids, " "), len(all)-len(pkgs), dir)
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	dl, err := os.MkdirTemp(cache, ".download-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dl)
	args := []string{"download", "-q"}
	for _, p := range all {
		args = append(args, p.name+":"+p.arch+"="+p.version)
	}
	if out, err := runIn(dl, "apt-get", args...); err != nil {
		return "", fmt.Errorf("apt-get download: %w\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dl, "*.deb"))
	if len(debs) != len(all) {
		return "", fmt.Errorf("apt-get download: want %d .deb, found %d", len(all), len(debs))
	}
	tmp, err := os.MkdirTemp(cache, ".unpack-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	for _, deb := range debs {
		if out, err := runIn("", "dpkg-deb", "-x", deb, tmp); err != nil {
			return "", fmt.Errorf("dpkg-deb -x %s: %w\n%s", deb, err, out)
		}
	}
	if err := mergeUsr(tmp, "/"); err != nil {
		return "", fmt.Errorf("userland: %w", err)
	}
	if err := linkApplets(tmp, busyboxApplets); err != nil {
		return "", fmt.Errorf("userland: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	ents, _ := os.ReadDir(cache)
	for _, e := range ents {
		if e.Name() != entry && strings.HasPrefix(e.Name(), userlandPrefix+arch+"-") {
			logf("removing the superseded %s from the cache", e.Name())
			os.RemoveAll(filepath.Join(cache, e.Name()))
		}
	}
	return dir, nil
}

// newestUserland returns the most recently made userland of arch in cache.
func newestUserland(arch, cache string) (string, error) {
	dirs, _ := filepath.Glob(filepath.Join(cache, userlandPrefix+arch+"-*"))
	var (
		best string
		mod  int64
	)
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() && (best == "" || fi.ModTime().UnixNano() > mod) {
			best, mod = d, fi.ModTime().UnixNano()
		}
	}
	if best == "" {
		return "", fmt.Errorf("no %s userland under %s", arch, cache)
	}
	return best, nil
}

// aptShow returns the candidate of each of the packages names of
// architecture arch that apt-cache knows. Packages of architecture all and
// virtual packages are left out: apt-cache shows nothing for NAME:ARCH.
func aptShow(names []string, arch string) (map[string]debPackage, error) {
	args := []string{"show", "--no-all-versions"}
	for _, n := range names {
		args = append(args, n+":"+arch)
	}
	out, err := runIn("", "apt-cache", args...)
	pkgs := parseDebPackages(string(out))
	if err != nil && !(len(pkgs) == 0 && strings.Contains(string(out), "No packages found")) {
		return nil, fmt.Errorf("apt-cache show: %w\n%s", err, out)
	}
	res := map[string]debPackage{}
	for _, p := range pkgs {
		if p.arch == arch {
			res[p.name] = p
		}
	}
	return res, nil
}

// parseDebPackages reads the stanzas of apt-cache show output.
func parseDebPackages(s string) []debPackage {
	var res []debPackage
	for _, stanza := range strings.Split(s, "\n\n") {
		var p debPackage
		for _, line := range strings.Split(stanza, "\n") {
			field, value, ok := strings.Cut(line, ": ")
			if !ok {
				continue
			}
			switch field {
			case "Package":
				p.name = value
			case "Version":
				p.version = value
			case "Architecture":
				p.arch = value
			case "Pre-Depends", "Depends":
				p.depends = append(p.depends, parseDepends(value)...)
			}
		}
		if p.name != "" && p.version != "" {
			res = append(res, p)
		}
	}
	return res
}

// parseDepends returns the package names of a Depends field, the first of
// each group of alternatives, without version or architecture qualifiers.
func parseDepends(field string) []string {
	var names []string
	for _, group := range strings.Split(field, ",") {
		alt, _, _ := strings.Cut(group, "|")
		alt, _, _ = strings.Cut(alt, "(")
		alt, _, _ = strings.Cut(alt, "[")
		alt, _, _ = strings.Cut(strings.TrimSpace(alt), ":")
		if alt != "" {
			names = append(names, alt)
		}
	}
	return names
}

// debClosure returns the packages roots and, recursively, the packages they
// depend on, as show finds them (show leaves out a name it does not know,
// and then its dependencies). The first alternative of each dependency is
// taken, versions are not compared: it is enough for unpacking a working
// set of executables, not for installing. One call of show per level.
func debClosure(roots []string, show func(names []string) (map[string]debPackage, error)) ([]debPackage, error) {
	var (
		res  []debPackage
		seen = map[string]bool{}
		next = slices.Clone(roots)
	)
	for len(next) > 0 {
		var level []string
		for _, n := range next {
			if !seen[n] {
				seen[n] = true
				level = append(level, n)
			}
		}
		if len(level) == 0 {
			break
		}
		found, err := show(level)
		if err != nil {
			return nil, err
		}
		next = nil
		for _, n := range level {
			p, ok := found[n]
			if !ok {
				continue
			}
			res = append(res, p)
			next = append(next, p.depends...)
		}
	}
	return res, nil
}

// mergeUsr moves each top-level directory of dir whose counterpart in
// hostRoot is a symbolic link (/bin -> usr/bin on a merged /usr) to where
// that link points, merging it with what is there.
func mergeUsr(dir, hostRoot string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		target, err := os.Readlink(filepath.Join(hostRoot, e.Name()))
		if err != nil {
			continue // not a link on the host (or not there): kept as is
		}
		if filepath.IsAbs(target) {
			target = strings.TrimPrefix(filepath.Clean(target), "/")
		}
		target = filepath.Clean(target)
		if target == "." || strings.HasPrefix(target, "..") {
			return fmt.Errorf("%s links to %s, outside the root", filepath.Join(hostRoot, e.Name()), target)
		}
		if err := mergeInto(filepath.Join(dir, e.Name()), filepath.Join(dir, target)); err != nil {
			return err
		}
	}
	return nil
}

// mergeInto moves the content of directory src into dst (made if needed),
// directory by directory, and removes src. A file in both is an error.
func mergeInto(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		s, d := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		fi, err := os.Lstat(d)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := os.Rename(s, d); err != nil {
				return err
			}
		case err != nil:
			return err
		case e.IsDir() && fi.IsDir():
			if err := mergeInto(s, d); err != nil {
				return err
			}
		default:
			return fmt.Errorf("both %s and %s", s, d)
		}
	}
	return os.Remove(src)
}

// userlandBusybox returns where busybox is in the userland dir.
func userlandBusybox(dir string) (string, error) {
	for _, d := range []string{"usr/bin", "bin"} {
		p := filepath.Join(dir, d, "busybox")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no busybox in %s (busybox-static not among its packages?)", dir)
}

// linkApplets links each applet to busybox, in busybox's directory of dir,
// unless one of dir's bin directories has that name already.
func linkApplets(dir string, applets []string) error {
	bb, err := userlandBusybox(dir)
	if err != nil {
		return err
	}
	for _, a := range applets {
		taken := false
		for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin"} {
			if _, err := os.Lstat(filepath.Join(dir, d, a)); err == nil {
				taken = true
			}
		}
		if !taken {
			if err := os.Symlink("busybox", filepath.Join(filepath.Dir(bb), a)); err != nil {
				return err
			}
		}
	}
	return nil
}
