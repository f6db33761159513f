package bench

import (
	"flag"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/bench/stats"
	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/config"
	tf "github.com/packet-exporter/packet-exporter/internal/testing/testframe"
	"github.com/packet-exporter/packet-exporter/receiver"
)

// Flags of the suite (go test ./bench -args -pe.smoke ...).
var (
	// smoke runs every benchmark at a fraction of its size, so CI checks that
	// each one works (exactness included) in a minute or two; the numbers are
	// not meant to be read.
	smoke = flag.Bool("pe.smoke", false, "run each benchmark at a small size (CI): checks that it works, measures nothing useful")
	// loadDuration is the length of each phase of BenchmarkUserSpaceLoad.
	loadDuration = flag.Duration("pe.load-duration", 45*time.Second, "duration of each phase (idle, maximal traffic) of the user-space load benchmark")
)

// kernelRepeat is how many runs the kernel times per BPF_PROG_TEST_RUN call.
func kernelRepeat() int {
	if *smoke {
		return 1 << 12
	}
	return 1 << 20 // >= 1M, as the issue asks
}

// benchIterations is N of -test.benchtime=Nx (10 when the flag gives a
// duration): the iterations of a benchmark that collects its samples itself
// before it reports them per sub-benchmark.
func benchIterations() int {
	if f := flag.Lookup("test.benchtime"); f != nil {
		if v, ok := strings.CutSuffix(f.Value.String(), "x"); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return n
			}
		}
	}
	return 10
}

// benchFrames are the frames of the per-packet cost benchmarks.
var benchFrames = []struct {
	name  string
	frame tf.Frame
}{
	{"ipv4-udp-64B", tf.Frame{IPv4: &tf.IPv4{}, UDP: &tf.UDP{SrcPort: 40000, DstPort: 53}, Length: 64}},
	{"ipv4-tcp-1500B", tf.Frame{IPv4: &tf.IPv4{}, TCP: &tf.TCP{SrcPort: 40000, DstPort: 80, Flags: 0x10}, Length: 1500}},
	{"vlan-ipv6-3ext-udp", tf.Frame{
		VLANs: []tf.VLAN{{TPID: 0x8100, ID: 100}},
		IPv6:  &tf.IPv6{Ext: []tf.IPv6Ext{{Type: 0, Len: 8}, {Type: 44}, {Type: 60, Len: 16}}},
		UDP:   &tf.UDP{SrcPort: 40000, DstPort: 53}, Payload: []byte("packet-exporter"),
	}},
	{"qinq-ipv4-udp-64B", tf.Frame{
		VLANs: []tf.VLAN{{TPID: 0x88a8, ID: 10}, {TPID: 0x8100, ID: 100}},
		IPv4:  &tf.IPv4{}, UDP: &tf.UDP{SrcPort: 40000, DstPort: 53}, Length: 64,
	}},
	{"ipv4-tcp-64B", tf.Frame{IPv4: &tf.IPv4{}, TCP: &tf.TCP{SrcPort: 40000, DstPort: 80, Flags: 0x10}, Length: 64}},
	// Tunnel frames (on the default ports) carrying a 64-byte IPv4/TCP frame.
	{"vxlan-ipv4-tcp", tf.Frame{IPv4: &tf.IPv4{}, UDP: &tf.UDP{SrcPort: 40000, DstPort: 4789},
		Payload: tf.VXLAN(tf.VXLANFlagVNI, 42, tf.MustBuild(innerTCP))}},
	{"geneve-ipv4-tcp", tf.Frame{IPv4: &tf.IPv4{}, UDP: &tf.UDP{SrcPort: 40000, DstPort: 6081},
		Payload: tf.Geneve{Protocol: tf.EtherTypeTEB, VNI: 42}.Encapsulate(tf.MustBuild(innerTCP))}},
}

// innerTCP is the frame the tunnel frames of benchFrames carry.
var innerTCP = tf.Frame{IPv4: &tf.IPv4{}, TCP: &tf.TCP{SrcPort: 40000, DstPort: 80, Flags: 0x10}, Length: 64}

// tunnelsOn is the product's default tunnel parse (tunnels.enabled), for
// productPrograms.
var tunnelsOn = bpf.WithTunnels(receiver.TunnelOptions(config.Default().Tunnels))

// productPrograms loads packet-exporter's programs as its receiver does:
// maps for slots interfaces (with opts), interface ifindex mapped to slot 0.
// It returns the maps, closed when the benchmark ends, the XDP program and
// the tc program counting direction d.
func productPrograms(tb testing.TB, slots, ifindex int, d bpf.Direction, opts ...bpf.MapsOption) (maps *bpf.Maps, xdp, tc *ebpf.Program) {
	tb.Helper()
	maps, err := bpf.NewMaps(slots, bpf.EventOptions{}, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { maps.Close() })
	if err := maps.MapInterface(ifindex, 0); err != nil {
		tb.Fatal(err)
	}
	if xdp, err = maps.XDP(); err != nil {
		tb.Fatal(err)
	}
	if tc, err = maps.TC(d); err != nil {
		tb.Fatal(err)
	}
	return maps, xdp, tc
}

// pinToCPU locks the calling goroutine to its OS thread and that thread to
// cpu, until the benchmark ends.
func pinToCPU(tb testing.TB, cpu int) {
	tb.Helper()
	runtime.LockOSThread()
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		tb.Fatalf("get cpu affinity: %v", err)
	}
	tb.Cleanup(func() {
		unix.SchedSetaffinity(0, &all)
		runtime.UnlockOSThread()
	})
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		tb.Fatalf("pin to cpu %d: %v", cpu, err)
	}
}

// withThreadOnCPU runs fn with the calling thread (already locked by the
// caller, e.g. inside testenv.Netns.Do) bound to cpu, and restores the
// thread's affinity afterwards.
func withThreadOnCPU(cpu int, fn func() error) error {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		return fmt.Errorf("get cpu affinity: %w", err)
	}
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin to cpu %d: %w", cpu, err)
	}
	defer unix.SchedSetaffinity(0, &all)
	return fn()
}

// runCost returns the kernel's mean run time of prog on frame, in ns per run.
func runCost(tb testing.TB, prog *ebpf.Program, frame []byte) float64 {
	tb.Helper()
	_, d, err := prog.Benchmark(frame, kernelRepeat(), func() { interruptsOf(prog).Add(1) })
	if err != nil {
		tb.Fatal(err)
	}
	return float64(d) / float64(time.Nanosecond)
}

// interrupted counts, per program, the runCost calls a signal interrupted.
// cilium/ebpf runs an interrupted BPF_PROG_TEST_RUN again from the start, so
// the program ran up to kernelRepeat() times more than the calls say: what
// it wrote (event records) must be checked against that.
var interrupted sync.Map // *ebpf.Program -> *atomic.Int64

func interruptsOf(prog *ebpf.Program) *atomic.Int64 {
	n, _ := interrupted.LoadOrStore(prog, new(atomic.Int64))
	return n.(*atomic.Int64)
}

// samples are repeated measurements of one quantity.
type samples = stats.Samples

// report reports the median of s under unit and its spread under
// "spread-"+unit; report/ reads both back by those names.
func report(b *testing.B, s samples, unit string) {
	b.Helper()
	s.Report(b, unit)
}

// figures are samples by unit, reported together.
type figures map[string]samples

// add appends v to the samples of unit.
func (f figures) add(unit string, v float64) { f[unit] = append(f[unit], v) }

// report reports the samples of every unit (see report).
func (f figures) report(b *testing.B) {
	b.Helper()
	for _, unit := range slices.Sorted(maps.Keys(f)) {
		report(b, f[unit], unit)
	}
}

// reportCounts reports each count under its unit.
func reportCounts(b *testing.B, counts map[string]uint64) {
	b.Helper()
	for unit, n := range counts {
		b.ReportMetric(float64(n), unit)
	}
}
