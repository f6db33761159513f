package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

const sampleOutput = `goos: linux
BenchmarkKernelCost/ipv4-udp-64B-2         	      10	2659329182 ns/op	        31.00 xdp-pe-ns/pkt	         1.000 spread-xdp-pe-ns/pkt	        10.50 xdp-pe-added-ns/pkt	         0.5000 spread-xdp-pe-added-ns/pkt	       731.7 origin/pe-added-x	       236.7 origin/pe-total-x
--- BENCH: BenchmarkKernelCost/ipv4-udp-64B-2
    kernel_test.go:131: a log line
BenchmarkRealTraffic-2   	       2	2854659852 ns/op	   2252393 none-pps	     29235 spread-none-pps	   4194304 pe-sent-frames
BenchmarkStartup/100-interfaces-2        	       3	5320291050 ns/op	      3069 ready-ms
BenchmarkScrape/10000-series-2        	      10	  90397162 ns/op	        89.01 scrape-ms	         5.844 spread-scrape-ms	35523723 B/op	  599359 allocs/op
PASS
`

func TestParse(t *testing.T) {
	r := results{}
	r.parse(sampleOutput)
	for _, c := range []struct {
		name, unit string
		want       float64
	}{
		{"BenchmarkKernelCost/ipv4-udp-64B", "xdp-pe-added-ns/pkt", 10.5},
		{"BenchmarkKernelCost/ipv4-udp-64B", "origin/pe-added-x", 731.7},
		{"BenchmarkRealTraffic", "pe-sent-frames", 4194304},
		{"BenchmarkStartup/100-interfaces", "ready-ms", 3069},
		{"BenchmarkScrape/10000-series", "allocs/op", 599359},
		{"BenchmarkScrape/10000-series", "B/op", 35523723},
	} {
		if got, ok := r.get(c.name, c.unit); !ok || got != c.want {
			t.Errorf("%s %s = %v, %v; want %v", c.name, c.unit, got, ok, c.want)
		}
	}
	if len(r) != 4 {
		t.Errorf("parsed %d benchmarks, want 4: %v", len(r), r)
	}
}

func TestCell(t *testing.T) {
	r := results{}
	r.parse(sampleOutput)
	w := &reportWriter{r: r}
	for _, c := range []struct {
		name, unit string
		scale      float64
		diff       bool
		want       string
	}{
		{"BenchmarkKernelCost/ipv4-udp-64B", "xdp-pe-ns/pkt", 1, false, "31 ±1"},
		{"BenchmarkKernelCost/ipv4-udp-64B", "xdp-pe-added-ns/pkt", 1, true, "+10.5 ±0.5"},
		{"BenchmarkRealTraffic", "none-pps", 1e-6, false, "2.25 ±0.03"},
		{"BenchmarkScrape/10000-series", "scrape-ms", 1, false, "89.0 ±5.8"},
		{"BenchmarkStartup/100-interfaces", "ready-ms", 1, false, "3069"},
		{"BenchmarkStartup/1-interfaces", "ready-ms", 1, false, "–"},
	} {
		if got := w.cell(c.name, c.unit, c.scale, c.diff); got != c.want {
			t.Errorf("cell(%s, %s) = %q, want %q", c.name, c.unit, got, c.want)
		}
	}
}

func TestInteger(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 12582912: "12,582,912", -4096: "-4,096"} {
		if got := integer(v); got != want {
			t.Errorf("integer(%v) = %q, want %q", v, got, want)
		}
	}
}

// TestRenderPartial renders a report from a partial run: what was not
// measured shows as such, never as a met goal.
func TestRenderPartial(t *testing.T) {
	r := results{}
	r.parse(sampleOutput)
	var buf bytes.Buffer
	if err := render(&buf, r, machine{cpu: "test CPU", cpus: 2}, time.Minute, "10x", time.Minute); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"| kernel: packet-exporter within +10 ns of the trivial program (IPv4/UDP 64 B, XDP) | +10.5 ±0.5 ns | **no** |",
		"| scrape: 10k series under 100 ms | 89.0 ±5.8 ms | yes |",
		"| user space: peak RSS < 50 MiB |  | not measured |",
		"| 100 | – ms | **3069 ms** | – ms | – | – ms | – ms | – ms | – ms | – ms | – |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestRenderEvents renders the event-stream section and goals: a ring whose
// searches never lost at the full rate shows its rate as a lower bound.
func TestRenderEvents(t *testing.T) {
	r := results{}
	r.parse(`BenchmarkEventStream-2   	       2	16873367804 ns/op	   3418125 4MiB-zero-loss-events/s	     51634 spread-4MiB-zero-loss-events/s	   3418125 4MiB-max-events/s	         2.000 4MiB-lossless-at-max	         2.000 4MiB-searches	  16777216 4MiB-lossless-at-max-events	   1045748 1MiB-zero-loss-events/s	   1162810 1MiB-first-loss-events/s	         0 1MiB-lossless-at-max	         2.000 1MiB-searches	        14.00 windows	        14.00 exact-windows	  66091351 sent-frames	  66091351 counted-frames	  66091351 emitted-events	  56766567 delivered-events	   9324784 lost-events	         0 invalid-events
`)
	var buf bytes.Buffer
	if err := render(&buf, r, machine{cpu: "test CPU", cpus: 2}, time.Minute, "10x", time.Minute); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"| event stream (issue 5): delivered + lost = emitted, exactly, once drained (every window, the exporter's own metrics) | 14 of 14 windows exact; 56,766,567 delivered + 9,324,784 lost = 66,091,351 emitted | yes |",
		"records per second without loss, default 4 MiB ring (reference: ~3.9 M/s, METHODS.md) | ≥ 3.42 ±0.05 M/s | no target |",
		"| 4 MiB | 65,536 (6.55 M/s) | **≥ 3.42 ±0.05 M/s** | 3.42 M/s | 2 of 2 searches (16,777,216 records, none lost) | – |",
		"| 1 MiB | 16,384 (1.64 M/s) | **1.05 M/s** | – M/s | 0 of 2 searches | 1.16 M/s |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestRenderTCP renders the TCP throughput section and its goal: the
// default's hook as the benchmark recorded it, the ratios, and offloads
// that were off in every round.
func TestRenderTCP(t *testing.T) {
	r := results{}
	r.parse(`BenchmarkTCPThroughput-2   	      10	25000000000 ns/op	        10.00 none-Gbit/s	         0.5000 spread-none-Gbit/s	         0.1000 none-cpu-s/Gbit	         0.1500 none-machine-cpu-s/Gbit	         0.8000 none-retrans-%	        10.00 none-sender-gso-rounds	         0 none-receiver-gro-rounds	         9.800 default-Gbit/s	         0.9800 default-ratio	         0.0100 spread-default-ratio	         2.000 default-loss-%	         1.000 spread-default-loss-%	         1.057 default-counted/payload	         0.1050 default-cpu-s/Gbit	         1.050 default-cpu-ratio	         0.1600 default-machine-cpu-s/Gbit	         1.000 default-retrans-%	        10.00 default-sender-gso-rounds	         0 default-receiver-gro-rounds	        10.00 default-hook-tcx-rounds	         4.200 xdp-native-Gbit/s	         0.4200 xdp-native-ratio	        58.00 xdp-native-loss-%	         1.046 xdp-native-counted/payload	         0.1000 xdp-native-retrans-%	         0 xdp-native-sender-gso-rounds	         0 xdp-native-receiver-gro-rounds	      1448 mss-bytes	        10.00 rounds	         2.000 round-s
`)
	var buf bytes.Buffer
	if err := render(&buf, r, machine{cpu: "test CPU", cpus: 2}, time.Minute, "10x", time.Minute); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"| real TCP: the default configuration costs ≤ 5 % of the throughput without a program (aim 2 %) | 2.0 ±1.0 % (throughput ratio 0.980 ±0.010; CPU per Gbit ×1.05; counted through tcx (10 of 10 rounds)) | yes |",
		"| no program (no exporter) | – | **10.0 ±0.5** | **1** | 0.100 | 1 | 0.150 | – | 0.800 % | on / off |",
		"| default configuration (no hook key set) | tcx (10 of 10 rounds) | **9.80** | **0.980 ±0.010** | 0.105 | 1.05 | 0.160 | 1.06 | 1 % | on / off |",
		"| `ingress.hook: xdp`, `xdp.mode: native` | xdp native | **4.20** | **0.420** | – | – | – | 1.05 | 0.100 % | off / off |",
		"| `ingress.hook: tcx` | tcx | **–** | **–** | – | – | – | – | – % | – / – |",
		"Segments of 1,448 payload bytes\n(the sender's MSS) make frames of 1,514 bytes",
		"turns segmentation\noffload off on its peer",
		"(timestamps on): 1.046; each",
		"## 3. TCP throughput (`BenchmarkTCPThroughput`)",
		"## 7. Start-up",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestRenderTrafficHooks renders the real-traffic section with both hooks:
// the tcx rows, their loss against the trivial tcx program as a goal, and
// exactness through each hook.
func TestRenderTrafficHooks(t *testing.T) {
	r := results{}
	r.parse(`BenchmarkRealTraffic-2   	       2	2854659852 ns/op	   2000000 none-pps	   1800000 trivial-pps	   1700000 pe-pps	         5.000 pe-loss-vs-trivial-%	   1500000 trivial-tcx-pps	   1450000 pe-tcx-pps	         3.000 pe-tcx-loss-vs-trivial-%	        23.50 pe-tcx-run-added-ns	        10.00 rounds	        10.00 exact-rounds	   1000 sent-frames	   1000 veth-rx-frames	         0 dropped-frames	    200 pe-sent-frames	    200 pe-counted-frames	  12800 pe-counted-bytes	    200 pe-veth-rx-frames	    200 pe-tcx-sent-frames	    200 pe-tcx-counted-frames	  12800 pe-tcx-counted-bytes	    200 pe-tcx-veth-rx-frames	  12800 pe-tcx-veth-rx-bytes
`)
	var buf bytes.Buffer
	if err := render(&buf, r, machine{cpu: "test CPU", cpus: 2}, time.Minute, "10x", time.Minute); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"| real traffic, tcx ingress: throughput loss against the trivial tcx program ≤ 10 % | 3 % | yes |",
		"| real traffic: counts exact (frames sent = counted by packet-exporter = the veth's counters) | 10 of 10 rounds exact; XDP native: 200 frames sent while packet-exporter counted, 200 counted; tcx ingress: 200 frames sent while packet-exporter counted, 200 counted | yes |",
		"| trivial `TCX_NEXT`, tcx ingress | 1.5 | – | – |",
		"| **packet-exporter − trivial, tcx** | loss 3 % | – | +23.5 |",
		"While packet-exporter counted through tcx ingress: 200 frames sent, 200 counted by packet-exporter\n(12,800 bytes, 64 per frame), 200 in B's `rx_packets` (12,800 `rx_bytes`).\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestRenderLiveSummary renders the live view's summary in the scrape
// section: its cost per poll next to the full snapshot's, and nothing when
// the run did not measure it.
func TestRenderLiveSummary(t *testing.T) {
	for _, c := range []struct {
		name, output string
		want         []string
		absent       string
	}{
		{"measured", liveSummaryOutput, []string{
			"`BenchmarkLiveSummary`, issue 28",
			"1,000 counted\ninterfaces",
			"the summary lists the 22 busy interfaces",
			"| summary, `/api/v1/live?view=summary` | 24,816 B | **3.32 ±2.52 ms** | **0.103 ±0.099** | 16,301 | 6.05 MiB |",
			"| full snapshot, `/api/v1/live` | 1,102,054 B | 31.0 ±2.2 ms | 1 | 120,970 | 15.0 MiB |",
		}, ""},
		{"not measured", sampleOutput, nil, "view=summary"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := results{}
			r.parse(c.output)
			var buf bytes.Buffer
			if err := render(&buf, r, machine{cpu: "test CPU", cpus: 2}, time.Minute, "10x", time.Minute); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			for _, want := range c.want {
				if !strings.Contains(out, want) {
					t.Errorf("report lacks %q:\n%s", want, out)
				}
			}
			if c.absent != "" && strings.Contains(out, c.absent) {
				t.Errorf("report has %q, from a run that did not measure it", c.absent)
			}
		})
	}
}
