package testexporter

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseLegacyNames(t *testing.T) {
	m, err := Parse(strings.NewReader(`# TYPE pe_packets_total counter
pe_packets_total{dir="receive",kind="udp"} 3
pe_packets_total{dir="receive",kind="tcp"} 4
pe_packets_total{dir="transmit",kind="udp"} 5
# TYPE pe_up gauge
pe_up 1
# TYPE pe_latency histogram
pe_latency_bucket{le="+Inf"} 2
pe_latency_sum 0.5
pe_latency_count 2
`))
	if err != nil {
		t.Fatal(err)
	}
	if sum, n := m.Sum("pe_packets_total", map[string]string{"dir": "receive"}); sum != 7 || n != 2 {
		t.Errorf("Sum(receive) = %v, %d; want 7, 2", sum, n)
	}
	if sum, n := m.Sum("pe_packets_total", map[string]string{"dir": "receive", "kind": "udp"}); sum != 3 || n != 1 {
		t.Errorf("Sum(receive, udp) = %v, %d; want 3, 1", sum, n)
	}
	if sum, n := m.Sum("pe_missing", nil); sum != 0 || n != 0 {
		t.Errorf("Sum(missing) = %v, %d; want 0, 0", sum, n)
	}
	if s := m.Samples("pe_up", nil); len(s) != 1 || s[0].Value != 1 || len(s[0].Labels) != 0 {
		t.Errorf("Samples(pe_up) = %+v", s)
	}
	if n := len(m.Samples("pe_latency", nil)); n != 0 {
		t.Errorf("Samples of a histogram: %d, want none", n)
	}
	if n := m.Series(); n != 5 {
		t.Errorf("Series() = %d, want 5", n)
	}

	// Names outside the legacy scheme fail the parse.
	for _, text := range []string{
		"{\"pe.packets\"} 1\n",
		"pe_packets{\"network.type\"=\"ipv4\"} 1\n",
	} {
		if _, err := Parse(strings.NewReader(text)); err == nil {
			t.Errorf("Parse(%q) accepted a name that is not a legacy Prometheus name", text)
		}
	}
}

func TestProcess(t *testing.T) {
	p := Start(t, Options{Name: "sh"}, "sh", "-c", "echo first line; echo error >&2; exit 3")
	if exited, code := p.Wait(10 * time.Second); !exited || code != 3 {
		t.Fatalf("Wait = %v, %d; want true, 3", exited, code)
	}
	if got := p.Output(); got != "first line\nerror\n" {
		t.Errorf("Output() = %q", got)
	}
	if p.Err() == nil {
		t.Errorf("Err() = nil after exit status 3")
	}
	if !p.WaitForLine(time.Second, "first", "line") || p.WaitForLine(time.Second, "first", "error") {
		t.Errorf("WaitForLine matched wrongly in %q", p.Output())
	}
	if err := p.Signal(syscall.SIGTERM); err == nil {
		t.Errorf("Signal after exit: no error")
	}

	sleeper := Start(t, Options{}, "sh", "-c", "echo ready; exec sleep 60")
	if !sleeper.WaitForLine(10*time.Second, "ready") {
		t.Fatalf("no ready line: %q", sleeper.Output())
	}
	if exited, _ := sleeper.Wait(10 * time.Millisecond); exited {
		t.Fatal("sleep exited at once")
	}
	if exited, code := sleeper.Stop(10 * time.Second); !exited || code != -1 {
		t.Errorf("Stop = %v, %d; want true, -1 (SIGTERM)", exited, code)
	}
}

func TestEnviron(t *testing.T) {
	t.Setenv("PE_TEST_VARIABLE", "1")
	t.Setenv("OTEL_TEST_VARIABLE", "1")
	t.Setenv("TESTEXPORTER_KEPT", "1")
	env := strings.Join(Environ(), "\n")
	if strings.Contains(env, "PE_TEST_VARIABLE") || strings.Contains(env, "OTEL_TEST_VARIABLE") || !strings.Contains(env, "TESTEXPORTER_KEPT=1") {
		t.Errorf("Environ() = %q", env)
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "testing", "testexporter", "doc.go")); err != nil {
		t.Errorf("RepoRoot() = %s: %v", root, err)
	}
}

func TestWaitFor(t *testing.T) {
	calls := 0
	WaitFor(t, "the third call", 10*time.Second, func() (bool, string) {
		calls++
		return calls == 3, "not yet"
	})
	if calls != 3 {
		t.Errorf("cond called %d times, want 3", calls)
	}
}

func TestTail(t *testing.T) {
	if got := Tail("abcdef", 3); got != "…def" {
		t.Errorf("Tail = %q", got)
	}
	if got := Tail("abc", 3); got != "abc" {
		t.Errorf("Tail = %q", got)
	}
}
