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
	kernelBench        = "BenchmarkKernelCost/"
	originBench        = "BenchmarkKernelCost/original-" // the original design's phase, per frame
	trafficBench       = "BenchmarkRealTraffic"
	tcpBench           = "BenchmarkTCPThroughput"
	eventsBench        = "BenchmarkEventStream"
	loadBench          = "BenchmarkUserSpaceLoad"
	collectBench       = "BenchmarkCollect/"
	scrapeBench        = "BenchmarkScrape/"
	liveBench          = "BenchmarkLive/"
	liveSummaryBench   = "BenchmarkLiveSummary"
	deviceCollectBench = "BenchmarkDeviceCollect"
	startupBench       = "BenchmarkStartup/"
	newIfBench         = "BenchmarkNewInterface"
	churnBench         = "BenchmarkChurn"
	dropsBench         = "BenchmarkDrops"
	restartBench       = "BenchmarkRestarts"
)

// The frames of the kernel benchmark, as named there, with their description.
var kernelFrames = []struct{ name, label string }{
	{"ipv4-udp-64B", "IPv4/UDP 64 B"},
	{"ipv4-tcp-1500B", "IPv4/TCP 1500 B"},
	{"vlan-ipv6-3ext-udp", "VLAN IPv6 + 3 extension headers / UDP"},
	{"qinq-ipv4-udp-64B", "802.1ad + 802.1Q IPv4/UDP 64 B"},
	{"ipv4-tcp-64B", "IPv4/TCP 64 B"},
	{"vxlan-ipv4-tcp", "VXLAN carrying IPv4/TCP 64 B"},
	{"geneve-ipv4-tcp", "Geneve carrying IPv4/TCP 64 B"},
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
	w.text("intro", map[string]string{"took": took.Round(time.Second).String(), "iterations": benchtime,
		"phase": strconv.FormatFloat(loadDuration.Seconds(), 'f', -1, 64)})
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
	w.restarts()
	w.text("reproduce", nil)
	return w.err
}

// trafficExporters are the packet-exporter set-ups of the real-traffic
// benchmark, as its metrics name them, with the hook they count through.
var trafficExporters = []struct{ setup, hook string }{
	{"pe", "XDP native"},
	{"pe-tcx", "tcx ingress"},
}

func (w *reportWriter) kernel() {
	w.text("kernel", nil)
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
	w.text("kernel-perif", nil)
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
	w.text("kernel-tunnels", nil)
	w.printf("| frame | XDP: without the tunnel code | tunnels off | **tunnels on** | on − without | on − off | tc: without the tunnel code | tunnels off | **tunnels on** | on − without | on − off |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, f := range kernelFrames {
		n := kernelBench + f.name
		cells := []any{f.label}
		for _, hook := range []string{"xdp", "tc"} {
			cells = append(cells, w.cell(n, hook+"-pe-notunnels-added-ns/pkt", 1, true), w.cell(n, hook+"-pe-tunnels-off-added-ns/pkt", 1, true),
				w.cell(n, hook+"-pe-added-ns/pkt", 1, true), w.cell(n, hook+"-tunnels-vs-notunnels-ns/pkt", 1, true),
				w.cell(n, hook+"-tunnels-vs-off-ns/pkt", 1, true))
		}
		w.printf("| %s | %s | %s | **%s** | %s | %s | %s | %s | **%s** | %s | %s |\n", cells...)
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
	w.text("traffic", nil)
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
	w.text("traffic-end", nil)
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
	w.text("tcp", map[string]string{"round": strconv.FormatFloat(v("round-s"), 'f', -1, 64),
		"rounds": strconv.FormatFloat(v("rounds"), 'f', -1, 64), "mss": integer(v("mss-bytes")),
		"frame": integer(v("mss-bytes") + 66), "ratio": fmt.Sprintf("%.3f", (v("mss-bytes")+66)/v("mss-bytes"))})
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
	w.text("events", nil)
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
	w.text("load", nil)
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
	w.text("scrape", nil)
	w.printf("| series | samples | body | collection (SDK only) | scrape | allocations per scrape | allocated per scrape | live view (÷ paired scrape) |\n|---|---|---|---|---|---|---|---|\n")
	for _, s := range scrapeSizes {
		c, sc, lv := collectBench+s+"-series", scrapeBench+s+"-series", liveBench+s+"-series"
		w.printf("| %s | %s | %s KiB | %s ms | **%s ms** | %s | %s MiB | %s ms (%s) |\n", integer(w.value(sc, "traffic-series")),
			integer(w.value(sc, "samples")), num(w.value(sc, "body-bytes")/1024), w.cell(c, "collect-ms", 1, false),
			w.cell(sc, "scrape-ms", 1, false), integer(w.value(sc, "allocs/op")), num(w.value(sc, "B/op")/(1<<20)),
			w.cell(lv, "live-ms", 1, false), num(w.value(lv, "live/scrape")))
	}
	w.printf("\n")
	w.liveSummary()
}

// liveSummary writes the cost of the live view's summary per poll next to
// the full snapshot's (issue 28), when the run measured them.
func (w *reportWriter) liveSummary() {
	n := liveSummaryBench
	if math.IsNaN(w.value(n, "summary-ms")) {
		return
	}
	w.text("live-summary", map[string]string{"interfaces": integer(w.value(n, "interfaces")),
		"busy": integer(w.value(n, "busy-interfaces"))})
	w.printf("| GET | body | **time per GET** | ÷ full snapshot (per turn) | allocations per GET | allocated per GET |\n|---|---|---|---|---|---|\n")
	w.printf("| summary, `/api/v1/live?view=summary` | %s B | **%s ms** | **%s** | %s | %s MiB |\n", integer(w.value(n, "summary-bytes")),
		w.cell(n, "summary-ms", 1, false), w.cell(n, "summary/full", 1, false), integer(w.value(n, "summary-allocs")),
		num(w.value(n, "summary-alloc-B")/(1<<20)))
	w.printf("| full snapshot, `/api/v1/live` | %s B | %s ms | 1 | %s | %s MiB |\n\n", integer(w.value(n, "full-bytes")),
		w.cell(n, "full-ms", 1, false), integer(w.value(n, "full-allocs")), num(w.value(n, "full-alloc-B")/(1<<20)))
	if !math.IsNaN(w.value(n, "sample-ms")) {
		w.printf("The history's sample of the %s interfaces, every second whether a page is open or not: %s ms (the median of the samples filling it).\n\n",
			integer(w.value(n, "interfaces")), w.cell(n, "sample-ms", 1, false))
	}
}

func (w *reportWriter) startup() {
	w.text("startup", nil)
	w.printf("| interfaces | serving | **ready** | CPU to ready | programs loaded | SIGTERM to exit | adopting (persistence): ready | its CPU | instance per interface: ready | its CPU | its programs |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range startupSizes {
		n := startupBench + s + "-interfaces"
		w.printf("| %s | %s ms | **%s ms** | %s ms | %s | %s ms | %s ms | %s ms | %s ms | %s ms | %s |\n", s, w.cell(n, "serving-ms", 1, false), w.cell(n, "ready-ms", 1, false),
			w.cell(n, "ready-cpu-ms", 1, false), num(w.value(n, "programs-loaded")), w.cell(n, "stop-ms", 1, false),
			w.cell(n, "adopt-ready-ms", 1, false), w.cell(n, "adopt-ready-cpu-ms", 1, false),
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

func (w *reportWriter) restarts() {
	n := restartBench
	if math.IsNaN(w.value(n, "restarts")) {
		return
	}
	w.text("restarts", nil)
	w.printf("| restarts | upgrades | datagrams/s | datagrams sent | counted | frames the veth received | counted | scrapes | saw a decrease | start to ready | upgrade to ready |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	w.printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s ms | %s ms |\n\n", integer(w.value(n, "restarts")), integer(w.value(n, "upgrades")),
		w.cell(n, "pps", 1, false), integer(w.value(n, "sent-datagrams")), integer(w.value(n, "counted-datagrams")), integer(w.value(n, "rx-packets")),
		integer(w.value(n, "counted-frames")), integer(w.value(n, "scrapes")), integer(w.value(n, "decreases")), w.cell(n, "ready-ms", 1, false),
		w.cell(n, "upgrade-ready-ms", 1, false))
}

func (w *reportWriter) drops() {
	n := dropsBench
	if math.IsNaN(w.value(n, "drop-program-ns")) {
		return
	}
	w.text("drops", nil)
	w.printf("| | drops.enabled false | drops.enabled true | difference |\n|---|---|---|---|\n")
	w.printf("| counting program, ns per run | %s | %s | %s |\n", w.cell(n, "drops-off-run-ns", 1, false), w.cell(n, "drops-on-run-ns", 1, false),
		w.cell(n, "drops-on-minus-off-run-ns", 1, true))
	w.printf("| receive path, ns per frame (generator and NAPI on one CPU) | %s | %s | %s |\n", w.cell(n, "drops-off-ns/pkt", 1, false),
		w.cell(n, "drops-on-ns/pkt", 1, false), w.cell(n, "drops-added-ns/pkt", 1, true))
	w.printf("| drop program, ns per dropped packet | – | %s | |\n\n", w.cell(n, "drop-program-ns", 1, false))
}
