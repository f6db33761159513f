package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestComparisonHolds(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		cmp         comparison
		v, goal     float64
		want        bool
		description string
	}{
		{atMost, 10, 10, true, "at the limit"},
		{atMost, 10.5, 10, false, "over"},
		{below, 100, 100, false, "at the limit"},
		{below, 99, 100, true, "under"},
		{atLeast, 100, 100, true, "at the limit"},
		{atLeast, 99, 100, false, "under"},
		{above, 0, 0, false, "at the limit"},
		{above, 5, 0, true, "over"},
		{equal, 3, 3, true, "equal"},
		{equal, 3, 4, false, "different"},
		{atMost, nan, 10, false, "figure not measured"},
		{atLeast, 100, nan, false, "goal not measured"},
		{equal, nan, nan, false, "neither measured"},
		{noTarget, 1, nan, false, "a reference"},
	} {
		if got := c.cmp.holds(c.v, c.goal); got != c.want {
			t.Errorf("%d.holds(%v, %v) (%s) = %v, want %v", c.cmp, c.v, c.goal, c.description, got, c.want)
		}
	}
}

// TestGoalTable renders the goal table from benchmark output: each goal
// judged from its figures, not measured when one is missing.
func TestGoalTable(t *testing.T) {
	const churn = "BenchmarkChurn-2 1 1 ns/op 9.05 churn-cpu-% 6000 churn-pairs 31.1 churn-rss-start-MiB 26.1 churn-rss-end-MiB " +
		"29 churn-fds-before 29 churn-fds-after 8 churn-threads-before 10 churn-threads-after 3 churn-programs-loaded " +
		"0 churn-programs-left 599600 churn-fixed-sent 599600 churn-fixed-counted\n"
	for _, c := range []struct {
		name, output, goal, want string
	}{
		{"nothing measured", "", "user space: peak RSS < 50 MiB", "|  | not measured |"},
		{"under a limit", "BenchmarkUserSpaceLoad-2 1 1 ns/op 35.3 peak-rss-MiB\n", "user space: peak RSS < 50 MiB", "| 35.3 MiB | yes |"},
		{"at a strict limit", "BenchmarkUserSpaceLoad-2 1 1 ns/op 50 peak-rss-MiB\n", "user space: peak RSS < 50 MiB", "| 50.0 MiB | **no** |"},
		{
			"lowest over frames",
			"BenchmarkKernelCost/original-ipv4-udp-64B-2 3 1 ns/op 853 origin/pe-added-x 569 origin/pe-total-x\n" +
				"BenchmarkKernelCost/original-ipv4-tcp-1500B-2 3 1 ns/op 99 origin/pe-added-x 80 origin/pe-total-x\n",
			"kernel: at least 100× cheaper than the original design",
			"| 99.0× or more (whole run, test loop included: 80.0× or more) | **no** |",
		},
		{
			"a figure within ±2",
			"BenchmarkDrops-2 5 1 ns/op -1.5 drops-on-minus-off-run-ns 32 drops-off-run-ns 30.5 drops-on-run-ns 5 drop-rounds 5 drop-exact-rounds\n",
			"issue 14: the counting program's run time unchanged",
			"| -1.5 ns (off 32 ns, on 30.5 ns per run) | yes |",
		},
		{
			"a figure beyond ±2",
			"BenchmarkDrops-2 5 1 ns/op -2.5 drops-on-minus-off-run-ns 32 drops-off-run-ns 29.5 drops-on-run-ns 5 drop-rounds 5 drop-exact-rounds\n",
			"issue 14: the counting program's run time unchanged",
			"| **no** |",
		},
		{
			"no rounds",
			"BenchmarkDrops-2 5 1 ns/op 0 drops-on-minus-off-run-ns 0 drop-rounds 0 drop-exact-rounds\n",
			"issue 14: drops counted = frames dropped",
			"| 0.000 of 0.000 rounds exact | **no** |",
		},
		{"every check of several", churn, "issue 13, churn:", "fixed pair 599,600 sent, 599,600 counted | yes |"},
		{"one check of several", strings.Replace(churn, "0 churn-programs-left", "1 churn-programs-left", 1), "issue 13, churn:", "| **no** |"},
		{"a figure of several missing", strings.Replace(churn, "29 churn-fds-after ", "", 1), "issue 13, churn:", "|  | not measured |"},
		{
			"an optional part measured",
			"BenchmarkStartup/1000-interfaces-2 3 1 ns/op 516 ready-ms 582 ready-cpu-ms 17360 perif-ready-ms 20961 perif-ready-cpu-ms\n",
			"issue 13, start-up: 1000 interfaces ready",
			"| ready after 516 ms, 582 ms of CPU (an instance per interface: 17360 ms, 20961 ms of CPU) | yes |",
		},
		{
			"an optional part missing",
			"BenchmarkStartup/1000-interfaces-2 3 1 ns/op 2516 ready-ms 582 ready-cpu-ms\n",
			"issue 13, start-up: 1000 interfaces ready",
			"| ready after 2516 ms, 582 ms of CPU | **no** |",
		},
		{
			"a summary within 30 kB",
			liveSummaryOutput,
			"issue 28: summary response at 1000 interfaces (20 busy) ≤ 30 kB per poll",
			"| 24,816 B (the full snapshot: 1,102,054 B; 22 interfaces listed) | yes |",
		},
		{
			"a summary beyond 30 kB",
			strings.Replace(liveSummaryOutput, "24816 summary-bytes", "30001 summary-bytes", 1),
			"issue 28: summary response at 1000 interfaces (20 busy) ≤ 30 kB per poll",
			"| **no** |",
		},
		{
			"a summary costing under half",
			liveSummaryOutput,
			"issue 28: server cost per summary poll ≤ half of /api/v1/live (1000 interfaces)",
			"| ×0.103 ±0.099 (3.32 ±2.52 ms per summary, 31.0 ±2.2 ms per full snapshot, taking turns) | yes |",
		},
		{
			"a summary costing over half",
			strings.Replace(liveSummaryOutput, "0.1033 summary/full", "0.51 summary/full", 1),
			"issue 28: server cost per summary poll ≤ half of /api/v1/live (1000 interfaces)",
			"| **no** |",
		},
		{
			"a reference",
			"BenchmarkEventStream-2 2 1 ns/op 2120000 4MiB-zero-loss-events/s\n",
			"event stream (issue 5): records per second without loss",
			"| 2.12 M/s | no target |",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := results{}
			r.parse(c.output)
			var buf bytes.Buffer
			w := &reportWriter{w: &buf, r: r}
			w.goalTable()
			if w.err != nil {
				t.Fatal(w.err)
			}
			var row string
			for _, l := range strings.Split(buf.String(), "\n") {
				if strings.HasPrefix(l, "| "+c.goal) {
					row = l
				}
			}
			if !strings.HasSuffix(row, c.want) {
				t.Errorf("row %q: want it to end in %q", row, c.want)
			}
		})
	}
}

// liveSummaryOutput is a result line of BenchmarkLiveSummary.
const liveSummaryOutput = "BenchmarkLiveSummary-2 20 35679169 ns/op 22.00 busy-interfaces 15708036 full-alloc-B 120970 full-allocs " +
	"1102054 full-bytes 31.03 full-ms 1000 interfaces 2.227 spread-full-ms 2.522 spread-summary-ms 0.09938 spread-summary/full " +
	"6339392 summary-alloc-B 16301 summary-allocs 24816 summary-bytes 3.316 summary-ms 0.1033 summary/full\n"

// TestGoalsWellFormed checks the table itself: every goal named once, with
// checks and a way to show them.
func TestGoalsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, g := range goals {
		if g.name == "" || len(g.checks) == 0 || g.shown == nil {
			t.Errorf("goal %q: a name, checks and shown are required", g.name)
		}
		if seen[g.name] {
			t.Errorf("goal %q twice", g.name)
		}
		seen[g.name] = true
		for _, c := range g.checks {
			if c.figure == nil || (c.goal == nil) != (c.cmp == noTarget) {
				t.Errorf("goal %q: a check needs a figure, and a goal unless it is a reference", g.name)
			}
		}
	}
	// The whole report renders with the table.
	if err := render(&bytes.Buffer{}, results{}, machine{}, time.Minute, "10x", time.Minute); err != nil {
		t.Fatal(err)
	}
}
