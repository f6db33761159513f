package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// guestEnv is the environment of the tests in the guest, and the host
// directories they need that the guest's own /tmp and /run would hide.
type guestEnv struct {
	vars [][2]string
	keep []string
}

// newGuestEnv collects the host's go setup and the variables to pass.
func newGuestEnv(pass []string) (*guestEnv, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, err
	}
	if goBin, err = filepath.Abs(goBin); err != nil {
		return nil, err
	}
	out, err := runIn("", "go", "env", "GOROOT", "GOCACHE", "GOMODCACHE", "GOPATH")
	if err != nil {
		return nil, fmt.Errorf("go env: %w\n%s", err, out)
	}
	goenv := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(goenv) != 4 {
		return nil, fmt.Errorf("go env: unexpected output %q", out)
	}
	home := os.Getenv("HOME")
	if home == "" {
		home = "/root"
	}
	e := &guestEnv{}
	e.vars = [][2]string{
		{"PATH", filepath.Dir(goBin) + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		{"HOME", home},
		{"TMPDIR", "/tmp"},
		{"GOTMPDIR", "/tmp"},
		{"GOCACHE", goenv[1]},
		{"GOMODCACHE", goenv[2]},
		{"GOPATH", goenv[3]},
		{"GOTOOLCHAIN", "local"}, // the guest has no network:
		{"GOPROXY", "off"},       // what the host has is all there is
	}
	for _, name := range append([]string{"CI", "GOFLAGS"}, pass...) {
		if v, ok := os.LookupEnv(name); ok && !slices.ContainsFunc(e.vars, func(kv [2]string) bool { return kv[0] == name }) {
			e.vars = append(e.vars, [2]string{name, v})
		}
	}
	for _, p := range []string{filepath.Dir(goBin), goenv[0], goenv[1], goenv[2], home} {
		e.keepIfHidden(p)
	}
	return e, nil
}

// keepIfHidden records dir if it lies under a directory that the guest mounts
// afresh (/tmp, /run), so that /init moves the host's copy back in place.
func (e *guestEnv) keepIfHidden(dir string) {
	under := func(p, parent string) bool { return p == parent || strings.HasPrefix(p, parent+"/") }
	if !under(dir, "/tmp") && !under(dir, "/run") || dir == "/tmp" || dir == "/run" {
		return
	}
	for _, k := range e.keep {
		if under(dir, k) {
			return
		}
	}
	e.keep = slices.DeleteFunc(e.keep, func(k string) bool { return under(k, dir) })
	e.keep = append(e.keep, dir)
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// runScript is run.sh for one package: the guest runs it chrooted into the
// overlay root, with the run directory at /run/vmtest.
func runScript(b testBinary, env *guestEnv, testArgs []string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "# written by vmtest: runs the %s tests\n", b.pkg)
	for _, kv := range env.vars {
		fmt.Fprintf(&s, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	fmt.Fprintf(&s, "ulimit -l unlimited\n")
	fmt.Fprintf(&s, "cd %s || { echo 125 >/run/vmtest/%s.status; exit 1; }\n", shellQuote(b.dir), b.name)
	fmt.Fprintf(&s, "echo 'vmtest: running the %s tests'\n", b.name)
	fmt.Fprintf(&s, "/run/vmtest/%s.test", b.name)
	for _, a := range testArgs {
		fmt.Fprintf(&s, " %s", shellQuote(a))
	}
	fmt.Fprintf(&s, " >/run/vmtest/%s.out 2>&1 </dev/null\n", b.name)
	fmt.Fprintf(&s, "echo $? >/run/vmtest/%s.status\n", b.name)
	fmt.Fprintf(&s, "echo \"vmtest: tests done, clock $(date +%%s)\"\n")
	return s.String()
}

// testArgs are the test binary's flags: the user's, with a -test.timeout
// that ends the tests (with a goroutine dump) before the VM is killed.
func testArgs(user []string, vmTimeout time.Duration) []string {
	for _, a := range user {
		if strings.HasPrefix(strings.TrimLeft(a, "-"), "test.timeout") {
			return user
		}
	}
	t := max(vmTimeout-2*time.Minute, vmTimeout/2)
	return append([]string{"-test.timeout=" + t.String()}, user...)
}

var (
	rootReady     = regexp.MustCompile(`vmtest: kernel \S+: root ready after ([0-9.]+)s`)
	guestClock    = regexp.MustCompile(`^vmtest: .*clock ([0-9]+)$`)
	kernelProblem = regexp.MustCompile(`Kernel panic|BUG:|Oops|WARNING:|general protection fault|segfault at`)
)

// runPackage boots m's kernel and runs one package's tests in it.
func runPackage(ctx context.Context, o options, m machine, runDir string, b testBinary, env *guestEnv) result {
	k := m.kernel
	r := result{kernel: k.name, pkg: b.pkg}
	fail := func(format string, args ...any) result {
		r.status = "ERROR"
		r.notes = append(r.notes, fmt.Sprintf(format, args...))
		return r
	}
	outPath := filepath.Join(runDir, b.name+".out")
	statusPath := filepath.Join(runDir, b.name+".status")
	os.Remove(outPath)
	os.Remove(statusPath)
	// VMTEST_KERNEL tells the tests that they run emulated, and on what.
	vars := append(slices.Clone(env.vars), [2]string{"VMTEST_KERNEL", k.name})
	script := runScript(b, &guestEnv{vars: vars}, testArgs(o.testFlags, o.timeout))
	if err := os.WriteFile(filepath.Join(runDir, "run.sh"), []byte(script), 0o644); err != nil {
		return fail("%v", err)
	}
	keep := strings.Join(env.keep, "\n")
	if keep != "" {
		keep += "\n"
	}
	if err := os.WriteFile(filepath.Join(runDir, "keep"), []byte(keep), 0o644); err != nil {
		return fail("%v", err)
	}

	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, m.qemu, qemuArgs(o, m, runDir)...)
	cmd.Stderr = os.Stderr
	console, err := cmd.StdoutPipe()
	if err != nil {
		return fail("%v", err)
	}
	// QEMU must not outlive vmtest: the parent-death signal is tied to the
	// thread that started it, so that thread stays this goroutine's until Wait.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	logf("booting %s for %s", k.name, b.pkg)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fail("%s: %v", m.qemu, err)
	}
	ready := make(chan time.Time, 1)
	consoleDone := make(chan []string)
	go func() { consoleDone <- readConsole(console, start, ready) }()
	tailDone := make(chan struct{})
	stopTail := make(chan struct{})
	var finished time.Time
	go func() {
		defer close(tailDone)
		finished = tail(outPath, statusPath, stopTail)
	}()

	waitErr := cmd.Wait()
	end := time.Now()
	close(stopTail)
	<-tailDone
	r.notes = append(r.notes, <-consoleDone...)
	var booted time.Time
	select {
	case booted = <-ready:
		r.boot = booted.Sub(start)
		if finished.IsZero() {
			finished = end
		}
		r.tests = finished.Sub(booted)
	default:
		r.boot = end.Sub(start)
	}

	code, err := readStatus(statusPath)
	switch {
	case err == nil && code == 0:
		r.status = "ok"
	case err == nil:
		r.status = "FAIL"
		r.notes = append(r.notes, fmt.Sprintf("test binary exit status %d", code))
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		r.status = "TIMEOUT"
		r.notes = append(r.notes, fmt.Sprintf("VM killed after %s", o.timeout))
	default:
		r.status = "ERROR"
		r.notes = append(r.notes, fmt.Sprintf("the VM stopped without an exit status (%v): see the console above", waitErr))
	}
	return r
}

// readConsole copies the VM's serial console to stdout, line by line with a
// prefix, sends the time /init reported the root ready on ready, and returns
// notes: the guest clock's skew and the first lines that look like kernel
// trouble.
func readConsole(r io.Reader, start time.Time, ready chan<- time.Time) []string {
	var notes []string
	problems := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		fmt.Printf("console| %s\n", line)
		now := time.Now()
		if m := rootReady.FindStringSubmatch(line); m != nil {
			ready <- now
			notes = append(notes, fmt.Sprintf("guest uptime at root ready: %ss, host wall time %s", m[1], round(now.Sub(start))))
		}
		if m := guestClock.FindStringSubmatch(line); m != nil {
			if clock, err := strconv.ParseInt(m[1], 10, 64); err == nil {
				if skew := now.Unix() - clock; skew > 5 || skew < -5 {
					notes = append(notes, fmt.Sprintf("guest clock off by %ds: %s", skew, line))
				}
			}
		}
		if kernelProblem.MatchString(line) {
			if problems++; problems <= 5 {
				notes = append(notes, "console: "+strings.TrimSpace(line))
			}
		}
	}
	if problems > 5 {
		notes = append(notes, fmt.Sprintf("console: %d more such lines", problems-5))
	}
	return notes
}

// tail copies what the guest appends to out to stdout until stop, and returns
// when the status file first appeared (zero if it never did while tailing).
func tail(out, status string, stop <-chan struct{}) time.Time {
	var (
		f        *os.File
		finished time.Time
	)
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if f == nil {
			f, _ = os.Open(out)
		}
		if f != nil {
			io.Copy(os.Stdout, f)
		}
		if finished.IsZero() {
			if _, err := os.Stat(status); err == nil {
				finished = time.Now()
			}
		}
		select {
		case <-stop:
			if f == nil {
				f, _ = os.Open(out)
			}
			if f != nil {
				io.Copy(os.Stdout, f)
			}
			return finished
		case <-tick.C:
		}
	}
}

func readStatus(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
