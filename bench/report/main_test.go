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
		"| 100 | – ms | **3069 ms** | 30.7 ms | – ms |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
