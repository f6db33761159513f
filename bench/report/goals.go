package main

import (
	"fmt"
	"math"
)

// The report's goals (issues 6, 5, 13, 14, 25, 26, 28 and 30), one row of its goal table
// each, in the table's order: what the row says, the figures of the run it
// holds to its goal, and how the row shows them. A goal is met when every
// check holds, and not measured when a figure or goal of one is missing from
// the run.
var goals = []goal{{
	name:   "kernel: packet-exporter within +10 ns of the trivial program (IPv4/UDP 64 B, XDP)",
	checks: []check{upTo(udpFrame, "xdp-pe-added-ns/pkt", 10)},
	shown:  show("%s ns", added(udpFrame, "xdp-pe-added-ns/pkt")),
}, {
	name:   "kernel: at least 100× cheaper than the original design (added cost over trivial, every frame)",
	checks: []check{{lowestOrigin("origin/pe-added-x"), atLeast, limit(100)}},
	shown: show("%s× or more (whole run, test loop included: %s× or more)",
		numeral(lowestOrigin("origin/pe-added-x")), numeral(lowestOrigin("origin/pe-total-x"))),
}, {
	name:   "real traffic: throughput loss against the trivial program ≤ 10 %",
	checks: []check{upTo(trafficBench, "pe-loss-vs-trivial-%", 10)},
	shown:  show("%s %%", median(trafficBench, "pe-loss-vs-trivial-%")),
}, {
	name:   "real traffic, tcx ingress: throughput loss against the trivial tcx program ≤ 10 %",
	checks: []check{upTo(trafficBench, "pe-tcx-loss-vs-trivial-%", 10)},
	shown:  show("%s %%", median(trafficBench, "pe-tcx-loss-vs-trivial-%")),
}, {
	name:   "real traffic: counts exact (frames sent = counted by packet-exporter = the veth's counters)",
	checks: []check{{countsDisagreeing, equal, limit(0)}},
	shown:  exactness,
}, {
	name:   "real TCP: the default configuration costs ≤ 5 % of the throughput without a program (aim 2 %)",
	checks: []check{upTo(tcpBench, "default-loss-%", 5)},
	shown: show("%s %% (throughput ratio %s; CPU per Gbit ×%s; counted through %s)",
		func(w *reportWriter) string { return w.percent(tcpBench, "default-loss-%") },
		median(tcpBench, "default-ratio"), median(tcpBench, "default-cpu-ratio"), (*reportWriter).defaultHook),
}, {
	// Independent: the same within 25 % (or 20 ms, the noise of a few
	// scrapes), whatever the rate.
	name:   "user space: CPU independent of the packet rate (maximal traffic = idle within 25 % or 20 ms)",
	checks: []check{{loadCPUChange, atMost, func(w *reportWriter) float64 { return math.Max(0.25*w.value(loadBench, "idle-cpu-s"), 0.02) }}},
	shown: show("%s s idle, %s s at %s Mpps (%s ns per packet)", numeralOf(loadBench, "idle-cpu-s"),
		numeralOf(loadBench, "load-cpu-s"), numeral(scaled(metric(loadBench, "load-pps"), 1e-6)),
		func(w *reportWriter) string {
			return signed((w.value(loadBench, "load-cpu-s") - w.value(loadBench, "idle-cpu-s")) * 1e9 / w.value(loadBench, "load-sent-frames"))
		}),
}, {
	name:   "user space: peak RSS < 50 MiB",
	checks: []check{{metric(loadBench, "peak-rss-MiB"), below, limit(50)}},
	shown:  show("%s MiB", numeralOf(loadBench, "peak-rss-MiB")),
}, {
	name:   "scrape: 10k series under 100 ms",
	checks: []check{{metric(scrapeBench+"10000-series", "scrape-ms"), below, limit(100)}},
	shown:  show("%s ms", median(scrapeBench+"10000-series", "scrape-ms")),
}, {
	name:   "collection at 1000 interfaces (issue 30): the device totals add ≤ 10 % (with and without them, taking turns)",
	checks: []check{upTo(deviceCollectBench, "totals-added-%", 10)},
	shown: show("+%s %% (%s ms with, %s ms without)", median(deviceCollectBench, "totals-added-%"),
		median(deviceCollectBench, "with-totals-ms"), median(deviceCollectBench, "without-totals-ms")),
}, {
	name:   "collection at 1000 interfaces (issue 30): the self-audit (packet_exporter.audit.difference) adds ≤ 10 % (with and without it, taking turns)",
	checks: []check{upTo(deviceCollectBench, "audit-added-%", 10)},
	shown: show("+%s %% (%s ms with, %s ms without)", median(deviceCollectBench, "audit-added-%"),
		median(deviceCollectBench, "with-totals-ms"), median(deviceCollectBench, "without-audit-ms")),
}, {
	name:   "issue 28: summary response at 1000 interfaces (20 busy) ≤ 30 kB per poll",
	checks: []check{upTo(liveSummaryBench, "summary-bytes", 30000)},
	shown: show("%s B (the full snapshot: %s B; %s interfaces listed)", count(liveSummaryBench, "summary-bytes"),
		count(liveSummaryBench, "full-bytes"), count(liveSummaryBench, "busy-interfaces")),
}, {
	name:   "issue 28: server cost per summary poll ≤ half of /api/v1/live (1000 interfaces)",
	checks: []check{upTo(liveSummaryBench, "summary/full", 0.5)},
	shown: show("×%s (%s ms per summary, %s ms per full snapshot, taking turns)", median(liveSummaryBench, "summary/full"),
		median(liveSummaryBench, "summary-ms"), median(liveSummaryBench, "full-ms")),
}, {
	name: "event stream (issue 5): delivered + lost = emitted, exactly, once drained (every window, the exporter's own metrics)",
	checks: []check{
		{metric(eventsBench, "exact-windows"), equal, metric(eventsBench, "windows")},
		{sum(metric(eventsBench, "delivered-events"), metric(eventsBench, "lost-events")), equal, metric(eventsBench, "emitted-events")},
		{metric(eventsBench, "invalid-events"), equal, limit(0)},
	},
	shown: show("%s of %s windows exact; %s delivered + %s lost = %s emitted", count(eventsBench, "exact-windows"),
		count(eventsBench, "windows"), count(eventsBench, "delivered-events"), count(eventsBench, "lost-events"),
		count(eventsBench, "emitted-events")),
}, {
	name: "event stream (issue 5): packet counters exact with the stream on (frames sent = counted = records emitted, N = 1)",
	checks: []check{
		{metric(eventsBench, "counted-frames"), equal, metric(eventsBench, "sent-frames")},
		{metric(eventsBench, "emitted-events"), equal, metric(eventsBench, "sent-frames")},
	},
	shown: show("%s frames sent, %s counted, %s records emitted", count(eventsBench, "sent-frames"),
		count(eventsBench, "counted-frames"), count(eventsBench, "emitted-events")),
}, {
	name:   "issue 13, kernel: one program for every interface within +10 ns of the trivial program of its hook (IPv4/UDP 64 B; aim +5)",
	checks: []check{upTo(udpFrame, "xdp-pe-added-ns/pkt", 10), upTo(udpFrame, "tc-pe-added-ns/pkt", 10)},
	shown:  show("XDP %s ns, tc %s ns", added(udpFrame, "xdp-pe-added-ns/pkt"), added(udpFrame, "tc-pe-added-ns/pkt")),
}, {
	name:   "issue 13, live traffic: program run time within +10 ns of the trivial program of its hook (the kernel's run-time statistics)",
	checks: []check{upTo(trafficBench, "pe-run-added-ns", 10), upTo(trafficBench, "pe-tcx-run-added-ns", 10)},
	shown: show("XDP %s ns, tcx %s ns%s", added(trafficBench, "pe-run-added-ns"), added(trafficBench, "pe-tcx-run-added-ns"),
		perInterface(" (instance per interface, same run: XDP %s ns, tcx %s ns)", added, trafficBench, "run-added-ns", "tcx-run-added-ns")),
}, {
	name:   "issue 13, kernel: no frame costlier than with an instance per interface by more than 2 ns (both hooks, every frame)",
	checks: []check{{func(w *reportWriter) float64 { worst, _ := w.costliestFrame(); return worst }, atMost, limit(2)}},
	shown: func(w *reportWriter) string {
		worst, where := w.costliestFrame()
		return fmt.Sprintf("at most %s ns (%s)", signed(worst), where)
	},
}, {
	name:   "issue 13, start-up: 1000 interfaces ready within 2 s and within 1 s of exporter CPU",
	checks: []check{upTo(startup1000, "ready-ms", 2000), upTo(startup1000, "ready-cpu-ms", 1000)},
	shown: show("ready after %s ms, %s ms of CPU%s", median(startup1000, "ready-ms"), median(startup1000, "ready-cpu-ms"),
		perInterface(" (an instance per interface: %s ms, %s ms of CPU)", numeralOf, startup1000, "ready-ms", "ready-cpu-ms")),
}, {
	name:   "issue 25, start-up: adopting the pinned state of 1000 interfaces ready within 300 ms and 300 ms of CPU",
	checks: []check{upTo(startup1000, "adopt-ready-ms", 300), upTo(startup1000, "adopt-ready-cpu-ms", 300)},
	shown: show("ready after %s ms, %s ms of CPU (a fresh start without persistence, same iterations: %s ms, %s ms of CPU)",
		median(startup1000, "adopt-ready-ms"), median(startup1000, "adopt-ready-cpu-ms"),
		median(startup1000, "ready-ms"), median(startup1000, "ready-cpu-ms")),
}, {
	name: "issue 25, kernel: persistence changes the cost per packet by at most ±1 ns, both hooks (the programs on pinned maps, IPv4/UDP 64 B)",
	checks: []check{
		{absolute(metric(udpFrame, "xdp-pinned-vs-pe-ns/pkt")), atMost, limit(1)},
		{absolute(metric(udpFrame, "tc-pinned-vs-pe-ns/pkt")), atMost, limit(1)},
	},
	shown: show("XDP %s ns, tc %s ns", added(udpFrame, "xdp-pinned-vs-pe-ns/pkt"), added(udpFrame, "tc-pinned-vs-pe-ns/pkt")),
}, {
	name: "issue 25, restarts: 20 restarts (SIGTERM and SIGKILL in turn) and 2 upgrades between builds of different layouts under ≥ 20,000 datagrams/s: counted = sent, exactly; no scrape sees a counter go down",
	checks: []check{
		{metric(restartBench, "counted-datagrams"), equal, metric(restartBench, "sent-datagrams")},
		{metric(restartBench, "counted-frames"), equal, metric(restartBench, "rx-packets")},
		{metric(restartBench, "decreases"), equal, limit(0)},
		{metric(restartBench, "pps"), atLeast, limit(20000)},
		{metric(restartBench, "restarts"), atLeast, limit(20)},
		{metric(restartBench, "upgrades"), atLeast, limit(2)},
	},
	shown: show("%s restarts and %s upgrades at %s datagrams/s: %s sent, %s counted; %s of %s scrapes saw a decrease",
		count(restartBench, "restarts"), count(restartBench, "upgrades"), numeralOf(restartBench, "pps"), count(restartBench, "sent-datagrams"),
		count(restartBench, "counted-datagrams"), count(restartBench, "decreases"), count(restartBench, "scrapes")),
}, {
	name:   "issue 13, start-up: the number of programs loaded does not grow with the interfaces",
	checks: []check{{metric(startup1000, "programs-loaded"), equal, metric(startupBench+"1-interfaces", "programs-loaded")}},
	shown: show("%s with 1 interface, %s with 1000 (an instance per interface: %s)",
		numeralOf(startupBench+"1-interfaces", "programs-loaded"), numeralOf(startup1000, "programs-loaded"),
		numeralOf(startup1000, "perif-programs-loaded")),
}, {
	name:   "issue 13, a new interface: counted within 100 ms of its creation (median), at most 2 ms of exporter CPU each",
	checks: []check{upTo(newIfBench, "new-interface-counted-ms", 100), upTo(newIfBench, "new-interface-cpu-ms", 2)},
	shown:  show("%s ms, %s ms of CPU", median(newIfBench, "new-interface-counted-ms"), numeralOf(newIfBench, "new-interface-cpu-ms")),
}, {
	// Threads are shown, not judged: Go keeps the threads it started.
	name: "issue 13, churn: 100 veth pairs created and deleted per second for 60 s: exporter CPU < 20 % of a core, RSS flat, fds back to baseline, nothing left behind, the fixed pair exact (goroutines: TestChurn)",
	checks: []check{
		{metric(churnBench, "churn-cpu-%"), below, limit(20)},
		{metric(churnBench, "churn-rss-end-MiB"), atMost, func(w *reportWriter) float64 { return w.value(churnBench, "churn-rss-start-MiB")*1.1 + 1 }},
		{metric(churnBench, "churn-fds-after"), atMost, metric(churnBench, "churn-fds-before")},
		{metric(churnBench, "churn-programs-left"), equal, limit(0)},
		{metric(churnBench, "churn-fixed-counted"), equal, metric(churnBench, "churn-fixed-sent")},
	},
	shown: func(w *reportWriter) string {
		n := func(unit string) string { return num(w.value(churnBench, unit)) }
		i := func(unit string) string { return integer(w.value(churnBench, unit)) }
		return fmt.Sprintf("%s %% CPU over %s pairs; RSS %s → %s MiB; fds %s → %s, threads %s → %s; %s programs while running, %s left; fixed pair %s sent, %s counted",
			n("churn-cpu-%"), i("churn-pairs"), n("churn-rss-start-MiB"), n("churn-rss-end-MiB"), n("churn-fds-before"), n("churn-fds-after"),
			n("churn-threads-before"), n("churn-threads-after"), n("churn-programs-loaded"), n("churn-programs-left"),
			i("churn-fixed-sent"), i("churn-fixed-counted"))
	},
}, {
	name: "issue 14: the counting program's run time unchanged with drops.enabled (within ±2 ns, live tcx, side by side)",
	checks: []check{
		upTo(dropsBench, "drops-on-minus-off-run-ns", 2),
		{metric(dropsBench, "drops-on-minus-off-run-ns"), atLeast, limit(-2)},
	},
	shown: show("%s ns (off %s ns, on %s ns per run)", added(dropsBench, "drops-on-minus-off-run-ns"),
		median(dropsBench, "drops-off-run-ns"), median(dropsBench, "drops-on-run-ns")),
}, {
	name: "issue 14: drops counted = frames dropped, at the highest drop rate this machine produces",
	checks: []check{
		{metric(dropsBench, "drop-exact-rounds"), equal, metric(dropsBench, "drop-rounds")},
		{metric(dropsBench, "drop-rounds"), above, limit(0)},
	},
	shown: show("%s of %s rounds exact", numeralOf(dropsBench, "drop-exact-rounds"), numeralOf(dropsBench, "drop-rounds")),
}, {
	name: "issue 26, kernel: plain IPv4/UDP and TCP 64 B frames within +1 ns of the programs without the tunnel code, both hooks",
	checks: []check{
		upTo(udpFrame, "xdp-tunnels-vs-notunnels-ns/pkt", 1), upTo(udpFrame, "tc-tunnels-vs-notunnels-ns/pkt", 1),
		upTo(tcpFrame, "xdp-tunnels-vs-notunnels-ns/pkt", 1), upTo(tcpFrame, "tc-tunnels-vs-notunnels-ns/pkt", 1),
	},
	shown: show("UDP: XDP %s ns, tc %s ns; TCP: XDP %s ns, tc %s ns",
		added(udpFrame, "xdp-tunnels-vs-notunnels-ns/pkt"), added(udpFrame, "tc-tunnels-vs-notunnels-ns/pkt"),
		added(tcpFrame, "xdp-tunnels-vs-notunnels-ns/pkt"), added(tcpFrame, "tc-tunnels-vs-notunnels-ns/pkt")),
}, {
	name: "issue 26, kernel: VXLAN and Geneve frames carrying IPv4/TCP at most +15 ns over the same frames without tunnel parsing, both hooks",
	checks: []check{
		upTo(vxlanFrame, "xdp-tunnels-vs-off-ns/pkt", 15), upTo(vxlanFrame, "tc-tunnels-vs-off-ns/pkt", 15),
		upTo(geneveFrame, "xdp-tunnels-vs-off-ns/pkt", 15), upTo(geneveFrame, "tc-tunnels-vs-off-ns/pkt", 15),
	},
	shown: show("VXLAN: XDP %s ns, tc %s ns; Geneve: XDP %s ns, tc %s ns",
		added(vxlanFrame, "xdp-tunnels-vs-off-ns/pkt"), added(vxlanFrame, "tc-tunnels-vs-off-ns/pkt"),
		added(geneveFrame, "xdp-tunnels-vs-off-ns/pkt"), added(geneveFrame, "tc-tunnels-vs-off-ns/pkt")),
}, {
	// A reference, not a goal: the issue sets no target.
	name:   "event stream (issue 5): records per second without loss, default 4 MiB ring (reference: ~3.9 M/s, METHODS.md)",
	checks: []check{{metric(eventsBench, "4MiB-zero-loss-events/s"), noTarget, nil}},
	shown:  show("%s M/s", func(w *reportWriter) string { return w.zeroLoss("4MiB") }),
}}

// Benchmarks the goals name.
const (
	udpFrame    = kernelBench + "ipv4-udp-64B"
	tcpFrame    = kernelBench + "ipv4-tcp-64B"
	vxlanFrame  = kernelBench + "vxlan-ipv4-tcp"
	geneveFrame = kernelBench + "geneve-ipv4-tcp"
	startup1000 = startupBench + "1000-interfaces"
)

// goal is one row of the report's goal table.
type goal struct {
	name   string  // the goal, as the table states it
	checks []check // all hold when the goal is met
	shown  text    // this run's figures, as the table shows them
}

// check holds a figure of the run to a goal: figure cmp goal.
type check struct {
	figure figure
	cmp    comparison
	goal   figure // nil for noTarget
}

// figure is a number of the run, NaN when the run did not measure it.
type figure func(w *reportWriter) float64

// metric is the figure benchmark bench reported in unit.
func metric(bench, unit string) figure {
	return func(w *reportWriter) float64 { return w.value(bench, unit) }
}

// upTo is the check that unit of benchmark bench is at most goal.
func upTo(bench, unit string, goal float64) check {
	return check{metric(bench, unit), atMost, limit(goal)}
}

// absolute is the absolute value of f.
func absolute(f figure) figure {
	return func(w *reportWriter) float64 { return math.Abs(f(w)) }
}

// limit is a fixed goal.
func limit(v float64) figure {
	return func(*reportWriter) float64 { return v }
}

// comparison is how a check compares its figure with its goal.
type comparison int

const (
	atMost comparison = iota
	below
	atLeast
	above
	equal
	noTarget // a reference: shown, not judged
)

// holds reports whether figure v compares with goal as c requires: never
// when either is NaN, nor for noTarget.
func (c comparison) holds(v, goal float64) bool {
	switch c {
	case atMost:
		return v <= goal
	case below:
		return v < goal
	case atLeast:
		return v >= goal
	case above:
		return v > goal
	case equal:
		return v == goal
	}
	return false
}

// text is part of a row's "this run" column.
type text func(w *reportWriter) string

// show is format with its verbs filled in by args.
func show(format string, args ...text) text {
	return func(w *reportWriter) string {
		values := make([]any, len(args))
		for i, a := range args {
			values[i] = a(w)
		}
		return fmt.Sprintf(format, values...)
	}
}

// median shows unit of benchmark bench as "median ±spread" (reportWriter.cell).
func median(bench, unit string) text {
	return func(w *reportWriter) string { return w.cell(bench, unit, 1, false) }
}

// added is median for a difference: with its sign.
func added(bench, unit string) text {
	return func(w *reportWriter) string { return w.cell(bench, unit, 1, true) }
}

// count shows unit of benchmark bench as a count (integer).
func count(bench, unit string) text {
	return func(w *reportWriter) string { return integer(w.value(bench, unit)) }
}

// numeral shows a figure with about three significant digits (num).
func numeral(f figure) text {
	return func(w *reportWriter) string { return num(f(w)) }
}

// numeralOf is numeral for unit of benchmark bench.
func numeralOf(bench, unit string) text {
	return numeral(metric(bench, unit))
}

// perInterface is format with its verbs filled in by the figures of the
// design replaced, an instance per interface (the "perif-" figure of each
// unit of benchmark bench, each shown by shown), when the run measured them
// all; nothing otherwise.
func perInterface(format string, shown func(bench, unit string) text, bench string, units ...string) text {
	args := make([]text, len(units))
	for i, u := range units {
		args[i] = shown(bench, "perif-"+u)
	}
	t := show(format, args...)
	return func(w *reportWriter) string {
		for _, u := range units {
			if math.IsNaN(w.value(bench, "perif-"+u)) {
				return ""
			}
		}
		return t(w)
	}
}

// scaled is figure f times factor.
func scaled(f figure, factor float64) figure {
	return func(w *reportWriter) float64 { return f(w) * factor }
}

// sum is figures a and b added.
func sum(a, b figure) figure {
	return func(w *reportWriter) float64 { return a(w) + b(w) }
}

// goalTable writes the goal table: each goal with this run's figures and
// whether they met it.
func (w *reportWriter) goalTable() {
	w.printf("## Goals (issues 6, 5, 13, 14, 25, 26, 28 and 30)\n\n| goal | this run | met |\n|---|---|---|\n")
	for _, g := range goals {
		shown, met := "", "not measured"
		if w.measured(g) {
			shown, met = g.shown(w), "yes"
			for _, c := range g.checks {
				if c.cmp == noTarget {
					met = "no target"
				} else if !c.cmp.holds(c.figure(w), c.goal(w)) {
					met = "**no**"
				}
			}
		}
		w.printf("| %s | %s | %s |\n", g.name, shown, met)
	}
	w.printf("\n")
}

// measured reports whether the run measured every figure of goal g.
func (w *reportWriter) measured(g goal) bool {
	for _, c := range g.checks {
		if math.IsNaN(c.figure(w)) || c.goal != nil && math.IsNaN(c.goal(w)) {
			return false
		}
	}
	return true
}

// lowestOrigin is the lowest figure of unit over the kernel benchmark's frames
// in the original design's phase.
func lowestOrigin(unit string) figure {
	return func(w *reportWriter) float64 {
		lowest := math.NaN()
		for _, f := range kernelFrames {
			if x := w.value(originBench+f.name, unit); math.IsNaN(lowest) || x < lowest {
				lowest = x
			}
		}
		return lowest
	}
}

// loadCPUChange is how much the exporter's CPU time changed from the user-space
// load benchmark's idle phase to its phase of maximal traffic, either way.
func loadCPUChange(w *reportWriter) float64 {
	return math.Abs(w.value(loadBench, "load-cpu-s") - w.value(loadBench, "idle-cpu-s"))
}

// costliestFrame returns the most one program for every interface costs over
// an instance per interface, over the kernel benchmark's frames and both
// hooks, and where: the hook and the frame.
func (w *reportWriter) costliestFrame() (float64, string) {
	worst, where := math.NaN(), ""
	for _, f := range kernelFrames {
		for _, hook := range []string{"xdp", "tc"} {
			if d := w.value(kernelBench+f.name, hook+"-pe-vs-perif-ns/pkt"); d > worst || math.IsNaN(worst) {
				worst, where = d, hook+", "+f.label
			}
		}
	}
	return worst, where
}

// countsDisagreeing is how many of the real-traffic benchmark's counts that
// must agree do not: every round exact, and packet-exporter's count equal to
// what was sent and to the veth's, through each hook measured (and in the
// user-space load benchmark).
func countsDisagreeing(w *reportWriter) float64 {
	v := func(unit string) float64 { return w.value(trafficBench, unit) }
	if math.IsNaN(v("pe-sent-frames")) || math.IsNaN(v("rounds")) {
		return math.NaN()
	}
	pairs := [][2]float64{{v("exact-rounds"), v("rounds")}, {v("dropped-frames"), 0}, {v("sent-frames"), v("veth-rx-frames")}}
	for _, h := range trafficExporters {
		if sent := v(h.setup + "-sent-frames"); !math.IsNaN(sent) {
			pairs = append(pairs, [2]float64{sent, v(h.setup + "-counted-frames")}, [2]float64{sent, v(h.setup + "-veth-rx-frames")},
				[2]float64{v(h.setup + "-counted-bytes"), 64 * sent})
		}
	}
	if l := w.value(loadBench, "load-sent-frames"); !math.IsNaN(l) {
		pairs = append(pairs, [2]float64{l, w.value(loadBench, "load-counted-frames")}, [2]float64{l, w.value(loadBench, "load-veth-rx-frames")})
	}
	n := 0
	for _, p := range pairs {
		if p[0] != p[1] {
			n++
		}
	}
	return float64(n)
}

// exactness shows the real-traffic counts: rounds exact, and what was sent
// and counted through each hook.
func exactness(w *reportWriter) string {
	v := func(unit string) float64 { return w.value(trafficBench, unit) }
	s := fmt.Sprintf("%s of %s rounds exact", integer(v("exact-rounds")), integer(v("rounds")))
	for _, h := range trafficExporters {
		if sent := v(h.setup + "-sent-frames"); !math.IsNaN(sent) {
			s += fmt.Sprintf("; %s: %s frames sent while packet-exporter counted, %s counted", h.hook, integer(sent),
				integer(v(h.setup+"-counted-frames")))
		}
	}
	return s
}
