// Command vmtest runs this module's Go tests under other Linux kernels: it
// boots each kernel in QEMU with software emulation (TCG, no KVM needed) on
// the host's own root file system and runs the test binaries there as root.
// `make test-kernels` runs it for the kernels in the Makefile's KERNELS:
//
//	go run ./tools/vmtest -kernel SPEC [-kernel SPEC]... [flags] PACKAGE... [-- TESTFLAG...]
//
// How it works:
//
//  1. Each PACKAGE is compiled on the host into a static test binary
//     (CGO_ENABLED=0 go test -c) in a fresh run directory under $TMPDIR.
//  2. Each -kernel SPEC is turned into a kernel image and module tree (see
//     resolveKernel): `debian:GLOB` picks the newest Debian package matching
//     GLOB with apt-cache, downloads it with apt-get and unpacks it with
//     dpkg-deb into the cache directory (-cache), once per package version.
//     The uncompressed kernel is taken out of the bzImage once (pvh.go):
//     QEMU starts it directly, which saves the ~8 s that the kernel's own
//     decompressor takes under emulation.
//  3. An initramfs is written for that kernel: the host's busybox-static,
//     /init (init.sh), and the modules of -modules (default: defaultModules)
//     with their dependencies, read from each module's modinfo (Debian's
//     packages carry no modules.dep). Modules the kernel has built in need no
//     loading; those it lacks are skipped with a log line. The guest has no
//     modprobe, so nothing is loaded on demand.
//  4. For each package, QEMU boots the kernel with 2 vCPUs and 2 GiB (-smp,
//     -mem), no network card, the serial console on vmtest's output, and two
//     9p shares: the host's / read-only (tag hostroot) and the run directory
//     writable (tag results). /init mounts the host's root under a tmpfs
//     overlay, so everything is writable and nothing reaches the host; mounts
//     fresh /proc, /sys, /sys/fs/bpf, cgroup2, tracefs, debugfs, /dev, /tmp
//     and /run (host directories the tests need that lie under /tmp or /run,
//     such as the module's source, are moved back in place); brings lo up;
//     sets `ulimit -l unlimited`; and runs the run directory's run.sh
//     chrooted into it. The guest's clock comes from the emulated RTC (the
//     host's time); vmtest reports a skew of more than 5 s at boot or at the
//     end of the tests.
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
// Tests that run `go build` in the VM (cmd/packet-exporter's do) use the
// host's go toolchain, module cache and build cache. When the host has built
// the same packages with the same flags (make build does), nothing is
// compiled in the VM, but the go command still takes ~20 s to check its
// inputs over 9p, and longer on its first run.
//
// Needs root on the host (as the tests do inside), qemu-system-x86_64,
// busybox-static, xz (or the kernel's compressor), and for debian: specs
// apt-get, apt-cache, dpkg and dpkg-deb. On this kind of machine (2 vCPUs,
// no KVM) a boot to the tests takes ~4-6 s.
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
	kernels   listFlag
	cache     string
	timeout   time.Duration
	mem       int
	smp       int
	modules   listFlag
	env       listFlag
	busybox   string
	qemu      string
	keep      bool
	appendCmd string
	packages  []string
	testFlags []string
}

func main() {
	var o options
	flag.Var(&o.kernels, "kernel", "kernel to boot: debian:PACKAGE-GLOB, a .deb, an unpacked package or an image (repeatable)")
	flag.StringVar(&o.cache, "cache", defaultCache(), "where downloaded kernels are kept")
	flag.DurationVar(&o.timeout, "timeout", 25*time.Minute, "limit for one package on one kernel, boot included (the test binary gets -test.timeout 2m less)")
	flag.IntVar(&o.mem, "mem", 2048, "guest memory in MiB")
	flag.IntVar(&o.smp, "smp", 2, "guest vCPUs")
	flag.Var(&o.modules, "modules", "kernel modules to load, instead of the built-in list for 9p and network tests")
	flag.Var(&o.env, "env", "more host environment variables passed to the tests when set (CI and GOFLAGS always are)")
	flag.StringVar(&o.busybox, "busybox", "/bin/busybox", "statically linked busybox for the initramfs")
	flag.StringVar(&o.qemu, "qemu", "qemu-system-x86_64", "QEMU binary")
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
	if err := checkStatic(o.busybox); err != nil {
		return false, err
	}
	if _, err := exec.LookPath(o.qemu); err != nil {
		return false, fmt.Errorf("%w (Debian: apt-get install qemu-system-x86)", err)
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
	bins, results, err := buildTests(o.packages, runDir)
	if err != nil {
		return false, err
	}
	for _, b := range bins {
		env.keepIfHidden(b.module)
	}
	for _, spec := range o.kernels {
		k, err := resolveKernel(spec, o.cache)
		if err != nil {
			return false, err
		}
		logf("kernel %s: %s", k.name, k.image)
		initrd := filepath.Join(runDir, "initramfs-"+filepath.Base(k.image)+".cpio")
		if err := buildInitramfs(k, o.modules, o.busybox, initrd); err != nil {
			return false, fmt.Errorf("initramfs for %s: %w", k.name, err)
		}
		for _, b := range bins {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			r := runPackage(ctx, o, k, initrd, runDir, b, env)
			results = append(results, r)
			logf("%s on %s: %s (boot %s, tests %s)", b.pkg, k.name, r.status, round(r.boot), round(r.tests))
		}
	}
	return summarize(results, time.Since(start)), nil
}

// buildTests compiles each package's tests into runDir. Packages without test
// files are left out; those whose tests do not compile get a failed result,
// as with go test, and the others still run.
func buildTests(pkgs []string, runDir string) ([]testBinary, []result, error) {
	var (
		bins   []testBinary
		failed []result
	)
	seen := map[string]int{}
	for _, pkg := range pkgs {
		out, err := runIn("", "go", "list", "-f", "{{.Dir}}\n{{with .Module}}{{.Dir}}{{end}}", pkg)
		if err != nil {
			return nil, nil, fmt.Errorf("go list %s: %w\n%s", pkg, err, out)
		}
		dir, module, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		if module == "" {
			module = dir
		}
		name := filepath.Base(dir)
		if seen[name]++; seen[name] > 1 {
			name = fmt.Sprintf("%s-%d", name, seen[name])
		}
		bin := filepath.Join(runDir, name+".test")
		logf("building %s tests", pkg)
		cmd := exec.Command("go", "test", "-c", "-o", bin, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			failed = append(failed, result{kernel: "(any)", pkg: pkg, status: "FAIL", notes: []string{"go test -c: " + err.Error()}})
			continue
		}
		if _, err := os.Stat(bin); err != nil {
			logf("%s has no tests", pkg)
			continue
		}
		bins = append(bins, testBinary{pkg: pkg, name: name, dir: dir, module: module})
	}
	return bins, failed, nil
}

// buildInitramfs resolves the modules for k and writes its initramfs.
func buildInitramfs(k kernel, wanted []string, busybox, out string) error {
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
	return writeInitramfs(out, busybox, mods)
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
