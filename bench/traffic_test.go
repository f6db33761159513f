package bench

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/telemetry"
	"github.com/packet-exporter/packet-exporter/internal/testenv"
	"github.com/packet-exporter/packet-exporter/receiver"
)

// trafficRepeat is the number of frames per generator call: about a second
// of traffic on one CPU with an XDP_PASS receiver, so that the fixed cost of
// a live-frames call (~16 ms) stays small.
func trafficRepeat() uint32 {
	if *smoke {
		return 1 << 14
	}
	return 1 << 21
}

// Receiver set-ups of BenchmarkRealTraffic.
const (
	setupNone    = "none"    // no program on the receiving veth end (GRO on, so it accepts XDP frames)
	setupTrivial = "trivial" // the trivial XDP_PASS program, native mode
	setupPE      = "pe"      // packet-exporter's receiver, in process, native mode
)

// BenchmarkRealTraffic pushes real frames through a veth pair: an XDP
// live-frames generator on one CPU sends 64-byte IPv4/UDP frames out of end A,
// and end B receives them with no program, with the trivial program or with
// packet-exporter attached in native mode. The generator and the receiving
// NAPI poll run in turn on the same CPU (the poll runs when the generator's
// batch re-enables softirqs), so the rate is what one CPU sustains for the
// whole receive path: ns per packet = 1/pps. The three set-ups alternate in
// every iteration (their order rotates). With the trivial program and with
// packet-exporter, a second round runs with the kernel's BPF statistics on
// to read each program's own run time (Program.Stats; statistics add clock
// reads to every run, so only the difference means anything).
//
// Exactness, in the same run: frames sent (counted by the generator per CPU)
// must equal the frames packet-exporter counts on end B (from its metrics),
// end B's rx_packets and end A's tx_packets; packet-exporter's bytes must be
// 64 per frame.
func BenchmarkRealTraffic(b *testing.B) {
	testenv.RequireRoot(b)
	a, bns := testenv.NewNetns(b), testenv.NewNetns(b)
	pair := testenv.NewVethPair(b, a, bns, testenv.VethOptions{Queues: 2, Quiet: true})
	setGRO(b, bns, pair.NameB, true)
	gen := newGenerator(b, a, pair.IndexA, trafficFrame)
	var trivial TrivialObjects
	if err := LoadTrivialObjects(&trivial, nil); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { trivial.Close() })
	cpus := []int{runtime.NumCPU() - 1}

	pps := map[string]samples{}
	nsPerPkt := map[string]samples{}
	runNs := map[string]samples{}
	var lossPct, addedNs, runAddedNs samples
	var ex exactness
	setups := []string{setupNone, setupTrivial, setupPE}
	iteration := 0
	for b.Loop() {
		round := map[string]float64{}
		run := map[string]float64{}
		for k := range setups {
			setup := setups[(k+iteration)%len(setups)]
			var detach func()
			var pe *inProcessExporter
			switch setup {
			case setupTrivial:
				detach = attachXDP(b, bns, pair.IndexB, trivial.TrivialXdp)
			case setupPE:
				pe = startInProcess(b, bns, pair.NameB)
				detach = pe.stop
			default:
				detach = func() {}
			}
			before := trafficCounters{rxB: linkStats(b, bns, pair.NameB), txA: linkStats(b, a, pair.NameA)}
			sent, elapsed := gen.send(b, cpus, trafficRepeat(), time.Time{})
			after := trafficCounters{rxB: waitRxSettled(b, bns, pair.NameB), txA: linkStats(b, a, pair.NameA)}
			received := after.rxB.RxPackets - before.rxB.RxPackets
			round[setup] = float64(received) / elapsed.Seconds()
			pps[setup] = append(pps[setup], round[setup])
			nsPerPkt[setup] = append(nsPerPkt[setup], 1e9/round[setup])
			ex.addRound(b, setup, sent, before, after)
			sessionSent := sent

			if setup != setupNone {
				prog := xdpProgramOf(b, bns, pair.NameB)
				if prog == nil {
					b.Fatalf("%s: nothing attached to %s", setup, pair.NameB)
				}
				stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
				if err != nil {
					b.Fatalf("enable BPF statistics: %v", err)
				}
				runs0, time0 := programStats(b, prog)
				sent2, _ := gen.send(b, cpus, trafficRepeat(), time.Time{})
				after2 := trafficCounters{rxB: waitRxSettled(b, bns, pair.NameB), txA: linkStats(b, a, pair.NameA)}
				runs1, time1 := programStats(b, prog)
				stats.Close()
				if runs1-runs0 != sent2 {
					b.Errorf("%s: program ran %d times for %d frames sent", setup, runs1-runs0, sent2)
				}
				run[setup] = float64(time1-time0) / float64(runs1-runs0)
				runNs[setup] = append(runNs[setup], run[setup])
				ex.addRound(b, setup, sent2, after, after2)
				sessionSent += sent2
			}
			if pe != nil {
				ex.checkExporter(b, pe.counts(b), sessionSent, pair.NameB)
			}
			detach()
		}
		lossPct = append(lossPct, 100*(1-round[setupPE]/round[setupTrivial]))
		addedNs = append(addedNs, 1e9/round[setupPE]-1e9/round[setupTrivial])
		runAddedNs = append(runAddedNs, run[setupPE]-run[setupTrivial])
		iteration++
	}
	for _, s := range setups {
		report(b, pps[s], s+"-pps")
		report(b, nsPerPkt[s], s+"-ns/pkt")
		if s != setupNone {
			report(b, runNs[s], s+"-run-ns")
		}
	}
	report(b, lossPct, "pe-loss-vs-trivial-%")
	report(b, addedNs, "pe-added-ns/pkt")
	report(b, runAddedNs, "pe-run-added-ns")
	ex.report(b)
}

// trafficCounters are the kernel's counters of both veth ends.
type trafficCounters struct {
	rxB, txA netlink.LinkStatistics
}

// exactness accumulates, over every round, what was sent and what each
// counter saw.
type exactness struct {
	sent, rxB, txA, dropped uint64 // every round
	peSent, peRx            uint64 // rounds with packet-exporter attached, since its start
	peRxBytes               uint64
	peCounted               counted
	rounds, exactRounds     int
}

func (e *exactness) addRound(b *testing.B, setup string, sent uint64, before, after trafficCounters) {
	b.Helper()
	rx := after.rxB.RxPackets - before.rxB.RxPackets
	tx := after.txA.TxPackets - before.txA.TxPackets
	dropped := (after.txA.TxDropped - before.txA.TxDropped) + (after.rxB.RxDropped - before.rxB.RxDropped)
	e.sent += sent
	e.rxB += rx
	e.txA += tx
	e.dropped += dropped
	e.rounds++
	// B's rx_bytes counts whole frames when they arrive as XDP frames, as
	// here; frames that arrive as skbs count without their Ethernet header
	// (see the README). Either way it must account for every byte.
	rxBytes := after.rxB.RxBytes - before.rxB.RxBytes
	frameLen := uint64(len(trafficFrame))
	bytesOK := rxBytes == rx*frameLen || rxBytes == rx*(frameLen-14)
	if rx == sent && tx == sent && bytesOK {
		e.exactRounds++
	} else {
		b.Errorf("%s: sent %d frames of %d bytes, veth B rx_packets +%d rx_bytes +%d, veth A tx_packets +%d, dropped +%d",
			setup, sent, frameLen, rx, rxBytes, tx, dropped)
	}
	if setup == setupPE {
		e.peSent += sent
		e.peRx += rx
		e.peRxBytes += after.rxB.RxBytes - before.rxB.RxBytes
	}
}

// checkExporter compares what packet-exporter counted on iface since it
// started with the frames sent while it was attached.
func (e *exactness) checkExporter(b *testing.B, c counted, sent uint64, iface string) {
	b.Helper()
	if !c.attachedNative {
		b.Errorf("packet-exporter is not attached to %s in native mode", iface)
	}
	frameLen := uint64(len(trafficFrame))
	if c.packets != sent || c.bytes != sent*frameLen {
		b.Errorf("packet-exporter counted %d frames, %d bytes on %s; sent %d frames of %d bytes", c.packets, c.bytes, iface, sent, frameLen)
	}
	e.peCounted.packets += c.packets
	e.peCounted.bytes += c.bytes
}

func (e *exactness) report(b *testing.B) {
	b.ReportMetric(float64(e.sent), "sent-frames")
	b.ReportMetric(float64(e.rxB), "veth-rx-frames")
	b.ReportMetric(float64(e.txA), "veth-peer-tx-frames")
	b.ReportMetric(float64(e.dropped), "dropped-frames")
	b.ReportMetric(float64(e.exactRounds), "exact-rounds")
	b.ReportMetric(float64(e.rounds), "rounds")
	b.ReportMetric(float64(e.peSent), "pe-sent-frames")
	b.ReportMetric(float64(e.peCounted.packets), "pe-counted-frames")
	b.ReportMetric(float64(e.peCounted.bytes), "pe-counted-bytes")
	b.ReportMetric(float64(e.peRx), "pe-veth-rx-frames")
	b.ReportMetric(float64(e.peRxBytes), "pe-veth-rx-bytes")
}

// attachXDP attaches prog to the XDP hook of interface ifindex in ns, in
// native mode, and returns the function that detaches it.
func attachXDP(tb testing.TB, ns *testenv.Netns, ifindex int, prog *ebpf.Program) func() {
	tb.Helper()
	var l link.Link
	err := ns.Do(func() error {
		var err error
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: link.XDPDriverMode})
		return err
	})
	if err != nil {
		tb.Fatalf("attach xdp: %v", err)
	}
	return func() { l.Close() }
}

// inProcessExporter is packet-exporter's receiver with its metrics provider,
// counting one interface of a test namespace.
type inProcessExporter struct {
	recv     *receiver.Receiver
	provider *telemetry.Provider
}

func startInProcess(tb testing.TB, ns *testenv.Netns, iface string) *inProcessExporter {
	tb.Helper()
	cfg := config.Default()
	cfg.Interfaces.Include = []string{iface}
	cfg.XDP.Mode = config.XDPModeNative
	cfg.Limits.MaxInterfaces = 4
	recv, err := receiver.New(cfg, zap.NewNop(), receiver.WithNetns(ns.Handle))
	if err != nil {
		tb.Fatal(err)
	}
	provider, err := telemetry.New(telemetry.Options{Version: "bench", CardinalityLimit: 1000, Prometheus: true, Producer: recv.PacketSizeProducer})
	if err != nil {
		recv.Close()
		tb.Fatal(err)
	}
	e := &inProcessExporter{recv: recv, provider: provider}
	if _, err := recv.RegisterMetrics(provider.Meter("bench"), receiver.BuildInfo{Version: "bench"}); err != nil {
		e.stop()
		tb.Fatal(err)
	}
	if err := recv.Start(context.Background()); err != nil {
		e.stop()
		tb.Fatal(err)
	}
	if !recv.Ready() {
		e.stop()
		tb.Fatalf("packet-exporter is not ready (attached: %v)", recv.Attached())
	}
	return e
}

func (e *inProcessExporter) stop() {
	e.recv.Close()
	e.provider.Shutdown(context.Background())
}

// counts gathers the exporter's metrics and returns its receive counts of iface.
func (e *inProcessExporter) counts(tb testing.TB) counted {
	tb.Helper()
	families, err := e.provider.Registry.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	ifaces := e.recv.Attached()
	if len(ifaces) != 1 {
		tb.Fatalf("attached to %v, want one interface", ifaces)
	}
	return countsOf(families, ifaces[0], "receive")
}
