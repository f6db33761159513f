package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/testenv"
)

// Process is a program running inside a test namespace.
type Process struct {
	// Name names the process in messages.
	Name string

	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // of cmd.Wait, valid once done is closed
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// StartProcess starts argv inside ns (`ip netns exec NS argv...`, which execs
// the program, so the process is the program itself), with stdout and stderr
// collected and the environment of the tests less the variables that
// configure packet-exporter or OpenTelemetry SDKs (PE_*, OTEL_*), so that the
// configuration files the tests write are all there is. The test's cleanup
// kills the process if it still runs and, if the test failed, logs its output.
func StartProcess(tb testing.TB, ns *testenv.Netns, name string, argv ...string) *Process {
	tb.Helper()
	p := &Process{Name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns.Name}, argv...)...)
	p.cmd.Env = hermeticEnv()
	// If the test binary dies (e.g. killed by go test's timeout) before its
	// cleanup runs, the kernel kills the process too.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		if !p.Exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if tb.Failed() {
			tb.Logf("output of %s (%s):\n%s", name, strings.Join(argv, " "), p.Output())
		}
	})
	return p
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns what the process printed so far.
func (p *Process) Output() string { return p.out.String() }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return fmt.Errorf("%s already exited: %v", p.Name, p.err)
	}
	return p.cmd.Process.Signal(sig)
}

// Wait waits up to timeout for the process to exit. It returns whether it
// exited, and then its exit code (-1 if killed by a signal).
func (p *Process) Wait(timeout time.Duration) (exited bool, code int) {
	select {
	case <-p.done:
	case <-time.After(timeout):
		return false, 0
	}
	if p.err == nil {
		return true, 0
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return true, ee.ExitCode()
	}
	return true, -1
}

// Stop asks the process to end with SIGTERM, waits up to timeout, then kills
// it. It returns the exit code (-1 if it had to be killed or died of a signal).
func (p *Process) Stop(timeout time.Duration) int {
	if !p.Exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	if exited, code := p.Wait(timeout); exited {
		return code
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return -1
}

// hermeticEnv is the environment without PE_* and OTEL_* variables.
func hermeticEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PE_") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
