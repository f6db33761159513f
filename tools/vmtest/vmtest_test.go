package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMatchPackage(t *testing.T) {
	const glob = "linux-image-6.1.0-*-amd64-unsigned"
	for name, want := range map[string]bool{
		"linux-image-6.1.0-57-amd64-unsigned":       true,
		"linux-image-6.1.0-9-amd64-unsigned":        true,
		"linux-image-6.1.0-57-rt-amd64-unsigned":    false,
		"linux-image-6.1.0-57-cloud-amd64-unsigned": false,
		"linux-image-6.1.0-57-amd64":                false,
		"linux-image-6.1.0.57-amd64-unsigned":       false,
	} {
		if got := matchPackage(glob, name); got != want {
			t.Errorf("matchPackage(%q, %q) = %v, want %v", glob, name, got, want)
		}
	}
	if !matchPackage("linux-image-6.12.*+deb12-amd64-unsigned", "linux-image-6.12.117+deb12-amd64-unsigned") {
		t.Error("'.' and '+' must match literally")
	}
}

func TestParseStanzas(t *testing.T) {
	out := "Package: a\nVersion: 1.0-1\nDescription: x\n\nPackage: b\nVersion: 2:0.9\n\nPackage: c\n"
	want := [][2]string{{"a", "1.0-1"}, {"b", "2:0.9"}}
	if got := parseStanzas(out); !reflect.DeepEqual(got, want) {
		t.Errorf("parseStanzas = %v, want %v", got, want)
	}
}

func TestResolveModules(t *testing.T) {
	tree := &moduleTree{
		files: map[string]string{
			"9p": "fs/9p.ko", "9pnet_virtio": "net/9pnet_virtio.ko", "9pnet": "net/9pnet.ko",
			"netfs": "fs/netfs.ko", "virtio": "v/virtio.ko", "virtio_ring": "v/virtio_ring.ko",
			"bad": "bad.ko", "loop_a": "a.ko", "loop_b": "b.ko",
		},
		builtin: map[string]bool{"fscache": true},
	}
	deps := map[string][]string{
		"fs/9p.ko":            {"9pnet", "netfs", "fscache"},
		"net/9pnet_virtio.ko": {"9pnet", "virtio_ring", "virtio"},
		"v/virtio_ring.ko":    nil,
		"bad.ko":              {"absent"},
		"a.ko":                {"loop_b"},
		"b.ko":                {"loop_a"},
	}
	lookup := func(p string) ([]string, error) { return deps[p], nil }

	mods, notes, err := resolveModules([]string{"9pnet_virtio", "9p", "fscache", "netkit", "9p"}, tree, lookup)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mods {
		names = append(names, m.name)
	}
	if want := []string{"9pnet", "virtio_ring", "virtio", "9pnet_virtio", "netfs", "9p"}; !reflect.DeepEqual(names, want) {
		t.Errorf("load order %v, want %v", names, want)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "netkit") {
		t.Errorf("notes %q, want one about netkit", notes)
	}
	if _, _, err := resolveModules([]string{"bad"}, tree, lookup); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("missing dependency: err %v", err)
	}
	if _, _, err := resolveModules([]string{"loop_a"}, tree, lookup); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: err %v", err)
	}
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/net/8021q/8021q.ko":              "8021q",
		"kernel/drivers/virtio/virtio_pci.ko.xz": "virtio_pci",
		"kernel/fs/nls/nls-utf8.ko.zst":          "nls_utf8",
	} {
		if got := moduleName(in); got != want {
			t.Errorf("moduleName(%q) = %q, want %q", in, got, want)
		}
	}
}

// cpioEntry is one entry of a newc archive as read back by readCpio.
type cpioEntry struct {
	name         string
	mode         int
	rmajor, rmin int
	data         string
}

// readCpio parses a newc archive, checking its alignment.
func readCpio(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var res []cpioEntry
	for off := 0; ; {
		if off%4 != 0 || len(b) < off+110 || string(b[off:off+6]) != "070701" {
			t.Fatalf("bad header at %d", off)
		}
		field := func(i int) int {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			return int(v)
		}
		mode, size, rmajor, rminor, namesize := field(1), field(6), field(9), field(10), field(11)
		name := string(b[off+110 : off+110+namesize-1])
		off = align4(off + 110 + namesize)
		data := string(b[off : off+size])
		off = align4(off + size)
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Errorf("%d bytes after the trailer", len(b)-off)
			}
			return res
		}
		res = append(res, cpioEntry{name, mode, rmajor, rminor, data})
	}
}

func TestCpio(t *testing.T) {
	var buf bytes.Buffer
	w := newCpioWriter(bufio.NewWriter(&buf))
	w.dir("bin")
	w.node("dev/console", 0o20600, 5, 1)
	w.file("bin/x", 0o755, []byte("hello"))
	w.file("a", 0o644, []byte("1234"))
	w.file("empty", 0o644, nil)
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	want := []cpioEntry{
		{"bin", 0o40755, 0, 0, ""},
		{"dev/console", 0o20600, 5, 1, ""},
		{"bin/x", 0o100755, 0, 0, "hello"},
		{"a", 0o100644, 0, 0, "1234"},
		{"empty", 0o100644, 0, 0, ""},
	}
	if got := readCpio(t, buf.Bytes()); !reflect.DeepEqual(got, want) {
		t.Errorf("archive holds %+v, want %+v", got, want)
	}
}

func TestKeepIfHidden(t *testing.T) {
	e := &guestEnv{}
	for _, d := range []string{"/src/project/bpf", "/tmp", "/tmp/x/a", "/run/y", "/tmp/x", "/tmp/x/b", "/runner/z", "/tmpfoo"} {
		e.keepIfHidden(d)
	}
	if want := []string{"/run/y", "/tmp/x"}; !reflect.DeepEqual(e.keep, want) {
		t.Errorf("keep %v, want %v", e.keep, want)
	}
}

func TestTestArgs(t *testing.T) {
	if got := testArgs([]string{"-test.v"}, 25*time.Minute); !reflect.DeepEqual(got, []string{"-test.timeout=23m0s", "-test.v"}) {
		t.Errorf("testArgs = %q", got)
	}
	if got := testArgs([]string{"-test.timeout", "5m"}, 25*time.Minute); !reflect.DeepEqual(got, []string{"-test.timeout", "5m"}) {
		t.Errorf("a timeout given must be kept: %q", got)
	}
}

// TestRunScript runs run.sh's commands with the paths moved into a temporary
// directory, checking its quoting and the status and output files.
func TestRunScript(t *testing.T) {
	dir := t.TempDir()
	pkgDir := filepath.Join(dir, "it's a dir")
	if err := os.Mkdir(pkgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The test binary: prints its working directory and arguments, exits 3.
	bin := filepath.Join(dir, "p.test")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho \"$PWD|$V|$*\"\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := &guestEnv{vars: [][2]string{{"V", `a 'b' $c`}}}
	script := runScript(testBinary{pkg: "./p", name: "p", dir: pkgDir}, env, []string{"-test.run", "X Y"})
	script = strings.ReplaceAll(script, "/run/vmtest", dir)
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "p.out"))
	if want := pkgDir + `|a 'b' $c|-test.run X Y` + "\n"; string(got) != want {
		t.Errorf("output %q, want %q", got, want)
	}
	if code, err := readStatus(filepath.Join(dir, "p.status")); err != nil || code != 3 {
		t.Errorf("status %d, %v; want 3", code, err)
	}
}

func TestInitScriptParses(t *testing.T) {
	out, err := exec.Command("sh", "-n", "-c", string(initScript)).CombinedOutput()
	if err != nil {
		t.Fatalf("sh -n init.sh: %v\n%s", err, out)
	}
}

func TestReadConsole(t *testing.T) {
	now := time.Now().Unix()
	in := fmt.Sprintf("[ 1.0] booting\r\nvmtest: kernel 6.1.0-57-amd64: root ready after 5.37s, clock %d\r\n"+
		"[ 9.1] WARNING: CPU: 1 PID: 7 at kernel/bpf/x.c:1\r\nvmtest: tests done, clock %d\r\n", now, now-60)
	ready := make(chan time.Time, 1)
	notes := readConsole(strings.NewReader(in), time.Now(), ready)
	if len(ready) != 1 {
		t.Error("root ready line not seen")
	}
	joined := strings.Join(notes, "\n")
	for _, want := range []string{"uptime at root ready: 5.37s", "WARNING: CPU: 1", "guest clock off by 60s"} {
		if !strings.Contains(joined, want) {
			t.Errorf("notes %q lack %q", notes, want)
		}
	}
}

// gzipped returns b gzip-compressed.
func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	z := gzip.NewWriter(&buf)
	if _, err := z.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestHeaderArch(t *testing.T) {
	arm64Image := make([]byte, 4096)
	copy(arm64Image, "MZ")             // Debian's Image is also an EFI application
	copy(arm64Image[0x38:], "ARM\x64") // the arm64 boot protocol's magic
	bzImage := make([]byte, 4096)
	copy(bzImage[0x202:], "HdrS") // the x86 boot protocol's header
	elfHeader := func(machine elf.Machine) []byte {
		b := make([]byte, 64)
		copy(b, elf.ELFMAG)
		b[elf.EI_CLASS], b[elf.EI_DATA] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB)
		binary.LittleEndian.PutUint16(b[18:], uint16(machine))
		return b
	}
	for _, tc := range []struct {
		name, want string // want "" for an error
		head       []byte
	}{
		{"arm64 Image", "arm64", arm64Image},
		{"arm64 Image.gz", "arm64", gzipped(t, arm64Image)},
		{"bzImage", "amd64", bzImage},
		{"gzip bzImage", "amd64", gzipped(t, bzImage)},
		{"x86-64 vmlinux (PVH)", "amd64", elfHeader(elf.EM_X86_64)},
		{"arm64 vmlinux", "arm64", elfHeader(elf.EM_AARCH64)},
		{"riscv vmlinux", "", elfHeader(elf.EM_RISCV)},
		{"truncated Image.gz", "", gzipped(t, arm64Image)[:10]},
		{"zeros", "", make([]byte, 4096)},
		{"empty", "", nil},
	} {
		got, err := headerArch(tc.head)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%s: architecture %q, want an error", tc.name, got)
		case tc.want != "" && (err != nil || got != tc.want):
			t.Errorf("%s: architecture %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestQemuArgs(t *testing.T) {
	o := options{smp: 2, mem: 2048}
	k := kernel{name: "k", image: "/c/vmlinux.pvh"}
	amd64 := machine{kernel: k, arch: archs["amd64"], initrd: "/r/i.cpio"}
	// The amd64 command line is the one vmtest had before arm64.
	want := []string{
		"-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "2048",
		"-nodefaults", "-no-user-config", "-display", "none", "-nic", "none",
		"-no-reboot", "-rtc", "base=utc", "-kernel", "/c/vmlinux.pvh", "-initrd", "/r/i.cpio",
		"-append", "console=ttyS0 panic=-1 quiet mitigations=off tsc=reliable", "-serial", "stdio",
		"-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
		"-virtfs", "local,path=/r,mount_tag=results,security_model=none",
	}
	if got := qemuArgs(o, amd64, "/r"); !reflect.DeepEqual(got, want) {
		t.Errorf("amd64:\n got %q\nwant %q", got, want)
	}

	arm64 := machine{kernel: k, arch: archs["arm64"], initrd: "/r/i.cpio", userland: "/c/userland-arm64-x"}
	o.appendCmd = "loglevel=7"
	got := strings.Join(qemuArgs(o, arm64, "/r"), " ")
	for _, want := range []string{
		"-machine virt -accel tcg -cpu max,pauth=off ",
		" -append console=ttyAMA0 panic=-1 quiet mitigations=off loglevel=7 -serial stdio ",
		" -virtfs local,path=/c/userland-arm64-x,mount_tag=userland,security_model=none,readonly=on",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("arm64: %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "tsc=") {
		t.Errorf("arm64: %q has x86's tsc=", got)
	}
	o.cpu = "cortex-a72"
	if got := strings.Join(qemuArgs(o, arm64, "/r"), " "); !strings.Contains(got, " -cpu cortex-a72 ") {
		t.Errorf("-cpu cortex-a72: %q", got)
	}
}

func TestParseDepends(t *testing.T) {
	for in, want := range map[string][]string{
		"libc6 (>= 2.34), libbpf1 (>= 1:0.6.0)":       {"libc6", "libbpf1"},
		"debconf (>= 0.5) | debconf-2.0, libcap2-bin": {"debconf", "libcap2-bin"},
		"libgcc-s1":                          {"libgcc-s1"},
		"python3:any (>= 3.9~), perl:native": {"python3", "perl"},
		"foo [amd64], bar (<< 2) [!arm64]":   {"foo", "bar"},
		"":                                   nil,
	} {
		if got := parseDepends(in); !reflect.DeepEqual(got, want) {
			t.Errorf("parseDepends(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseDebPackages(t *testing.T) {
	out := "Package: iproute2\nVersion: 6.1.0-3\nArchitecture: arm64\nPre-Depends: a\nDepends: libc6 (>= 2.34), debconf | debconf-2.0\n" +
		"Description: x\n y: z\n\nPackage: libc6\nVersion: 2.36-9\nArchitecture: arm64\n\nPackage: broken\n"
	want := []debPackage{
		{name: "iproute2", version: "6.1.0-3", arch: "arm64", depends: []string{"a", "libc6", "debconf"}},
		{name: "libc6", version: "2.36-9", arch: "arm64"},
	}
	if got := parseDebPackages(out); !reflect.DeepEqual(got, want) {
		t.Errorf("parseDebPackages = %+v, want %+v", got, want)
	}
}

func TestDebClosure(t *testing.T) {
	known := map[string]debPackage{
		"iproute2":       {name: "iproute2", depends: []string{"libc6", "debconf", "libbpf1"}},
		"busybox-static": {name: "busybox-static"},
		"libbpf1":        {name: "libbpf1", depends: []string{"libc6", "zlib1g"}},
		"libc6":          {name: "libc6", depends: []string{"libgcc-s1"}},
		"libgcc-s1":      {name: "libgcc-s1", depends: []string{"libc6"}}, // a cycle
		"zlib1g":         {name: "zlib1g", depends: []string{"libc6"}},
		// debconf: Architecture all, which apt-cache does not show as debconf:arm64
	}
	var calls [][]string
	show := func(names []string) (map[string]debPackage, error) {
		calls = append(calls, names)
		res := map[string]debPackage{}
		for _, n := range names {
			if p, ok := known[n]; ok {
				res[n] = p
			}
		}
		return res, nil
	}
	got, err := debClosure([]string{"busybox-static", "iproute2"}, show)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.name)
	}
	if want := []string{"busybox-static", "iproute2", "libc6", "libbpf1", "libgcc-s1", "zlib1g"}; !reflect.DeepEqual(names, want) {
		t.Errorf("closure %q, want %q", names, want)
	}
	if len(calls) != 3 {
		t.Errorf("%d calls of show (%q), want one per level: 3", len(calls), calls)
	}
	if _, err := debClosure([]string{"x"}, func([]string) (map[string]debPackage, error) { return nil, errors.New("no lists") }); err == nil {
		t.Error("show's error is not returned")
	}
}

// writeTree makes the files (content "x") and symbolic links (value "->target") of tree under dir.
func writeTree(t *testing.T, dir string, tree map[string]string) {
	t.Helper()
	for name, v := range tree {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(v, "->"); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(v), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// listTree returns the files and links under dir, links as "name -> target".
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var res []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.Type()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			rel += " -> " + target
		}
		res = append(res, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(res)
	return res
}

func TestMergeUsr(t *testing.T) {
	host, layer := t.TempDir(), t.TempDir()
	writeTree(t, host, map[string]string{
		"bin": "->usr/bin", "lib": "->/usr/lib", "sbin/init": "x", "usr/bin/x": "x", "escape": "->../elsewhere",
	})
	writeTree(t, layer, map[string]string{
		"bin/ip":                                "x",
		"bin/busybox":                           "x",
		"sbin/tc":                               "x",
		"lib/ld-linux-aarch64.so.1":             "->aarch64-linux-gnu/ld-linux-aarch64.so.1",
		"lib/aarch64-linux-gnu/libc.so.6":       "x",
		"usr/lib/aarch64-linux-gnu/libbpf.so.1": "x",
		"usr/bin/lnstat":                        "x",
		"etc/iproute2/rt_tables":                "x",
	})
	if err := mergeUsr(layer, host); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"etc/iproute2/rt_tables",
		"sbin/tc", // the host's /sbin is a directory
		"usr/bin/busybox",
		"usr/bin/ip",
		"usr/bin/lnstat",
		"usr/lib/aarch64-linux-gnu/libbpf.so.1",
		"usr/lib/aarch64-linux-gnu/libc.so.6",
		"usr/lib/ld-linux-aarch64.so.1 -> aarch64-linux-gnu/ld-linux-aarch64.so.1",
	}
	if got := listTree(t, layer); !reflect.DeepEqual(got, want) {
		t.Errorf("merged layer\n %q\nwant %q", got, want)
	}

	writeTree(t, layer, map[string]string{"bin/ip": "x"}) // also in usr/bin
	if err := mergeUsr(layer, host); err == nil || !strings.Contains(err.Error(), "both") {
		t.Errorf("a file in both bin and usr/bin: err %v", err)
	}
	os.RemoveAll(filepath.Join(layer, "bin"))
	writeTree(t, layer, map[string]string{"escape/x": "x"})
	if err := mergeUsr(layer, host); err == nil {
		t.Error("a link out of the root was followed")
	}
}

func TestLinkApplets(t *testing.T) {
	layer := t.TempDir()
	writeTree(t, layer, map[string]string{"usr/bin/busybox": "x", "usr/bin/ip": "x", "sbin/tc": "x"})
	if err := linkApplets(layer, []string{"sh", "ip", "tc", "env"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"sbin/tc", "usr/bin/busybox", "usr/bin/env -> busybox", "usr/bin/ip", "usr/bin/sh -> busybox"}
	if got := listTree(t, layer); !reflect.DeepEqual(got, want) {
		t.Errorf("layer %q, want %q", got, want)
	}
	if err := linkApplets(t.TempDir(), []string{"sh"}); err == nil {
		t.Error("no error without busybox")
	}
}
