// Command vmtest runs this module's Go tests under other Linux kernels: it
// boots each kernel in QEMU with software emulation (TCG, no KVM needed) on
// the host's own root file system and runs the test binaries there as root.
// Kernels may be amd64 or arm64, whatever the host's architecture (see
// "Other architectures" below). `make test-kernels` runs it for the kernels
// in the Makefile's KERNELS:
//
//	go run ./tools/vmtest -kernel SPEC [-kernel SPEC]... [flags] PACKAGE... [-- TESTFLAG...]
//
// How it works:
//
//  1. Each -kernel SPEC is turned into a kernel image and module tree (see
//     resolveKernel): `debian:GLOB` picks the newest Debian package matching
//     GLOB with apt-cache, downloads it with apt-get and unpacks it with
//     dpkg-deb into the cache directory (-cache), once per package version.
//     The kernel's architecture is read from the image's header (headerArch).
//     The uncompressed kernel is taken out of an x86 bzImage once (pvh.go):
//     QEMU starts it directly, which saves the ~8 s that the kernel's own
//     decompressor takes under emulation. An arm64 Image (Debian's vmlinuz
//     is one, uncompressed; QEMU unpacks an Image.gz itself) is booted as is.
//  2. The packages to run under it are compiled on the host into static test
//     binaries (CGO_ENABLED=0 GOARCH=ARCH go test -c) in a fresh run
//     directory under $TMPDIR, once per architecture: PACKAGE... under a
//     kernel of the host's architecture, -foreign-packages (when given)
//     under one of another architecture.
//  3. An initramfs is written for that kernel: a static busybox of its
//     architecture (-busybox, the host's busybox-static, on the host's
//     architecture; the userland's otherwise), /init (init.sh), and the
//     modules of -modules (default: defaultModules) with their dependencies,
//     read from each module's modinfo (Debian's packages carry no
//     modules.dep). Modules the kernel has built in need no loading; those it
//     lacks are skipped with a log line. The guest has no modprobe, so
//     nothing is loaded on demand.
//  4. For each package, QEMU (qemu-system-x86_64, or qemu-system-aarch64
//     -machine virt; -qemu, -cpu) boots the kernel with 2 vCPUs and 2 GiB
//     (-smp, -mem), no network card, the serial console on vmtest's output,
//     and two 9p shares (virtio over PCI): the host's / read-only (tag
//     hostroot) and the run directory writable (tag results). /init mounts
//     the host's root under a tmpfs overlay, so everything is writable and
//     nothing reaches the host; mounts fresh /proc, /sys, /sys/fs/bpf,
//     cgroup2, tracefs, debugfs, /dev, /tmp and /run (host directories the
//     tests need that lie under /tmp or /run, such as the module's source,
//     are moved back in place); brings lo up; sets `ulimit -l unlimited`; and
//     runs the run directory's run.sh chrooted into it. The guest's clock
//     comes from the emulated RTC (the host's time); vmtest reports a skew of
//     more than 5 s at boot or at the end of the tests.
//  5. run.sh (runScript) sets the environment - PATH with the host's go,
//     HOME, TMPDIR=GOTMPDIR=/tmp, the host's GOCACHE and GOMODCACHE (read
//     through 9p, written to the overlay), GOTOOLCHAIN=local, GOPROXY=off,
//     VMTEST_KERNEL (the kernel's name: tests can tell that they run
//     emulated), and CI, GOFLAGS and the -env variables when set on the host
//     - then runs the test binary in the package's source directory, as go
//     test does, with its output in NAME.out and its exit status in
//     NAME.status of the run directory. vmtest streams NAME.out while the
//     tests run, and the console with a "console|" prefix (the kernel is
//     quiet but for warnings; -append loglevel=7 shows the whole boot).
//  6. The VM powers itself off. A run without an exit status (kernel panic,
//     the VM killed after -timeout, vmtest interrupted) counts as a failure;
//     the test binary gets a -test.timeout 2 minutes shorter so that a hung
//     test ends with its goroutine dump first. vmtest ends with a summary
//     (result, boot and test time of each package on each kernel, kernel
//     warnings seen on the console) and exits non-zero if anything failed.
//
// Other architectures: the host's root is shared all the same (the module's
// source, testdata), but its executables cannot run in the guest. vmtest
// makes a userland of the kernel's architecture (guestUserland): the Debian
// packages of -guest-packages (default: busybox-static and iproute2, for the
// `ip netns` of the tests' namespaces) and the libraries they depend on,
// downloaded with apt-get (`dpkg --add-architecture arm64` and apt-get update
// first) and unpacked once into the cache directory. It is shared read-only
// too (tag userland), and /init makes it the overlay's top layer, above the
// host's root: its busybox's sh and env run run.sh, chrooted as on the host's
// architecture, and the tests find its ip (and tc) first on PATH. Tests that
// run other host programs (nft, go build, promtool...) cannot run there: hence
// -foreign-packages, the packages run under such kernels (make test-kernels:
// KERNEL_FOREIGN_TEST_PACKAGES, ./bpf).
//
// Tests that run `go build` in the VM (cmd/packet-exporter's do) use the
// host's go toolchain, module cache and build cache. When the host has built
// the same packages with the same flags (make build does), nothing is
// compiled in the VM, but the go command still takes ~20 s to check its
// inputs over 9p, and longer on its first run.
//
// Needs root on the host (as the tests do inside), qemu-system-x86_64
// (Debian: qemu-system-x86) and qemu-system-aarch64 (qemu-system-arm) for the
// architectures booted, busybox-static, xz (or the kernel's compressor), and
// for debian: specs and other architectures apt-get, apt-cache, dpkg and
// dpkg-deb. On this kind of machine (2 vCPUs, no KVM) a boot to the tests
// takes ~4-6 s on amd64 and ~3-5 s on arm64.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// listFlag is a flag that may be given more than once; each value may itself
// be a space-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, strings.Fields(v)...)
	return nil
}

type options struct {
	kernels       listFlag
	cache         string
	timeout       time.Duration
	mem           int
	smp           int
	modules       listFlag
	env           listFlag
	busybox       string
	qemu          string
	cpu           string
	foreign       listFlag
	guestPackages listFlag
	keep          bool
	appendCmd     string
	packages      []string
	testFlags     []string
}

func main() {
	var o options
	flag.Var(&o.kernels, "kernel", "kernel to boot: debian:PACKAGE-GLOB, a .deb, an unpacked package or an image (repeatable)")
	flag.StringVar(&o.cache, "cache", defaultCache(), "where downloaded kernels and userlands are kept")
	flag.DurationVar(&o.timeout, "timeout", 25*time.Minute, "limit for one package on one kernel, boot included (the test binary gets -test.timeout 2m less)")
	flag.IntVar(&o.mem, "mem", 2048, "guest memory in MiB")
	flag.IntVar(&o.smp, "smp", 2, "guest vCPUs")
	flag.Var(&o.modules, "modules", "kernel modules to load, instead of the built-in list for 9p and network tests")
	flag.Var(&o.env, "env", "more host environment variables passed to the tests when set (CI and GOFLAGS always are)")
	flag.StringVar(&o.busybox, "busybox", "/bin/busybox", "statically linked busybox for the initramfs of kernels of the host's architecture")
	flag.StringVar(&o.qemu, "qemu", "", "QEMU binary (default: qemu-system-x86_64 or qemu-system-aarch64, by the kernel's architecture)")
	flag.StringVar(&o.cpu, "cpu", "", "QEMU CPU model (default: max on amd64, max,pauth=off on arm64)")
	flag.Var(&o.foreign, "foreign-packages", "the packages to test under kernels of another architecture than the host's, instead of PACKAGE... (repeatable)")
	flag.Var(&o.guestPackages, "guest-packages", "Debian packages of the guest's userland on another architecture than the host's (default: "+strings.Join(defaultGuestPackages, " ")+")")
	flag.StringVar(&o.appendCmd, "append", "", "more kernel command line (e.g. loglevel=7 to see the whole boot)")
	flag.BoolVar(&o.keep, "keep", false, "keep the run directory (test binaries, initramfs, outputs)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: vmtest -kernel SPEC [-kernel SPEC]... [flags] PACKAGE... [-- TESTFLAG...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	args := flag.Args()
	for i, a := range args {
		if a == "--" {
			o.testFlags = args[i+1:]
			args = args[:i]
			break
		}
	}
	o.packages = args
	if len(o.kernels) == 0 || len(o.packages) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if len(o.modules) == 0 {
		o.modules = defaultModules
	}
	if len(o.guestPackages) == 0 {
		o.guestPackages = defaultGuestPackages
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmtest:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// defaultCache is $XDG_CACHE_HOME/packet-exporter-kernels (~/.cache/... when
// XDG_CACHE_HOME is not set).
func defaultCache() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "packet-exporter-kernels")
}

func logf(format string, args ...any) {
	fmt.Printf("vmtest: "+format+"\n", args...)
}

// testBinary is one package's compiled tests.
type testBinary struct {
	pkg    string // as given
	name   string // file name stem in the run directory
	dir    string // the package's source directory, where the tests run
	module string // the root of its module (go build in the tests needs go.mod)
}

// result is one package's run on one kernel.
type result struct {
	kernel, pkg string
	status      string // "ok", "FAIL", or what went wrong
	boot, tests time.Duration
	notes       []string
}

func run(ctx context.Context, o options) (bool, error) {
	if os.Geteuid() != 0 {
		return false, errors.New("needs root (the tests load eBPF programs and create namespaces)")
	}
	start := time.Now()
	runDir, err := os.MkdirTemp("", "vmtest-")
	if err != nil {
		return false, err
	}
	if o.keep {
		logf("run directory %s is kept", runDir)
	} else {
		defer os.RemoveAll(runDir)
	}
	env, err := newGuestEnv(o.env)
	if err != nil {
		return false, err
	}
	var (
		results   []result
		tests     = &testBuilder{runDir: runDir, built: map[string]*testBinary{}, names: map[string]int{}}
		userlands = map[string]string{}
	)
	for _, spec := range o.kernels {
		k, err := resolveKernel(spec, o.cache)
		if err != nil {
			return false, err
		}
		m, err := prepareMachine(o, k, runDir, userlands)
		if err != nil {
			return false, err
		}
		pkgs := o.packages
		if k.arch != runtime.GOARCH && len(o.foreign) > 0 {
			pkgs = o.foreign
		}
		for _, pkg := range pkgs {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			b, failed, err := tests.build(pkg, k.arch)
			if err != nil {
				return false, err
			}
			if failed != nil {
				results = append(results, *failed)
			}
			if b == nil {
				continue
			}
			env.keepIfHidden(b.module)
			r := runPackage(ctx, o, m, runDir, *b, env)
			results = append(results, r)
			logf("%s on %s: %s (boot %s, tests %s)", b.pkg, k.name, r.status, round(r.boot), round(r.tests))
		}
	}
	return summarize(results, time.Since(start)), nil
}

// prepareMachine finds the QEMU of k's architecture and writes k's
// initramfs; for an architecture other than the host's it first makes the
// guest's userland (once per architecture, in userlands), whose busybox goes
// into the initramfs.
func prepareMachine(o options, k kernel, runDir string, userlands map[string]string) (machine, error) {
	a, err := archOf(k.arch)
	if err != nil {
		return machine{}, fmt.Errorf("kernel %s: %w", k.name, err)
	}
	m := machine{kernel: k, arch: a, qemu: o.qemu}
	if m.qemu == "" {
		m.qemu = a.qemu
	}
	if _, err := exec.LookPath(m.qemu); err != nil {
		return machine{}, fmt.Errorf("%w (Debian: apt-get install %s)", err, a.qemuDeb)
	}
	busybox := o.busybox
	if k.arch != runtime.GOARCH {
		if m.userland = userlands[k.arch]; m.userland == "" {
			if m.userland, err = guestUserland(k.arch, o.guestPackages, o.cache); err != nil {
				return machine{}, fmt.Errorf("%s userland: %w", k.arch, err)
			}
			userlands[k.arch] = m.userland
		}
		if busybox, err = userlandBusybox(m.userland); err != nil {
			return machine{}, err
		}
	}
	if err := checkStatic(busybox, a.elf); err != nil {
		return machine{}, err
	}
	logf("kernel %s (%s): %s", k.name, k.arch, k.image)
	m.initrd = filepath.Join(runDir, "initramfs-"+filepath.Base(k.image)+".cpio")
	if err := buildInitramfs(k, o.modules, busybox, m.initrd, m.userland != ""); err != nil {
		return machine{}, fmt.Errorf("initramfs for %s: %w", k.name, err)
	}
	return m, nil
}

// testBuilder compiles each package's tests once per architecture, when a
// kernel first needs them.
type testBuilder struct {
	runDir string
	built  map[string]*testBinary // by architecture and package; nil: no tests, or they did not compile
	names  map[string]int         // the file name stems used
}

// build returns pkg's tests compiled for arch, or nil when pkg has no test
// files or its tests do not compile; then, the first time, a failed result
// too, as with go test, and the other packages still run. A package that
// go list does not know is an error.
func (t *testBuilder) build(pkg, arch string) (*testBinary, *result, error) {
	key := arch + " " + pkg
	if b, ok := t.built[key]; ok {
		return b, nil, nil
	}
	t.built[key] = nil
	out, err := runIn("", "go", "list", "-f", "{{.Dir}}\n{{with .Module}}{{.Dir}}{{end}}", pkg)
	if err != nil {
		return nil, nil, fmt.Errorf("go list %s: %w\n%s", pkg, err, out)
	}
	dir, module, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if module == "" {
		module = dir
	}
	name := filepath.Base(dir)
	if arch != runtime.GOARCH {
		name += "-" + arch
	}
	if t.names[name]++; t.names[name] > 1 {
		name = fmt.Sprintf("%s-%d", name, t.names[name])
	}
	bin := filepath.Join(t.runDir, name+".test")
	logf("building %s tests for %s", pkg, arch)
	cmd := exec.Command("go", "test", "-c", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOARCH="+arch)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		kernel := "(any)"
		if arch != runtime.GOARCH {
			kernel = "(any " + arch + ")"
		}
		return nil, &result{kernel: kernel, pkg: pkg, status: "FAIL", notes: []string{"go test -c: " + err.Error()}}, nil
	}
	if _, err := os.Stat(bin); err != nil {
		logf("%s has no tests", pkg)
		return nil, nil, nil
	}
	b := &testBinary{pkg: pkg, name: name, dir: dir, module: module}
	t.built[key] = b
	return b, nil, nil
}

// buildInitramfs resolves the modules for k and writes its initramfs.
func buildInitramfs(k kernel, wanted []string, busybox, out string, userland bool) error {
	tree, err := readModuleTree(k.modules)
	if err != nil {
		return err
	}
	if k.modules == "" {
		logf("no module tree for %s: the image must have virtio, 9p and overlay built in", k.name)
	}
	mods, notes, err := resolveModules(wanted, tree, func(path string) ([]string, error) {
		ko, err := readModule(path)
		if err != nil {
			return nil, err
		}
		deps, err := modinfoDepends(ko)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return deps, nil
	})
	if err != nil {
		return err
	}
	for _, n := range notes {
		logf("%s", n)
	}
	return writeInitramfs(out, busybox, mods, userland)
}

func summarize(results []result, total time.Duration) bool {
	ok := true
	fmt.Println("vmtest: summary")
	for _, r := range results {
		if r.status != "ok" {
			ok = false
		}
		fmt.Printf("  %-6s %-28s %-48s boot %7s  tests %8s\n", r.status, r.pkg, r.kernel, round(r.boot), round(r.tests))
		for _, n := range r.notes {
			fmt.Printf("         %s\n", n)
		}
	}
	fmt.Printf("vmtest: total %s\n", round(total))
	return ok
}

func round(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
