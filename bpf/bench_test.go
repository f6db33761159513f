package bpf_test

import (
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	tf "github.com/packet-exporter/packet-exporter/internal/testframe"
)

// benchRepeat is how many runs the kernel times per BPF_PROG_TEST_RUN call.
const benchRepeat = 1 << 20

var benchFrames = []struct {
	name  string
	frame tf.Frame
}{
	{"ipv4-udp-64B", tf.Frame{IPv4: &tf.IPv4{}, UDP: udpDNS, Length: 64}},
	{"ipv4-tcp-1500B", tf.Frame{IPv4: &tf.IPv4{}, TCP: tcpSYN, Length: 1500}},
	{"vlan-ipv6-ext-udp", tf.Frame{VLANs: []tf.VLAN{q(100)}, IPv6: &tf.IPv6{Ext: []tf.IPv6Ext{{Type: 0, Len: 8}, {Type: 44}, {Type: 60, Len: 16}}}, UDP: udpDNS, Payload: payload}},
	{"qinq-ipv4-udp", tf.Frame{VLANs: []tf.VLAN{ad(10), q(100)}, IPv4: &tf.IPv4{}, UDP: udpDNS, Length: 64}},
}

// trivialProgram returns a program of type typ that only returns verdict: the
// baseline whose cost is the test-run loop itself.
func trivialProgram(tb testing.TB, typ ebpf.ProgramType, verdict int32) *ebpf.Program {
	tb.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:    "pe_trivial",
		Type:    typ,
		License: "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, verdict),
			asm.Return(),
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { prog.Close() })
	return prog
}

// pinThread keeps the benchmark on one OS thread and one CPU.
func pinThread(tb testing.TB) {
	tb.Helper()
	runtime.LockOSThread()
	tb.Cleanup(runtime.UnlockOSThread)
	var set unix.CPUSet
	set.Set(0)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		tb.Fatalf("pin to cpu 0: %v", err)
	}
}

// BenchmarkKernelCost measures the counting programs against trivial programs
// of the same type, interleaved in every iteration so that both see the same
// machine state. It reports medians: ns per packet of each and the difference.
func BenchmarkKernelCost(b *testing.B) {
	f := newFixture(b)
	pinThread(b)
	programs := []struct {
		name             string
		trivial, counter *ebpf.Program
	}{
		{"xdp", trivialProgram(b, ebpf.XDP, 2), f.xdp},
		{"tc", trivialProgram(b, ebpf.SchedCLS, -1), f.tc},
	}
	for _, p := range programs {
		for _, fc := range benchFrames {
			frame := tf.MustBuild(fc.frame)
			b.Run(p.name+"/"+fc.name, func(b *testing.B) {
				var trivial, counter []float64
				for b.Loop() {
					trivial = append(trivial, runCost(b, p.trivial, frame))
					counter = append(counter, runCost(b, p.counter, frame))
				}
				t, c := median(trivial), median(counter)
				b.ReportMetric(t, "trivial-ns/pkt")
				b.ReportMetric(c, "counter-ns/pkt")
				b.ReportMetric(c-t, "added-ns/pkt")
			})
		}
	}
}

func runCost(b *testing.B, prog *ebpf.Program, frame []byte) float64 {
	b.Helper()
	_, d, err := prog.Benchmark(frame, benchRepeat, nil)
	if err != nil {
		b.Fatal(err)
	}
	return float64(d) / float64(time.Nanosecond)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
