package testexporter

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
)

// logTail is how much of a process's output the cleanup of a failed test logs.
const logTail = 20000

// Options says how Start runs a program.
type Options struct {
	// Name names the process in messages; the default is the program's name.
	Name string
	// Netns, if not nil, is the network namespace the program runs in. It is
	// started with `ip netns exec NAME`, which execs it: the process is the
	// program itself.
	Netns *testenv.Netns
	// Setup, if not nil, changes the command before it starts: a wrapper,
	// its environment, extra files.
	Setup func(*exec.Cmd)
	// StopTimeout, if not zero, makes the test's cleanup end a process that
	// still runs with SIGTERM, and kill it (failing the test) only if it has
	// not exited after that long. By default the cleanup kills it at once.
	StopTimeout time.Duration
}

// Process is a program started by Start.
type Process struct {
	name    string
	cmd     *exec.Cmd
	out     *output
	started time.Time
	done    chan struct{}
	err     error // what cmd.Wait returned, once done is closed
}

// Start starts argv (a program and its arguments) as opts says, with its
// standard output and error collected together, and the test's environment
// less the variables that configure packet-exporter or OpenTelemetry SDKs
// (see Environ). If the test binary dies first, the kernel kills the
// process. The test's cleanup ends the process if it still runs (see
// Options.StopTimeout), waits for it and, if the test failed, logs the end of
// its output.
func Start(tb testing.TB, opts Options, argv ...string) *Process {
	tb.Helper()
	if len(argv) == 0 {
		tb.Fatal("testexporter.Start: no program")
	}
	name := opts.Name
	if name == "" {
		name = argv[0]
	}
	args := argv
	if opts.Netns != nil {
		args = append([]string{"ip", "netns", "exec", opts.Netns.Name}, argv...)
	}
	p := &Process{name: name, out: &output{}, done: make(chan struct{})}
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Env = Environ()
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if opts.Setup != nil {
		opts.Setup(p.cmd)
	}
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		if opts.StopTimeout > 0 && !p.Exited() {
			if exited, _ := p.Stop(opts.StopTimeout); !exited {
				tb.Errorf("%s did not exit %v after SIGTERM; killed it", name, opts.StopTimeout)
			}
		}
		p.Kill()
		if tb.Failed() {
			tb.Logf("output of %s (%s):\n%s", name, strings.Join(args, " "), Tail(p.Output(), logTail))
		}
	})
	return p
}

// Environ returns the test's environment less the variables that configure
// packet-exporter or OpenTelemetry SDKs (PE_*, OTEL_*), so that what a test
// writes into a configuration file is all there is.
func Environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PE_") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// Name is the process's name in messages.
func (p *Process) Name() string { return p.name }

// Pid is the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Started is when the process was started (just before fork).
func (p *Process) Started() time.Time { return p.started }

// Output returns what the process has written so far.
func (p *Process) Output() string { return p.out.String() }

// Done is closed when the process has exited and its output is complete.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is what waiting for the process returned (nil for exit status 0), once
// it has exited; nil before.
func (p *Process) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Signal sends sig to the process; it is an error if it has exited.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return fmt.Errorf("signal %s: already exited: %v", p.name, p.err)
	}
	return p.cmd.Process.Signal(sig)
}

// Wait waits up to timeout for the process to exit. It returns whether it
// exited and its exit status: -1 if it was killed by a signal or still runs.
func (p *Process) Wait(timeout time.Duration) (exited bool, code int) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		return false, -1
	}
	var exit *exec.ExitError
	switch {
	case p.err == nil:
		return true, 0
	case errors.As(p.err, &exit):
		return true, exit.ExitCode()
	default:
		return true, -1
	}
}

// Stop sends SIGTERM to a process that still runs and waits up to timeout for
// it to exit; if it does not, Stop kills it. It returns whether the process
// exited by itself, and its exit status as Wait does.
func (p *Process) Stop(timeout time.Duration) (exited bool, code int) {
	if !p.Exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	if exited, code := p.Wait(timeout); exited {
		return true, code
	}
	p.Kill()
	return false, -1
}

// Kill kills the process if it still runs, and waits until it has exited.
func (p *Process) Kill() {
	if !p.Exited() {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// WaitFor is WaitFor that fails the test at once, with the process's output,
// if the process exits before cond holds.
func (p *Process) WaitFor(tb testing.TB, what string, timeout time.Duration, cond func() (ok bool, status string)) time.Duration {
	tb.Helper()
	return WaitFor(tb, what, timeout, func() (bool, string) {
		ok, status := cond()
		if !ok && p.Exited() {
			tb.Fatalf("%s exited (%v) while waiting for %s; last status: %s\noutput:\n%s",
				p.name, p.err, what, status, Tail(p.Output(), logTail))
		}
		return ok, status
	})
}

// WaitForLine waits up to timeout for a line of the process's output that
// contains every one of substrings, and reports whether one came. It stops
// waiting when the process exits.
func (p *Process) WaitForLine(timeout time.Duration, substrings ...string) bool {
	deadline := time.Now().Add(timeout)
	for {
		exited := p.Exited() // before reading: the output is complete then
		for line := range strings.Lines(p.Output()) {
			if containsAll(line, substrings) {
				return true
			}
		}
		if exited || time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// containsAll reports whether s contains every one of substrings.
func containsAll(s string, substrings []string) bool {
	for _, sub := range substrings {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
