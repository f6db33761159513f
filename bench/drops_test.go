package bench

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
)

// BenchmarkDrops measures what counting the kernel's drops costs, on
// BenchmarkRealTraffic's set-up: the generator sends 64-byte IPv4/UDP frames
// out of veth end A on one CPU, addressed to another MAC than B's, so that B's
// stack drops every one of them (reason otherhost) right after tcx ingress.
// Each iteration runs packet-exporter's receiver counting B through tcx
// ingress with drops.enabled false, then true (the order alternates), each
// with one round with the kernel's BPF statistics on:
//
//   - drops-off-run-ns, drops-on-run-ns and drops-on-minus-off-run-ns: the
//     counting program's run time per run, which the drop counter must leave
//     unchanged;
//   - drop-program-ns: the drop program's run time per dropped packet (per
//     run: it also runs, and returns at once, for drops in other network
//     namespaces, a handful next to the frames);
//   - drops-off-ns/pkt, drops-on-ns/pkt and drops-added-ns/pkt: the whole
//     receive path per frame (1 / rate; the generator and B's NAPI poll share
//     the CPU), the highest drop rate this machine produces;
//   - exactness, every round with drops on: the drops packet-exporter counts
//     on B (otherhost, ipv4, udp) equal the frames sent and B's rx_packets
//     (drop-exact-rounds of drop-rounds), or the benchmark fails.
func BenchmarkDrops(b *testing.B) {
	testenv.RequireRoot(b)
	a, bns, pair := testenv.NewNetnsPair(b, testenv.VethOptions{Queues: 2, Quiet: true})
	setGRO(b, bns, pair.NameB, true)
	gen := newGenerator(b, a, pair.IndexA, trafficFrame)
	cpus := []int{runtime.NumCPU() - 1}

	f := figures{}
	rounds, exact := 0, 0
	iteration := 0
	for b.Loop() {
		run := map[bool]float64{}
		pkt := map[bool]float64{}
		for k := range 2 {
			drops := (k+iteration)%2 == 1
			pe := startInProcess(b, bns, pair.NameB, config.HookTCX, func(c *config.Config) { c.Drops.Enabled = drops })
			prog := tcxIngressProgramOf(b, bns, pair.IndexB)
			var dropProg *ebpf.Program
			if drops {
				pe.waitDropsCounted(b)
				dropProg = heldProgramNamed(b, "pe_count_drop")
			}
			rx0 := linkStats(b, bns, pair.NameB)
			sent, elapsed := gen.send(b, cpus, trafficRepeat(), time.Time{})
			rx1 := waitRxSettled(b, bns, pair.NameB)
			pkt[drops] = elapsed.Seconds() * 1e9 / float64(rx1.RxPackets-rx0.RxPackets)

			stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
			if err != nil {
				b.Fatalf("enable BPF statistics: %v", err)
			}
			runs0, time0 := programStats(b, prog)
			var dropRuns0 uint64
			var dropTime0 time.Duration
			if dropProg != nil {
				dropRuns0, dropTime0 = programStats(b, dropProg)
			}
			sent2, _ := gen.send(b, cpus, trafficRepeat(), time.Time{})
			rx2 := waitRxSettled(b, bns, pair.NameB)
			runs1, time1 := programStats(b, prog)
			if dropProg != nil {
				dropRuns1, dropTime1 := programStats(b, dropProg)
				// It runs for the drops of every namespace: a few more runs
				// than frames (the host's own drops) are expected.
				if dropRuns1-dropRuns0 < sent2 {
					b.Errorf("drop program ran %d times for %d frames dropped", dropRuns1-dropRuns0, sent2)
				}
				f.add("drop-program-ns", float64(dropTime1-dropTime0)/float64(dropRuns1-dropRuns0))
				dropProg.Close()
			}
			stats.Close()
			run[drops] = float64(time1-time0) / float64(runs1-runs0)

			if drops {
				rounds++
				families, err := pe.provider.Registry.Gather()
				if err != nil {
					b.Fatal(err)
				}
				counted := dropsOf(families, pair.NameB, "otherhost", "ipv4", "udp")
				rx := rx2.RxPackets - rx0.RxPackets
				if counted == sent+sent2 && rx == sent+sent2 {
					exact++
				} else {
					b.Errorf("drops: %d frames sent, %d in B's rx_packets, %d counted as otherhost drops", sent+sent2, rx, counted)
				}
			}
			pe.stop()
		}
		f.add("drops-off-run-ns", run[false])
		f.add("drops-on-run-ns", run[true])
		f.add("drops-on-minus-off-run-ns", run[true]-run[false])
		f.add("drops-off-ns/pkt", pkt[false])
		f.add("drops-on-ns/pkt", pkt[true])
		f.add("drops-added-ns/pkt", pkt[true]-pkt[false])
		iteration++
	}
	f.report(b)
	b.ReportMetric(float64(rounds), "drop-rounds")
	b.ReportMetric(float64(exact), "drop-exact-rounds")
}

// waitDropsCounted waits until the exporter's drop counter, which starts
// beside the interfaces, counts (its feature drop_reasons is 1).
func (e *inProcessExporter) waitDropsCounted(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		families, err := e.provider.Registry.Gather()
		if err != nil {
			tb.Fatal(err)
		}
		for _, family := range families {
			if family.GetName() != "packet_exporter_kernel_features" {
				continue
			}
			for _, m := range family.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "feature" && l.GetValue() == "drop_reasons" && m.GetGauge().GetValue() == 1 {
						return
					}
				}
			}
		}
		if time.Now().After(deadline) {
			tb.Fatal("the drop counter does not count 10 s after the exporter started")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dropsOf returns the value of the drop series of iface, reason and class.
func dropsOf(families []*dto.MetricFamily, iface, reason, netType, transport string) uint64 {
	for _, family := range families {
		if family.GetName() != "packet_exporter_network_drops_total" {
			continue
		}
		for _, m := range family.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["network_interface_name"] == iface && labels["error_type"] == reason &&
				labels["network_type"] == netType && labels["network_transport"] == transport {
				return uint64(m.GetCounter().GetValue())
			}
		}
	}
	return 0
}

// heldProgramNamed opens the one program named name that this process
// holds (the in-process exporter's). The caller closes it before the next
// exporter starts: the descriptor keeps the program held by this process.
func heldProgramNamed(tb testing.TB, name string) *ebpf.Program {
	tb.Helper()
	var found *ebpf.Program
	for id := range newPEProgramSet().heldPrograms(tb, os.Getpid()) {
		if n, err := programName(id); err != nil || n != name {
			continue
		}
		if found != nil {
			tb.Fatalf("more than one program %s held", name)
		}
		var err error
		if found, err = ebpf.NewProgramFromID(id); err != nil {
			tb.Fatal(err)
		}
	}
	if found == nil {
		tb.Fatalf("no program %s held", name)
	}
	return found
}
