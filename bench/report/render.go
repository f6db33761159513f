package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Benchmark names as go test prints them, without the GOMAXPROCS suffix.
const (
	kernelBench  = "BenchmarkKernelCost/"
	originBench  = "BenchmarkKernelCost/original-" // the original design's phase, per frame
	trafficBench = "BenchmarkRealTraffic"
	tcpBench     = "BenchmarkTCPThroughput"
	eventsBench  = "BenchmarkEventStream"
	loadBench    = "BenchmarkUserSpaceLoad"
	collectBench = "BenchmarkCollect/"
	scrapeBench  = "BenchmarkScrape/"
	liveBench    = "BenchmarkLive/"
	startupBench = "BenchmarkStartup/"
	newIfBench   = "BenchmarkNewInterface"
	churnBench   = "BenchmarkChurn"
	dropsBench   = "BenchmarkDrops"
)

// The frames of the kernel benchmark, as named there, with their description.
var kernelFrames = []struct{ name, label string }{
	{"ipv4-udp-64B", "IPv4/UDP 64 B"},
	{"ipv4-tcp-1500B", "IPv4/TCP 1500 B"},
	{"vlan-ipv6-3ext-udp", "VLAN IPv6 + 3 extension headers / UDP"},
	{"qinq-ipv4-udp-64B", "802.1ad + 802.1Q IPv4/UDP 64 B"},
}

var scrapeSizes = []string{"100", "1000", "10000"}

var startupSizes = []string{"1", "10", "100", "1000"}

// The ring buffers of the event-stream benchmark, as its metrics name them,
// with their size in bytes.
var eventRings = []struct {
	label string
	bytes int
}{{"4MiB", 4 << 20}, {"1MiB", 1 << 20}}

func render(out io.Writer, r results, m machine, took time.Duration, benchtime string, loadDuration time.Duration) error {
	w := &reportWriter{w: out, r: r}
	w.printf("# packet-exporter benchmarks\n\n")
	w.printf("Written by `make bench` (`go run ./bench/report`); the suite took %s. Every figure is a median over\n", took.Round(time.Second))
	w.printf("repeated measurements of this run, ± its spread: the larger distance from the median to the ends of its\n")
	w.printf("distribution-free 95%% confidence interval (as benchstat), or to the minimum and maximum with fewer than 9\n")
	w.printf("samples. Each figure is measured next to its baseline, interleaved in the same run; never compare it with a\n")
	w.printf("number from another run. Iterations per benchmark: %s (the user-space load: one run of two %s s phases).\n\n", benchtime, strconv.FormatFloat(loadDuration.Seconds(), 'f', -1, 64))
	w.printf("| machine | |\n|---|---|\n")
	w.printf("| date | %s |\n", m.date.Format("2006-01-02 15:04 UTC"))
	w.printf("| CPU | %s, %d vCPUs |\n", m.cpu, m.cpus)
	w.printf("| memory | %s |\n", m.memory)
	w.printf("| kernel | %s |\n", m.kernel)
	if m.virt != "" {
		w.printf("| virtualisation | %s |\n", m.virt)
	}
	w.printf("| Go | %s |\n", m.goVersion)
	w.printf("| cilium/ebpf | %s |\n", m.ebpf)
	w.printf("| revision | %s |\n", m.revision)
	if m.load != "" {
		w.printf("| load average (1 min) | %s the suite (the suite itself keeps up to 2 CPUs busy) |\n", m.load)
	}
	w.printf("\n")

	w.goalTable()
	w.kernel()
	w.traffic()
	w.tcp()
	w.events()
	w.load(loadDuration)
	w.scrape()
	w.startup()
	w.drops()
	w.printf("## Reproduce\n\n")
	w.printf("As root on Linux 6.6 or later, with the toolchain of `go.mod`: `make bench` (writes this file; about 19 minutes on\n")
	w.printf("2 vCPUs; `BENCHTIME=20x`, `LOAD_DURATION=30s` tune it). `make bench-smoke` runs every benchmark once at a small size\n")
	w.printf("and writes nothing (CI). Single benchmarks: `go test -run '^$' -bench BenchmarkRealTraffic -benchtime 10x ./bench`,\n")
	w.printf("`go test -run '^$' -bench Scrape ./receiver`. The benchmarks create their own network namespaces and veth pairs;\n")
	w.printf("no traffic leaves them.\n")
	return w.err
}

// trafficExporters are the packet-exporter set-ups of the real-traffic
// benchmark, as its metrics name them, with the hook they count through.
var trafficExporters = []struct{ setup, hook string }{
	{"pe", "XDP native"},
	{"pe-tcx", "tcx ingress"},
}

func (w *reportWriter) kernel() {
	w.printf("## 1. Kernel cost per packet (`BenchmarkKernelCost`)\n\n")
	w.printf("`BPF_PROG_TEST_RUN` with 2^20 runs per call on a thread pinned to CPU 0; the kernel reports ns per run. Every\n")
	w.printf("program runs once per iteration, interleaved, and every frame in every iteration (a slow phase of this shared\n")
	w.printf("machine, which lasts minutes and slows every program, the trivial ones too, then falls on some iterations of\n")
	w.printf("every frame, not on all the iterations of one); the added cost is the median of the per-iteration differences\n")
	w.printf("against the trivial program of the same hook. After each call of a program with a reader (the event stream's,\n")
	w.printf("the original design's), the next program runs only once that reader has drained: its work on CPU 1 slowed\n")
	w.printf("the programs measured on CPU 0 while it went on, and not their trivial baselines, measured before it (earlier\n")
	w.printf("runs of this suite, which did not wait, put packet-exporter at +11 ns over the trivial program for XDP and +14\n")
	w.printf("for tc, about twice the figures below). The original design (one `bpf_perf_event_output` of a 24-byte\n")
	w.printf("record per packet, drained by a default cilium/ebpf perf reader on CPU 1, which is woken for every event)\n")
	w.printf("runs after all the others, in a phase of its own per frame, interleaved with the trivial program and\n")
	w.printf("packet-exporter's, in 3 iterations only (each of its calls takes ~7 s): its wake-up storm on CPU 1 left the\n")
	w.printf("event stream's reader disturbed for seconds, which doubled the stream's figure when they were interleaved\n")
	w.printf("(its ratios below use packet-exporter's figure from its own phase). *Event stream* is packet-exporter's\n")
	w.printf("program with `events.enabled`: a 56-byte record through a ring buffer without wake-ups, drained every 10 ms\n")
	w.printf("on CPU 1 by a reader like the receiver's (deadline, `ReadInto`, `DecodeEvent`). *N = 1* writes a record per\n")
	w.printf("packet into a 128 MiB ring (none is lost however the drain falls: a lost record is cheaper than a written\n")
	w.printf("one): *reader draining* as the product does, the reader running whenever its timer fires, during the call\n")
	w.printf("too; *reader idle* the same with the reader held off during the call (it drains between calls), the record's\n")
	w.printf("own cost. The test loop writes ~10 M records/s from one CPU, as fast as the reader reads them, so a reader\n")
	w.printf("that drains during the call tails the producer, and both pull the same cache lines (the records, the\n")
	w.printf("consumer position) across CPUs: its figure is bimodal here and changes from run to run and frame to frame\n")
	w.printf("(some runs all low, some all about twice as high). At real rates (section 4: under 2 M records/s per CPU)\n")
	w.printf("the reader catches up in a fraction of each 10 ms and idles the rest. *N = 100*\n")
	w.printf("writes one record per 100 packets (`events.sample_rate: 100`, the default 4 MiB ring, reader draining): the\n")
	w.printf("sampling countdown on every packet plus a hundredth of a record.\n\n")
	w.printf("XDP, ns per packet:\n\n")
	w.printf("| frame | trivial `XDP_PASS` | packet-exporter | event stream N = 1, reader draining | N = 1, reader idle | N = 100 | naive hash counter | original design |\n|---|---|---|---|---|---|---|---|\n")
	for _, f := range kernelFrames {
		n := kernelBench + f.name
		w.printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", f.label, w.cell(n, "xdp-trivial-ns/pkt", 1, false),
			w.cell(n, "xdp-pe-ns/pkt", 1, false), w.cell(n, "xdp-pe-events-ns/pkt", 1, false),
			w.cell(n, "xdp-pe-held-ns/pkt", 1, false), w.cell(n, "xdp-pe-sampled-ns/pkt", 1, false),
			w.cell(n, "xdp-naive-ns/pkt", 1, false), w.cell(originBench+f.name, "xdp-origin-ns/pkt", 1, false))
	}
	w.printf("\nAdded over the trivial program, ns per packet:\n\n")
	w.printf("| frame | **packet-exporter** | event stream N = 1, reader draining | N = 1, reader idle | N = 100 | naive hash counter | original design | original ÷ packet-exporter | original ÷ event stream N = 1 |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, f := range kernelFrames {
		n := kernelBench + f.name
		w.printf("| %s | **%s** | %s | %s | %s | %s | %s | %s× | %s× |\n", f.label, w.cell(n, "xdp-pe-added-ns/pkt", 1, true),
			w.cell(n, "xdp-pe-events-added-ns/pkt", 1, true), w.cell(n, "xdp-pe-held-added-ns/pkt", 1, true),
			w.cell(n, "xdp-pe-sampled-added-ns/pkt", 1, true),
			w.cell(n, "xdp-naive-added-ns/pkt", 1, true), w.cell(originBench+f.name, "xdp-origin-added-ns/pkt", 1, true),
			num(w.value(originBench+f.name, "origin/pe-added-x")),
			num(w.value(originBench+f.name, "xdp-origin-added-ns/pkt")/w.value(n, "xdp-pe-events-added-ns/pkt")))
	}
	w.printf("\ntc (packet-exporter's egress program, and its ingress program at tcx ingress), ns per packet:\n\n")
	w.printf("| frame | trivial `TCX_NEXT` | packet-exporter | **added** |\n|---|---|---|---|\n")
	for _, f := range kernelFrames {
		n := kernelBench + f.name
		w.printf("| %s | %s | %s | **%s** |\n", f.label, w.cell(n, "tc-trivial-ns/pkt", 1, false),
			w.cell(n, "tc-pe-ns/pkt", 1, false), w.cell(n, "tc-pe-added-ns/pkt", 1, true))
	}
	w.printf("\nOne program for every interface (issue 13), added over the trivial program of the hook, ns per packet. *Instance\n")
	w.printf("per interface* is the design it replaced, rebuilt from the same source (`bench/progs/perinterface.c`): the\n")
	w.printf("counter block a constant, no lookup, no run accounting. *One program* finds the interface's slot from its\n")
	w.printf("ifindex in a direct-mapped array (inlined by the verifier), as for every ifindex below 65536; *hash* is the\n")
	w.printf("same program with the slot in the hash map that ifindexes beyond the array use. *Difference* is one\n")
	w.printf("program minus the instance per interface, per iteration. *Linear* is the XDP program without multi-buffer\n")
	w.printf("support (the frame's length without a helper call): the kernel attaches it only where the MTU keeps frames in\n")
	w.printf("one buffer, and on a veth it then caps the peer's MTU at about a page: not used where the kernel has\n")
	w.printf("multi-buffer XDP (5.18).\n\n")
	w.printf("| frame | XDP: instance per interface | **one program** | hash | linear | difference | tc: instance per interface | **one program** | hash | difference |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, f := range kernelFrames {
		n := kernelBench + f.name
		w.printf("| %s | %s | **%s** | %s | %s | %s | %s | **%s** | %s | %s |\n", f.label,
			w.cell(n, "xdp-perif-added-ns/pkt", 1, true), w.cell(n, "xdp-pe-added-ns/pkt", 1, true),
			w.cell(n, "xdp-pe-hash-added-ns/pkt", 1, true), w.cell(n, "xdp-pe-linear-added-ns/pkt", 1, true),
			w.cell(n, "xdp-pe-vs-perif-ns/pkt", 1, true),
			w.cell(n, "tc-perif-added-ns/pkt", 1, true), w.cell(n, "tc-pe-added-ns/pkt", 1, true),
			w.cell(n, "tc-pe-hash-added-ns/pkt", 1, true), w.cell(n, "tc-pe-vs-perif-ns/pkt", 1, true))
	}
	var originLost, eventsLost, sampledLost, eventsRead, sampledRead float64
	for _, f := range kernelFrames {
		originLost += w.value(originBench+f.name, "origin-lost-events")
		eventsLost += w.value(kernelBench+f.name, "events-lost")
		sampledLost += w.value(kernelBench+f.name, "sampled-events-lost")
		eventsRead += w.value(kernelBench+f.name, "events-read")
		sampledRead += w.value(kernelBench+f.name, "sampled-events-read")
	}
	w.printf("\nEvents lost: original design %s, event stream %s at N = 1 (both readers: %s read) and %s at N = 100 (%s read: one per\n",
		integer(originLost), integer(eventsLost), integer(eventsRead), integer(sampledLost), integer(sampledRead))
	w.printf("100 runs, checked). A lost event is cheaper than a delivered one, so losses would flatter the figures.\n\n")
}

func (w *reportWriter) traffic() {
	n := trafficBench
	w.printf("## 2. Real traffic (`BenchmarkRealTraffic`)\n\n")
	w.printf("An XDP live-frames generator (`BPF_F_TEST_XDP_LIVE_FRAMES`, `XDP_TX`) on one CPU sends 64-byte IPv4/UDP frames\n")
	w.printf("out of veth end A; end B (2 queues) receives them with no program, with the trivial XDP program, with\n")
	w.printf("packet-exporter's receiver counting through XDP (in process, `ingress.hook: xdp`, native mode, egress on), with\n")
	w.printf("the trivial tcx program at tcx ingress, or with packet-exporter counting through tcx ingress (`ingress.hook: tcx`);\n")
	w.printf("and with the design one program for every interface replaced (an instance per interface, its counter block a\n")
	w.printf("constant, rebuilt from the same source) at either hook.\n")
	w.printf("B has GRO on throughout: a veth end accepts frames redirected to it by XDP only with NAPI on, which it turns on\n")
	w.printf("for an XDP program or for GRO, so without it the set-ups with no XDP program would lose every frame before any\n")
	w.printf("hook; the frames reach tcx ingress as socket buffers built by B's NAPI poll. The frames are addressed to another\n")
	w.printf("MAC, so the stack drops them right after the hook. The generator and B's NAPI poll take turns on the same CPU,\n")
	w.printf("so the rate is what one CPU sustains for the whole receive path (ns per packet = 1 / rate). The set-ups\n")
	w.printf("alternate in every iteration. The program run times (`Program.Stats`, with BPF statistics on, which add clock\n")
	w.printf("reads to every run: compare the differences only) come from rounds of their own in every iteration, where the\n")
	w.printf("programs of a hook (the trivial one, packet-exporter's as its receiver loads them, the instance per interface)\n")
	w.printf("take turns, four times each, so that a slow phase of the machine falls on all of them alike.\n\n")
	w.printf("| receiver | Mpps (one CPU) | ns per packet | program run time, ns per run |\n|---|---|---|---|\n")
	w.printf("| no program | %s | %s | – |\n", w.cell(n, "none-pps", 1e-6, false), w.cell(n, "none-ns/pkt", 1, false))
	row := func(label, setup string) {
		w.printf("| %s | %s | %s | %s |\n", label, w.cell(n, setup+"-pps", 1e-6, false), w.cell(n, setup+"-ns/pkt", 1, false), w.cell(n, setup+"-run-ns", 1, false))
	}
	diff := func(label, setup string) {
		w.printf("| **%s** | loss %s %% | %s | %s |\n", label, w.cell(n, setup+"-loss-vs-trivial-%", 1, false),
			w.cell(n, setup+"-added-ns/pkt", 1, true), w.cell(n, setup+"-run-added-ns", 1, true))
	}
	perIf := func(label, setup string) {
		if !math.IsNaN(w.value(n, setup+"-pps")) {
			row(label, setup)
			diff(label+" − trivial", setup)
		}
	}
	row("trivial `XDP_PASS`", "trivial")
	row("packet-exporter, XDP native", "pe")
	diff("packet-exporter − trivial, XDP", "pe")
	perIf("instance per interface (the design replaced), XDP native", "perif")
	if !math.IsNaN(w.value(n, "pe-tcx-pps")) {
		row("trivial `TCX_NEXT`, tcx ingress", "trivial-tcx")
		row("packet-exporter, tcx ingress", "pe-tcx")
		diff("packet-exporter − trivial, tcx", "pe-tcx")
		perIf("instance per interface (the design replaced), tcx ingress", "perif-tcx")
	}
	w.printf("\n")
	v := func(unit string) string { return integer(w.value(n, unit)) }
	w.printf("Exactness, same run: %s rounds, %s exact. Over all rounds %s frames sent (counted by the generator per CPU),\n",
		v("rounds"), v("exact-rounds"), v("sent-frames"))
	w.printf("%s in B's `rx_packets`, %s in A's `tx_packets`, %s dropped.\n", v("veth-rx-frames"), v("veth-peer-tx-frames"), v("dropped-frames"))
	for _, h := range trafficExporters {
		if math.IsNaN(w.value(n, h.setup+"-sent-frames")) {
			continue
		}
		w.printf("While packet-exporter counted through %s: %s frames sent, %s counted by packet-exporter\n",
			h.hook, v(h.setup+"-sent-frames"), v(h.setup+"-counted-frames"))
		w.printf("(%s bytes, 64 per frame), %s in B's `rx_packets` (%s `rx_bytes`).\n",
			v(h.setup+"-counted-bytes"), v(h.setup+"-veth-rx-frames"), v(h.setup+"-veth-rx-bytes"))
	}
	w.printf("Frames that arrive as XDP frames count in `rx_bytes` with their Ethernet header; the 14-byte difference the\n")
	w.printf("README notes is for skbs.\n\n")
}

// tcpConfigs are the set-ups of the TCP benchmark, as its metrics name
// them, with their description.
var tcpConfigs = []struct{ name, label string }{
	{"none", "no program (no exporter)"},
	{"default", "default configuration (no hook key set)"},
	{"xdp-native", "`ingress.hook: xdp`, `xdp.mode: native`"},
	{"xdp-generic", "`ingress.hook: xdp`, `xdp.mode: generic`"},
	{"tcx", "`ingress.hook: tcx`"},
}

// defaultHook names the receive hook the default configuration attached in
// the TCP benchmark, with in how many rounds: "tcx (10 of 10 rounds)".
func (w *reportWriter) defaultHook() string {
	const prefix, suffix = "default-hook-", "-rounds"
	var hooks []string
	for unit := range w.r[tcpBench] {
		if strings.HasPrefix(unit, prefix) && strings.HasSuffix(unit, suffix) {
			hooks = append(hooks, unit)
		}
	}
	if len(hooks) == 0 {
		return "–"
	}
	sort.Strings(hooks)
	var parts []string
	for _, unit := range hooks {
		hook := strings.Replace(strings.TrimSuffix(strings.TrimPrefix(unit, prefix), suffix), "-", " ", 1)
		parts = append(parts, fmt.Sprintf("%s (%s of %s rounds)", hook, integer(w.value(tcpBench, unit)), integer(w.value(tcpBench, "rounds"))))
	}
	return strings.Join(parts, ", ")
}

func (w *reportWriter) tcp() {
	n := tcpBench
	v := func(unit string) float64 { return w.value(n, unit) }
	w.printf("## 3. TCP throughput (`BenchmarkTCPThroughput`)\n\n")
	w.printf("What each ingress hook costs the host's own traffic. One TCP connection per round carries bulk data across a\n")
	w.printf("veth pair between two test namespaces (2 queues, offloads as the kernel sets them on veth: TSO, GSO and\n")
	w.printf("checksum offload on, GRO off, as on a container host): a Go sender in A, pinned to CPU 0, writes 1 MiB buffers\n")
	w.printf("for %s s, a Go receiver in B, pinned to the last CPU, reads them. The veth hands each packet to its peer on the\n",
		strconv.FormatFloat(v("round-s"), 'f', -1, 64))
	w.printf("sending CPU, so B's receive path, the hook included, runs on CPU 0 in the sender's context. B is counted by the\n")
	w.printf("real binary (a fresh process per round, ready before it starts) in each configuration below, or not at all. A\n")
	w.printf("pass runs each configuration once, the order rotating (%s rounds each in all); the ratio is the median over\n",
		strconv.FormatFloat(v("rounds"), 'f', -1, 64))
	w.printf("passes of the round's throughput over the no-program round's of the same pass. *CPU per Gbit* is the CPU time of the\n")
	w.printf("sender's and receiver's threads (`/proc/thread-self/schedstat`; this kernel has no IRQ time accounting, so it\n")
	w.printf("includes the softirq work done in their context, most of both network stacks here), of the `ksoftirqd` threads\n")
	w.printf("and of the exporter process, per gigabit of payload, and its median ratio to the no-program round's of the same\n")
	w.printf("pass: the work each configuration adds, which does not depend on how much CPU other processes leave the\n")
	w.printf("traffic, as the throughput does. *Whole machine* is the busy time of `/proc/stat` (user, nice, system, irq,\n")
	w.printf("softirq) per gigabit, whatever else ran on the machine included. *Counted ÷ payload* is what\n")
	w.printf("the exporter counted on B during the round (receive, ipv4/tcp bytes, frames with their headers) over the payload\n")
	w.printf("bytes read; the round fails if it is 0, and reports an error if it is below 1. Segments of %s payload bytes\n", integer(v("mss-bytes")))
	w.printf("(the sender's MSS) make frames of %s bytes with Ethernet, IPv4 and TCP headers (timestamps on): %.3f; each\n",
		integer(v("mss-bytes")+66), (v("mss-bytes")+66)/v("mss-bytes"))
	w.printf("retransmitted segment (`tcpi_total_retrans`, shown as a share of the payload) is received and counted again.\n\n")
	w.printf("| configuration | receive hook | **Gbit/s** | **ratio to no program** | CPU s per Gbit | CPU per Gbit ÷ no program's | whole machine, CPU s per Gbit | counted ÷ payload | retransmitted | TSO/GSO on A, GRO on B |\n|---|---|---|---|---|---|---|---|---|---|\n")
	rounds := v("rounds")
	onOff := func(k float64) string {
		switch {
		case math.IsNaN(k):
			return "–"
		case k == rounds:
			return "on"
		case k == 0:
			return "off"
		default:
			return fmt.Sprintf("on in %s of %s rounds", integer(k), integer(rounds))
		}
	}
	for _, c := range tcpConfigs {
		hook, ratio, cpuRatio, counted := "–", "1", "1", "–"
		switch c.name {
		case "none":
		case "default":
			hook = w.defaultHook()
		default:
			hook = strings.Replace(c.name, "-", " ", 1)
		}
		if c.name != "none" {
			ratio = w.cell(n, c.name+"-ratio", 1, false)
			cpuRatio = w.cell(n, c.name+"-cpu-ratio", 1, false)
			counted = w.cell(n, c.name+"-counted/payload", 1, false)
		}
		w.printf("| %s | %s | **%s** | **%s** | %s | %s | %s | %s | %s %% | %s / %s |\n", c.label, hook, w.cell(n, c.name+"-Gbit/s", 1, false), ratio,
			w.cell(n, c.name+"-cpu-s/Gbit", 1, false), cpuRatio, w.cell(n, c.name+"-machine-cpu-s/Gbit", 1, false), counted,
			w.cell(n, c.name+"-retrans-%", 1, false), onOff(v(c.name+"-sender-gso-rounds")), onOff(v(c.name+"-receiver-gro-rounds")))
	}
	w.printf("\nThe default configuration's cost: **%s %%** of the throughput without a program (the goal: at most 5 %%,\n",
		w.percent(n, "default-loss-%"))
	w.printf("aim 2 %%), counting through %s.", w.defaultHook())
	if v("xdp-native-sender-gso-rounds") == 0 && v("none-sender-gso-rounds") == rounds {
		w.printf(" A native XDP program on a veth end turns segmentation\n")
		w.printf("offload off on its peer (the kernel's `veth_xdp_set`), as the last column shows: the sender then hands the stack\n")
		w.printf("%s-byte frames instead of segments of up to 64 KiB, whatever the program does.\n", integer(v("mss-bytes")+66))
	} else {
		w.printf("\n")
	}
	w.printf("Generic XDP sees a segmentation-offload packet as one frame (the headers count once), tcx as its segments.\n\n")
}

// zeroLoss formats the highest rate without loss of ring label, in M/s: "≥"
// when every search lost nothing at the generator's full rate (the producer
// was the limit, not the stream).
func (w *reportWriter) zeroLoss(label string) string {
	v := func(unit string) float64 { return w.value(eventsBench, label+"-"+unit) }
	c := w.cell(eventsBench, label+"-zero-loss-events/s", 1e-6, false)
	if searches := v("searches"); !math.IsNaN(searches) && v("lossless-at-max") == searches {
		return "≥ " + c
	}
	return c
}

func (w *reportWriter) events() {
	n := eventsBench
	v := func(unit string) float64 { return w.value(n, unit) }
	w.printf("## 4. Event stream without loss (`BenchmarkEventStream`)\n\n")
	w.printf("The generator of section 2 runs on both CPUs and sends 64-byte IPv4/UDP frames out of veth end A; end B is\n")
	w.printf("counted by the real binary (XDP native mode) with `events.enabled` at sample rate 1 (a record per frame) and\n")
	w.printf("`flows.enabled`, the rest default: the reader drains the ring every 10 ms without wake-ups, decodes, and 5\n")
	w.printf("workers add the records to the flow table. Each CPU receives what it sends, so the programs, the exporter's\n")
	w.printf("reader and workers and the generator share the 2 CPUs. For each ring size (a fresh exporter per search, the\n")
	w.printf("order alternating) a search runs a 2 s window at the generator's full rate; if nothing is lost, that is the\n")
	w.printf("result (the producer is the limit; shown as ≥ when every search lost nothing there). Otherwise it bisects\n")
	w.printf("between 0 and that rate, 5 windows with\n")
	w.printf("the generator paced per CPU (`generator_paced`), and keeps the fastest window without loss. A paced generator\n")
	w.printf("still keeps its CPU busy, dropping the runs between two frames, so the reader competes for the CPUs at every\n")
	w.printf("rate as at the full rate: a conservative bound. Counts are the exporter's own metrics. A ring of R bytes holds\n")
	w.printf("R/64 records (56 bytes and an 8-byte header) between two drains. Every iteration also runs a window at the\n")
	w.printf("full rate with the stream off (the same exporter, `events.enabled: false`).\n\n")
	w.printf("| ring | records between two drains (÷ 10 ms) | **highest rate without loss** | full rate (records emitted) | full rate without loss | lowest rate with loss | exporter CPU per record, full rate |\n|---|---|---|---|---|---|---|\n")
	for _, r := range eventRings {
		l := r.label
		if math.IsNaN(v(l + "-searches")) {
			continue
		}
		first := "–"
		if !math.IsNaN(v(l + "-first-loss-events/s")) {
			first = w.cell(n, l+"-first-loss-events/s", 1e-6, false) + " M/s"
			if k := v(l + "-lossy-searches"); !math.IsNaN(k) {
				first += fmt.Sprintf(" (%s of %s searches)", integer(k), integer(v(l+"-searches")))
			}
		}
		lossless := fmt.Sprintf("%s of %s searches", integer(v(l+"-lossless-at-max")), integer(v(l+"-searches")))
		if v(l+"-lossless-at-max") > 0 {
			lossless += fmt.Sprintf(" (%s records, none lost)", integer(v(l+"-lossless-at-max-events")))
		}
		records := float64(r.bytes / 64)
		w.printf("| %s | %s (%s M/s) | **%s M/s** | %s M/s | %s | %s | %s ns |\n", strings.Replace(l, "MiB", " MiB", 1),
			integer(records), num(records/0.01/1e6), w.zeroLoss(l), w.cell(n, l+"-max-events/s", 1e-6, false),
			lossless, first, w.cell(n, l+"-cpu-ns/event", 1, false))
	}
	w.printf("\nWith the stream off, the generator's full rate is %s Mpps (frames counted exactly, no record written); with\n",
		w.cell(n, "off-max-frames/s", 1e-6, false))
	w.printf("it on (4 MiB), the full rate above. With both CPUs saturated, CPUs ÷ rate is the CPU time per packet: the\n")
	w.printf("stream at N = 1 adds **%s ns** per packet (the median of the per-iteration differences), kernel and user\n",
		w.cell(n, "on-added-cpu-ns/pkt", 1, true))
	w.printf("space together (the record, the reader, the decoding and the flow table).\n")
	w.printf("\nExactness, same run: %s windows, %s exact (frames sent = counted by packet-exporter = records emitted, and\n",
		integer(v("windows")), integer(v("exact-windows")))
	w.printf("delivered + lost = emitted once drained), %s with losses. Over all windows %s frames sent, %s counted, %s records\n",
		integer(v("lossy-windows")), integer(v("sent-frames")), integer(v("counted-frames")), integer(v("emitted-events")))
	w.printf("emitted, %s delivered, %s lost, %s invalid. The exporter's CPU time (all threads) includes its scrapes; with\n",
		integer(v("delivered-events")), integer(v("lost-events")), integer(v("invalid-events")))
	w.printf("losses, it is per record delivered.\n\n")
}

func (w *reportWriter) load(phase time.Duration) {
	n := loadBench
	w.printf("## 5. User space under load (`BenchmarkUserSpaceLoad`)\n\n")
	w.printf("The real binary (`go build` as the Makefile does) in a test namespace counts veth end B; `/metrics` is scraped\n")
	w.printf("every second through an idle phase, then a phase of maximal traffic (the generator on every CPU). CPU time is\n")
	w.printf("the exporter process's, all threads, user and system (`/proc/PID/task/*/schedstat`); the counting programs run\n")
	w.printf("in softirq context and are charged to the sending CPU's task, not to the exporter.\n\n")
	w.printf("| phase | duration | exporter CPU | share of one CPU | scrape latency | traffic |\n|---|---|---|---|---|---|\n")
	idle, busy := w.value(n, "idle-s"), w.value(n, "load-s")
	w.printf("| idle | %s s | %s s | %s %% | %s ms | – |\n", num(idle), num(w.value(n, "idle-cpu-s")),
		num(100*w.value(n, "idle-cpu-s")/idle), w.cell(n, "idle-scrape-ms", 1, false))
	w.printf("| maximal traffic | %s s | %s s | %s %% | %s ms | %s Mpps, %s frames |\n\n", num(busy), num(w.value(n, "load-cpu-s")),
		num(100*w.value(n, "load-cpu-s")/busy), w.cell(n, "load-scrape-ms", 1, false), num(w.value(n, "load-pps")/1e6),
		integer(w.value(n, "load-sent-frames")))
	w.printf("Peak RSS (VmHWM, whole life): %s MiB; RSS at the end: %s MiB. Scrapes: %s, failed: %s. Exactness: %s frames\n",
		num(w.value(n, "peak-rss-MiB")), num(w.value(n, "rss-MiB")), integer(w.value(n, "scrapes")), integer(w.value(n, "failed-scrapes")),
		integer(w.value(n, "load-sent-frames")))
	w.printf("sent, %s counted by the exporter, %s in the veth's `rx_packets`. Phase length: %s s (`LOAD_DURATION`).\n\n",
		integer(w.value(n, "load-counted-frames")), integer(w.value(n, "load-veth-rx-frames")), strconv.FormatFloat(phase.Seconds(), 'f', -1, 64))
}

func (w *reportWriter) scrape() {
	w.printf("## 6. Scrape cost (`BenchmarkCollect`, `BenchmarkScrape`, `BenchmarkLive` in receiver/)\n\n")
	w.printf("Synthetic interfaces behind a fake counter reader, everything else the production path: the receiver's\n")
	w.printf("callback and packet-size producer, the OpenTelemetry SDK, and for a scrape the Prometheus bridge, the server's\n")
	w.printf("handler and a loopback HTTP GET (gzip, as Prometheus asks). *Series* are `packet_exporter_network_packets_total`\n")
	w.printf("and `_io_bytes_total` series (56 per interface at most); *samples* are all lines of the exposition. Allocations\n")
	w.printf("are the whole process's per scrape. *Live view* is one GET of `/api/v1/live` (what an open page asks every\n")
	w.printf("second) taking turns with one GET `/metrics` of the same exporter, and its ratio to that paired scrape.\n\n")
	w.printf("| series | samples | body | collection (SDK only) | scrape | allocations per scrape | allocated per scrape | live view (÷ paired scrape) |\n|---|---|---|---|---|---|---|---|\n")
	for _, s := range scrapeSizes {
		c, sc, lv := collectBench+s+"-series", scrapeBench+s+"-series", liveBench+s+"-series"
		w.printf("| %s | %s | %s KiB | %s ms | **%s ms** | %s | %s MiB | %s ms (%s) |\n", integer(w.value(sc, "traffic-series")),
			integer(w.value(sc, "samples")), num(w.value(sc, "body-bytes")/1024), w.cell(c, "collect-ms", 1, false),
			w.cell(sc, "scrape-ms", 1, false), integer(w.value(sc, "allocs/op")), num(w.value(sc, "B/op")/(1<<20)),
			w.cell(lv, "live-ms", 1, false), num(w.value(lv, "live/scrape")))
	}
	w.printf("\n")
}

func (w *reportWriter) startup() {
	w.printf("## 7. Start-up and interfaces coming and going (`BenchmarkStartup`, `BenchmarkNewInterface`, `BenchmarkChurn`)\n\n")
	w.printf("The real binary, a fresh process per iteration, in a namespace with N veth ends (all selected, the default hooks,\n")
	w.printf("egress on): from `fork`/`exec` to the first answer of `/healthz`, and to `/readyz` answering 200 (every interface\n")
	w.printf("counted, its ingress and egress programs attached), the CPU the exporter used until then, the programs it had\n")
	w.printf("loaded; then from SIGTERM to exit (everything detached). *Instance per interface* is the exporter of revision\n")
	w.printf("%s (built from this repository's history), which loaded and verified each program once per interface,\n", "cc4bf78")
	w.printf("started in the same namespace in the same iterations (with 1000 interfaces in 3 of them).\n\n")
	w.printf("| interfaces | serving | **ready** | CPU to ready | programs loaded | SIGTERM to exit | instance per interface: ready | its CPU | its programs |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range startupSizes {
		n := startupBench + s + "-interfaces"
		w.printf("| %s | %s ms | **%s ms** | %s ms | %s | %s ms | %s ms | %s ms | %s |\n", s, w.cell(n, "serving-ms", 1, false), w.cell(n, "ready-ms", 1, false),
			w.cell(n, "ready-cpu-ms", 1, false), num(w.value(n, "programs-loaded")), w.cell(n, "stop-ms", 1, false),
			w.cell(n, "perif-ready-ms", 1, false), w.cell(n, "perif-ready-cpu-ms", 1, false), num(w.value(n, "perif-programs-loaded")))
	}
	w.printf("\n*A new interface* (`BenchmarkNewInterface`): an exporter counting a namespace; veth pairs are created one at a\n")
	w.printf("time, and the time from the creation's netlink answer until the kernel lists the exporter's programs at both\n")
	w.printf("tcx hooks of the new interface is measured (polled every 0.5 ms); the exporter's CPU per interface covers its\n")
	w.printf("creation and deletion. Counted after %s ms (median), %s ms of exporter CPU per interface.\n\n",
		w.cell(newIfBench, "new-interface-counted-ms", 1, false), num(w.value(newIfBench, "new-interface-cpu-ms")))
	w.printf("*Churn* (`BenchmarkChurn`): an exporter counting every interface of a namespace where 10 veth pairs are created\n")
	w.printf("and the previous 10 deleted every 100 ms, while UDP traffic flows on a fixed pair; see the goal row above.\n\n")
}

func (w *reportWriter) drops() {
	n := dropsBench
	if math.IsNaN(w.value(n, "drop-program-ns")) {
		return
	}
	w.printf("## 8. Kernel drops by reason (`BenchmarkDrops`)\n\n")
	w.printf("`BenchmarkRealTraffic`'s set-up, its 64-byte frames addressed to another MAC, so that veth end B's stack drops every\n")
	w.printf("one (reason `otherhost`) right after tcx ingress: packet-exporter's receiver counts B through tcx ingress with\n")
	w.printf("`drops.enabled` false and true in turn, each with a round with BPF statistics on. Every round with drops on, the\n")
	w.printf("drops counted equal the frames sent and B's `rx_packets`.\n\n")
	w.printf("| | drops.enabled false | drops.enabled true | difference |\n|---|---|---|---|\n")
	w.printf("| counting program, ns per run | %s | %s | %s |\n", w.cell(n, "drops-off-run-ns", 1, false), w.cell(n, "drops-on-run-ns", 1, false),
		w.cell(n, "drops-on-minus-off-run-ns", 1, true))
	w.printf("| receive path, ns per frame (generator and NAPI on one CPU) | %s | %s | %s |\n", w.cell(n, "drops-off-ns/pkt", 1, false),
		w.cell(n, "drops-on-ns/pkt", 1, false), w.cell(n, "drops-added-ns/pkt", 1, true))
	w.printf("| drop program, ns per dropped packet | – | %s | |\n\n", w.cell(n, "drop-program-ns", 1, false))
}
