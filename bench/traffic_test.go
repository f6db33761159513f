package bench

import (
	"context"
	"maps"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/telemetry"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
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
	setupNone       = "none"        // no program on the receiving veth end (GRO on, so it accepts XDP frames)
	setupTrivial    = "trivial"     // the trivial XDP_PASS program, native mode
	setupPE         = "pe"          // packet-exporter's receiver, in process, ingress.hook xdp, native mode
	setupTrivialTCX = "trivial-tcx" // the trivial TCX_NEXT program at tcx ingress
	setupPETCX      = "pe-tcx"      // packet-exporter's receiver, in process, ingress.hook tcx
	setupPerIf      = "perif"       // the instance-per-interface design (PerInterface), XDP native
	setupPerIfTCX   = "perif-tcx"   // the same at tcx ingress
)

// realTrafficSetups are BenchmarkRealTraffic's set-ups; each packet-exporter
// set-up is compared with the trivial program of its hook.
var realTrafficSetups = []struct {
	name    string
	tcx     bool   // the program runs at tcx ingress, not XDP
	exp     bool   // packet-exporter's receiver
	trivial string // the baseline of an exporter or per-interface set-up
}{
	{name: setupNone},
	{name: setupTrivial},
	{name: setupPE, exp: true, trivial: setupTrivial},
	{name: setupPerIf, trivial: setupTrivial},
	{name: setupTrivialTCX, tcx: true},
	{name: setupPETCX, tcx: true, exp: true, trivial: setupTrivialTCX},
	{name: setupPerIfTCX, tcx: true, trivial: setupTrivialTCX},
}

// BenchmarkRealTraffic pushes real frames through a veth pair: an XDP
// live-frames generator on one CPU sends 64-byte IPv4/UDP frames out of end A,
// and end B receives them with no program, with the trivial XDP program, with
// packet-exporter counting through XDP in native mode (ingress.hook xdp), with
// the trivial tcx program at tcx ingress, or with packet-exporter counting
// through tcx ingress (ingress.hook tcx); and, to compare live, with the
// design one program for every interface replaced (an instance per
// interface, its counter block a constant: PerInterface) at either hook. End B has GRO on throughout: a veth
// end accepts frames redirected to it by XDP only with NAPI on, which it turns
// on for an XDP program or for GRO, so without GRO the set-ups with no XDP
// program would lose every frame before any hook. The frames reach tcx
// ingress as socket buffers built by B's NAPI poll. The generator and that
// poll run in turn on the same CPU (the poll runs when the generator's batch
// re-enables softirqs), so the rate is what one CPU sustains for the whole
// receive path: ns per packet = 1/pps. The set-ups alternate in every
// iteration (their order rotates). Then, in each iteration, the programs'
// own run times (Program.Stats, with the kernel's BPF statistics on, which
// add clock reads to every run, so only the difference means anything): the
// programs of each hook, packet-exporter's loaded as its receiver loads them,
// take turns in short rounds (runTimeGroup.measure).
//
// Exactness, in the same run: frames sent (counted by the generator per CPU)
// must equal the frames packet-exporter counts on end B (from its metrics),
// end B's rx_packets and end A's tx_packets; packet-exporter's bytes must be
// 64 per frame, through either hook.
func BenchmarkRealTraffic(b *testing.B) {
	testenv.RequireRoot(b)
	a, bns, pair := testenv.NewNetnsPair(b, testenv.VethOptions{Queues: 2, Quiet: true})
	setGRO(b, bns, pair.NameB, true)
	gen := newGenerator(b, a, pair.IndexA, trafficFrame)
	var trivial TrivialObjects
	if err := LoadTrivialObjects(&trivial, nil); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { trivial.Close() })
	var perIf PerInterfaceObjects
	if err := LoadPerInterfaceObjects(&perIf, nil); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { perIf.Close() })
	// The product's programs as the receiver loads them (its default
	// limits, end B mapped to a slot), for the run-time rounds.
	_, peXDP, peTC := productPrograms(b, config.Default().Limits.MaxInterfaces, pair.IndexB, bpf.Receive)
	runTimed := []runTimeGroup{
		{attach: attachXDP, programs: map[string]*ebpf.Program{
			setupTrivial: trivial.TrivialXdp, setupPE: peXDP, setupPerIf: perIf.PeCountXdp}},
		{attach: attachTCXIngress, programs: map[string]*ebpf.Program{
			setupTrivialTCX: trivial.TrivialTc, setupPETCX: peTC, setupPerIfTCX: perIf.PeCountTc}},
	}
	cpus := []int{runtime.NumCPU() - 1}

	pps := map[string]samples{}
	nsPerPkt := map[string]samples{}
	runNs := map[string]samples{}
	lossPct := map[string]samples{}
	addedNs := map[string]samples{}
	runAddedNs := map[string]samples{}
	ex := exactness{pe: map[string]*exporterExactness{}}
	iteration := 0
	for b.Loop() {
		round := map[string]float64{}
		run := map[string]float64{}
		for k := range realTrafficSetups {
			setup := realTrafficSetups[(k+iteration)%len(realTrafficSetups)]
			var detach func()
			var pe *inProcessExporter
			switch setup.name {
			case setupTrivial:
				detach = attachXDP(b, bns, pair.IndexB, trivial.TrivialXdp)
			case setupTrivialTCX:
				detach = attachTCXIngress(b, bns, pair.IndexB, trivial.TrivialTc)
			case setupPerIf:
				detach = attachXDP(b, bns, pair.IndexB, perIf.PeCountXdp)
			case setupPerIfTCX:
				detach = attachTCXIngress(b, bns, pair.IndexB, perIf.PeCountTc)
			case setupPE:
				pe = startInProcess(b, bns, pair.NameB, config.HookXDP)
				detach = pe.stop
			case setupPETCX:
				pe = startInProcess(b, bns, pair.NameB, config.HookTCX)
				detach = pe.stop
			default:
				testenv.AssertNothingAttached(b, bns, pair.NameB)
				detach = func() {}
			}
			before := trafficCounters{rxB: linkStats(b, bns, pair.NameB), txA: linkStats(b, a, pair.NameA)}
			sent, elapsed := gen.send(b, cpus, trafficRepeat(), time.Time{})
			after := trafficCounters{rxB: waitRxSettled(b, bns, pair.NameB), txA: linkStats(b, a, pair.NameA)}
			received := after.rxB.RxPackets - before.rxB.RxPackets
			round[setup.name] = float64(received) / elapsed.Seconds()
			pps[setup.name] = append(pps[setup.name], round[setup.name])
			nsPerPkt[setup.name] = append(nsPerPkt[setup.name], 1e9/round[setup.name])
			ex.addRound(b, setup.name, sent, before, after)
			if pe != nil {
				want := "xdp-native"
				if setup.tcx {
					want = "tcx"
				}
				ex.checkExporter(b, setup.name, pe.counts(b), sent, pair.NameB, want)
			}
			detach()
		}
		for _, g := range runTimed {
			for name, ns := range g.measure(b, gen, cpus, a, bns, pair, iteration, &ex) {
				run[name] = ns
				runNs[name] = append(runNs[name], ns)
			}
		}
		for _, s := range realTrafficSetups {
			if s.trivial == "" {
				continue
			}
			lossPct[s.name] = append(lossPct[s.name], 100*(1-round[s.name]/round[s.trivial]))
			addedNs[s.name] = append(addedNs[s.name], 1e9/round[s.name]-1e9/round[s.trivial])
			runAddedNs[s.name] = append(runAddedNs[s.name], run[s.name]-run[s.trivial])
		}
		iteration++
	}
	for _, s := range realTrafficSetups {
		report(b, pps[s.name], s.name+"-pps")
		report(b, nsPerPkt[s.name], s.name+"-ns/pkt")
		if s.name != setupNone {
			report(b, runNs[s.name], s.name+"-run-ns")
		}
		if s.trivial != "" {
			report(b, lossPct[s.name], s.name+"-loss-vs-trivial-%")
			report(b, addedNs[s.name], s.name+"-added-ns/pkt")
			report(b, runAddedNs[s.name], s.name+"-run-added-ns")
		}
	}
	ex.report(b)
}

// runTimeRounds is how many times each program of a run-time group runs in
// turn with the others, per iteration.
const runTimeRounds = 4

// runTimeGroup is the programs of one hook whose run times are compared: a
// trivial program, packet-exporter's and the instance per interface, by
// set-up name.
type runTimeGroup struct {
	attach   func(testing.TB, *testenv.Netns, int, *ebpf.Program) func()
	programs map[string]*ebpf.Program
}

// measure returns the kernel's mean run time of each program of g, in ns,
// on live traffic into end B of pair (in bns; end A in a). With the kernel's BPF
// statistics on throughout, the programs take turns in short rounds
// (runTimeRounds each, the order rotating with iteration), so that a slow
// phase of the machine falls on all of them alike: compared a set-up apart
// (seconds), the difference between two programs swung by more than its own
// size. Every round's frames are checked like the throughput rounds'.
func (g runTimeGroup) measure(b *testing.B, gen *generator, cpus []int, a, bns *testenv.Netns, pair *testenv.VethPair, iteration int, ex *exactness) map[string]float64 {
	b.Helper()
	names := slices.Sorted(maps.Keys(g.programs))
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enable BPF statistics: %v", err)
	}
	defer stats.Close()
	runs, spent := map[string]uint64{}, map[string]time.Duration{}
	for round := range runTimeRounds {
		for k := range names {
			name := names[(k+round+iteration)%len(names)]
			prog := g.programs[name]
			detach := g.attach(b, bns, pair.IndexB, prog)
			before := trafficCounters{rxB: linkStats(b, bns, pair.NameB), txA: linkStats(b, a, pair.NameA)}
			runs0, time0 := programStats(b, prog)
			sent, _ := gen.send(b, cpus, trafficRepeat()/runTimeRounds, time.Time{})
			after := trafficCounters{rxB: waitRxSettled(b, bns, pair.NameB), txA: linkStats(b, a, pair.NameA)}
			runs1, time1 := programStats(b, prog)
			detach()
			if runs1-runs0 != sent {
				b.Errorf("%s: program ran %d times for %d frames sent", name, runs1-runs0, sent)
			}
			ex.addRound(b, name+"-run-time", sent, before, after)
			runs[name] += runs1 - runs0
			spent[name] += time1 - time0
		}
	}
	mean := map[string]float64{}
	for _, name := range names {
		mean[name] = float64(spent[name]) / float64(runs[name])
	}
	return mean
}

// trafficCounters are the kernel's counters of both veth ends.
type trafficCounters struct {
	rxB, txA netlink.LinkStatistics
}

// exactness accumulates, over every round, what was sent and what each
// counter saw.
type exactness struct {
	sent, rxB, txA, dropped uint64 // every round
	rounds, exactRounds     int
	pe                      map[string]*exporterExactness // by packet-exporter set-up
}

// exporterExactness is what was sent and counted in the rounds of one
// packet-exporter set-up, since each start of the exporter.
type exporterExactness struct {
	sent, rx, rxBytes uint64
	counted           counted
}

// exporter returns the accumulator of set-up setup.
func (e *exactness) exporter(setup string) *exporterExactness {
	x := e.pe[setup]
	if x == nil {
		x = &exporterExactness{}
		e.pe[setup] = x
	}
	return x
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
	if setup == setupPE || setup == setupPETCX {
		x := e.exporter(setup)
		x.sent += sent
		x.rx += rx
		x.rxBytes += rxBytes
	}
}

// checkExporter compares what packet-exporter counted on iface since it
// started, in set-up setup, with the frames sent while it was attached, and
// its receive attachment with want ("xdp-native", "tcx").
func (e *exactness) checkExporter(b *testing.B, setup string, c counted, sent uint64, iface, want string) {
	b.Helper()
	if got := c.attachment(); got != want {
		b.Errorf("%s: packet-exporter counts %s through %s, want %s", setup, iface, got, want)
	}
	frameLen := uint64(len(trafficFrame))
	if c.packets != sent || c.bytes != sent*frameLen {
		b.Errorf("%s: packet-exporter counted %d frames, %d bytes on %s; sent %d frames of %d bytes", setup, c.packets, c.bytes, iface, sent, frameLen)
	}
	x := e.exporter(setup)
	x.counted.packets += c.packets
	x.counted.bytes += c.bytes
}

func (e *exactness) report(b *testing.B) {
	reportCounts(b, map[string]uint64{
		"sent-frames": e.sent, "veth-rx-frames": e.rxB, "veth-peer-tx-frames": e.txA, "dropped-frames": e.dropped,
		"exact-rounds": uint64(e.exactRounds), "rounds": uint64(e.rounds),
	})
	for setup, x := range e.pe {
		reportCounts(b, map[string]uint64{
			setup + "-sent-frames": x.sent, setup + "-counted-frames": x.counted.packets, setup + "-counted-bytes": x.counted.bytes,
			setup + "-veth-rx-frames": x.rx, setup + "-veth-rx-bytes": x.rxBytes,
		})
	}
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

// attachTCXIngress attaches prog at tcx ingress of interface ifindex in ns
// and returns the function that detaches it.
func attachTCXIngress(tb testing.TB, ns *testenv.Netns, ifindex int, prog *ebpf.Program) func() {
	tb.Helper()
	var l link.Link
	err := ns.Do(func() error {
		var err error
		l, err = link.AttachTCX(link.TCXOptions{Program: prog, Interface: ifindex, Attach: ebpf.AttachTCXIngress})
		return err
	})
	if err != nil {
		tb.Fatalf("attach tcx ingress: %v", err)
	}
	return func() { l.Close() }
}

// inProcessExporter is packet-exporter's receiver with its metrics provider,
// counting one interface of a test namespace.
type inProcessExporter struct {
	recv     *receiver.Receiver
	provider *telemetry.Provider
}

// startInProcess starts packet-exporter's receiver in ns, counting iface
// with ingress.hook hook (config.HookXDP or HookTCX; XDP in
// native mode), then configure changes the configuration. The drop counter
// is off unless configure turns it on: the frames of these benchmarks are
// addressed to another MAC, so the stack drops every one of them after the
// hook, and the drop program's cost is measured on its own
// (BenchmarkDrops).
func startInProcess(tb testing.TB, ns *testenv.Netns, iface, hook string, configure ...func(*config.Config)) *inProcessExporter {
	tb.Helper()
	cfg := config.Default()
	cfg.Interfaces.Include = []string{iface}
	cfg.Ingress.Hook = hook
	cfg.XDP.Mode = config.XDPModeNative
	cfg.Limits.MaxInterfaces = 4
	cfg.Drops.Enabled = false
	for _, c := range configure {
		c(&cfg)
	}
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
