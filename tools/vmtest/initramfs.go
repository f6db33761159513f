package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// init.sh is the guest's /init; see the package comment.
//
//go:embed init.sh
var initScript []byte

// defaultModules are the modules /init loads when the kernel has them as
// modules: those of the 9p/overlay root first, then what the tests of this
// repository (and tests likely to come) create or attach to. A module that is
// built in needs no loading, one the kernel lacks is skipped with a log line.
// Dependencies are added from each module's modinfo.
var defaultModules = []string{
	// virtio PCI transport, the host's root over 9p, the tmpfs overlay on it
	"virtio", "virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
	"netfs", "fscache", "9pnet", "9pnet_virtio", "9p", "overlay",
	// netlink families that netlink.NewHandle() opens besides NETLINK_ROUTE
	// (XFRM, NETFILTER): a host loads them on demand, the guest has no modprobe
	"xfrm_user", "nfnetlink",
	// socket diagnostics (ss)
	"inet_diag", "tcp_diag", "udp_diag", "netlink_diag", "af_packet_diag",
	// network devices
	"veth", "8021q", "bridge", "tun", "dummy", "macvlan", "ipvlan", "vxlan", "geneve", "ip_gre", "ipip", "ifb", "bonding", "netkit",
	// tc: qdiscs, classifiers, actions
	"sch_ingress", "cls_bpf", "act_bpf", "cls_u32", "cls_flower", "cls_matchall", "act_gact", "act_mirred",
	"sch_prio", "sch_htb", "sch_tbf", "sch_netem", "sch_fq", "sch_fq_codel",
	// nftables (drop tests: a rule that drops and counts); crc32c_generic
	// first: libcrc32c, which nf_tables needs, asks the crypto API for it
	// (a soft dependency) when it loads
	"crc32c_generic", "nf_tables",
}

// module is one kernel module file to load.
type module struct {
	name string // normalised: '-' replaced by '_', no suffix
	path string // file in the kernel's module tree
}

// moduleName returns the normalised module name of a module file name.
func moduleName(file string) string {
	base := filepath.Base(file)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		base = strings.TrimSuffix(base, ext)
	}
	return strings.ReplaceAll(strings.TrimSuffix(base, ".ko"), "-", "_")
}

// moduleTree indexes the module files and built-in modules of a kernel.
type moduleTree struct {
	files   map[string]string // name -> path
	builtin map[string]bool
}

func readModuleTree(dir string) (*moduleTree, error) {
	t := &moduleTree{files: map[string]string{}, builtin: map[string]bool{}}
	if dir == "" {
		return t, nil
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.Contains(d.Name(), ".ko") {
			t.files[moduleName(p)] = p
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil {
		for _, line := range strings.Fields(string(b)) {
			t.builtin[moduleName(line)] = true
		}
	}
	return t, nil
}

// resolveModules returns the modules to load, in an order that loads each
// module's dependencies (deps) before it, and a log line for each wanted
// module that is neither a file nor built in.
func resolveModules(wanted []string, t *moduleTree, deps func(path string) ([]string, error)) ([]module, []string, error) {
	var (
		order []module
		notes []string
		state = map[string]int{} // 1 visiting, 2 done
	)
	var visit func(name string, wantedBy string) error
	visit = func(name, wantedBy string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("module dependency cycle through %s", name)
		case 2:
			return nil
		}
		path, ok := t.files[name]
		if !ok {
			state[name] = 2
			switch {
			case t.builtin[name]:
			case wantedBy != "":
				return fmt.Errorf("module %s (needed by %s) not found", name, wantedBy)
			default:
				notes = append(notes, fmt.Sprintf("module %s: not in this kernel, skipped", name))
			}
			return nil
		}
		state[name] = 1
		ds, err := deps(path)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if err := visit(d, name); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, module{name: name, path: path})
		return nil
	}
	for _, name := range wanted {
		if err := visit(strings.ReplaceAll(name, "-", "_"), ""); err != nil {
			return nil, nil, err
		}
	}
	return order, notes, nil
}

// readModule returns the content of a module file, decompressed.
func readModule(path string) ([]byte, error) {
	var tool string
	switch filepath.Ext(path) {
	case ".ko":
		return os.ReadFile(path)
	case ".xz":
		tool = "xz"
	case ".zst":
		tool = "zstd"
	case ".gz":
		tool = "gzip"
	default:
		return nil, fmt.Errorf("%s: unknown module compression", path)
	}
	out, err := exec.Command(tool, "-dc", path).Output()
	if err != nil {
		return nil, fmt.Errorf("%s -dc %s: %w", tool, path, err)
	}
	return out, nil
}

// modinfoDepends returns the depends= field of a module's .modinfo section.
func modinfoDepends(ko []byte) ([]string, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return nil, err
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, errors.New("no .modinfo section")
	}
	data, err := sec.Data()
	if err != nil {
		return nil, err
	}
	for _, field := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(field, []byte("depends=")); ok {
			var deps []string
			for _, d := range strings.Split(string(v), ",") {
				if d != "" {
					deps = append(deps, strings.ReplaceAll(d, "-", "_"))
				}
			}
			return deps, nil
		}
	}
	return nil, nil
}

// writeInitramfs writes an uncompressed initramfs (cpio, newc format) with
// busybox, /init, the modules to load (lib/modules/NAME.ko), /modules, the
// list /init loads in order, and with userland an empty /has-userland: it tells
// /init to layer the userland share over the host's root.
func writeInitramfs(out string, busybox string, mods []module, userland bool) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := newCpioWriter(bufio.NewWriter(f))
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	for _, d := range []string{"bin", "dev", "lib", "lib/modules", "mnt", "proc", "sys", "tmp"} {
		w.dir(d)
	}
	w.node("dev/console", 0o20600, 5, 1) // char device 5:1, for /init's output
	w.file("bin/busybox", 0o755, bb)
	w.file("init", 0o755, initScript)
	var list strings.Builder
	for _, m := range mods {
		ko, err := readModule(m.path)
		if err != nil {
			return err
		}
		w.file("lib/modules/"+m.name+".ko", 0o644, ko)
		fmt.Fprintln(&list, m.name)
	}
	w.file("modules", 0o644, []byte(list.String()))
	if userland {
		w.file("has-userland", 0o644, nil)
	}
	if err := w.close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// checkStatic fails unless path is a statically linked ELF executable for
// machine (busybox must run before any library is reachable).
func checkStatic(path string, machine elf.Machine) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Machine != machine {
		return fmt.Errorf("%s is for %v, not %v", path, f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: install busybox-static", path)
		}
	}
	return nil
}

// cpioWriter writes a cpio archive in the "new ASCII" (newc) format that the
// kernel unpacks as initramfs. The first error sticks and is returned by close.
type cpioWriter struct {
	w   *bufio.Writer
	ino int
	err error
}

func newCpioWriter(w *bufio.Writer) *cpioWriter { return &cpioWriter{w: w, ino: 1} }

func (c *cpioWriter) dir(name string) { c.entry(name, 0o40755, 0, 0, nil) }
func (c *cpioWriter) file(name string, perm int, data []byte) {
	c.entry(name, 0o100000|perm, 0, 0, data)
}
func (c *cpioWriter) node(name string, mode, major, minor int) {
	c.entry(name, mode, major, minor, nil)
}

func (c *cpioWriter) entry(name string, mode, rmajor, rminor int, data []byte) {
	if c.err != nil {
		return
	}
	nlink := 1
	if mode&0o170000 == 0o40000 {
		nlink = 2
	}
	// magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
	// rdevmajor, rdevminor, namesize (with the NUL), check
	_, c.err = fmt.Fprintf(c.w, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rmajor, rminor, len(name)+1, 0)
	c.ino++
	c.write([]byte(name + "\x00"))
	c.pad(110 + len(name) + 1)
	c.write(data)
	c.pad(len(data))
}

func (c *cpioWriter) write(b []byte) {
	if c.err == nil {
		_, c.err = c.w.Write(b)
	}
}

// pad writes the NULs that align n bytes to 4.
func (c *cpioWriter) pad(n int) {
	c.write(make([]byte, (4-n%4)%4))
}

func (c *cpioWriter) close() error {
	c.entry("TRAILER!!!", 0, 0, 0, nil)
	if c.err != nil {
		return c.err
	}
	return c.w.Flush()
}
