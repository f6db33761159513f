package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
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
