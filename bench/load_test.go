package bench

import (
	"bytes"
	"context"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// loadPhase is one phase of BenchmarkUserSpaceLoad.
type loadPhase struct {
	elapsed  time.Duration
	cpu      time.Duration
	sent     uint64
	scrapes  samples // latency of each scrape, ms
	failures int
}

// BenchmarkUserSpaceLoad runs the real packet-exporter binary in a test
// namespace, counting one end of a veth pair, and scrapes /metrics every
// second through two phases of equal length (-pe.load-duration, 45 s by
// default): idle, then maximal traffic (the XDP live-frames generator on
// every CPU). It reports the CPU time the exporter process used in each phase
// (from /proc/PID/stat: user + system, every thread), its peak resident set
// size over its whole life, the scrape latencies, and checks that every frame
// sent was counted: the exporter's count, the generator's and the veth's
// rx_packets must be equal. The kernel charges the counting programs to the
// CPU they run on in softirq context, not to the exporter, whose own work per
// scrape does not depend on the packet rate.
func BenchmarkUserSpaceLoad(b *testing.B) {
	testenv.RequireRoot(b)
	bin := exporterBinary(b)
	duration := *loadDuration
	if *smoke {
		duration = 2 * time.Second
	}
	for b.Loop() {
		a, bns, pair := testenv.NewNetnsPair(b, testenv.VethOptions{Queues: 2, Quiet: true})
		gen := newGenerator(b, a, pair.IndexA, trafficFrame)

		// The live-frames generator needs native XDP on the receiving veth.
		p := startExporter(b, bns, bin, `"`+pair.NameB+`"`, "ingress:\n  hook: xdp\nxdp:\n  mode: native\n")
		p.waitReady(b, 30*time.Second)
		p.waitDropsCounted(b) // its start-up (the kernel's BTF) is not what is measured
		p.checkIsExporter(b)
		client := bns.HTTPClient()
		before := linkStats(b, bns, pair.NameB)

		idle := runLoadPhase(b, p, client, duration, nil)
		var cpus []int
		for cpu := range runtime.NumCPU() {
			cpus = append(cpus, cpu)
		}
		busy := runLoadPhase(b, p, client, duration, func(until time.Time) uint64 {
			// 2^21 frames per call: about a second per CPU at full rate.
			repeat := uint32(1 << 21)
			if *smoke {
				repeat = 1 << 16
			}
			sent, _ := gen.send(b, cpus, repeat, until)
			return sent
		})
		peak, current := p.memory(b)

		after := waitRxSettled(b, bns, pair.NameB)
		body, err := testexporter.Get(client, p.URL+"/metrics")
		if err != nil {
			b.Fatal(err)
		}
		c := parseCounts(b, bytes.NewReader(body), pair.NameB, "receive")
		rx := after.RxPackets - before.RxPackets
		if c.packets != busy.sent || rx != busy.sent || c.bytes != busy.sent*uint64(len(trafficFrame)) {
			b.Errorf("sent %d frames; packet-exporter counted %d (%d bytes), veth rx_packets +%d", busy.sent, c.packets, c.bytes, rx)
		}
		p.stop(b)

		b.ReportMetric(idle.elapsed.Seconds(), "idle-s")
		b.ReportMetric(idle.cpu.Seconds(), "idle-cpu-s")
		b.ReportMetric(busy.elapsed.Seconds(), "load-s")
		b.ReportMetric(busy.cpu.Seconds(), "load-cpu-s")
		b.ReportMetric(float64(busy.sent)/busy.elapsed.Seconds(), "load-pps")
		b.ReportMetric(float64(busy.sent), "load-sent-frames")
		b.ReportMetric(float64(c.packets), "load-counted-frames")
		b.ReportMetric(float64(rx), "load-veth-rx-frames")
		b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MiB")
		b.ReportMetric(float64(current)/(1<<20), "rss-MiB")
		report(b, idle.scrapes, "idle-scrape-ms")
		report(b, busy.scrapes, "load-scrape-ms")
		b.ReportMetric(float64(len(idle.scrapes)+len(busy.scrapes)), "scrapes")
		b.ReportMetric(float64(idle.failures+busy.failures), "failed-scrapes")
		if idle.failures+busy.failures > 0 {
			b.Errorf("%d scrapes failed", idle.failures+busy.failures)
		}
	}
}

// runLoadPhase scrapes /metrics every second for duration while traffic (if
// not nil) runs until the same deadline, and measures the exporter's CPU time
// over the phase.
func runLoadPhase(b *testing.B, p *exporterProcess, client *http.Client, duration time.Duration, traffic func(until time.Time) uint64) loadPhase {
	b.Helper()
	var ph loadPhase
	cpu0 := p.cpuTime(b)
	start := time.Now()
	until := start.Add(duration)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			t := time.Now()
			_, err := testexporter.Get(client, p.URL+"/metrics")
			ms := float64(time.Since(t)) / float64(time.Millisecond)
			mu.Lock()
			if err != nil {
				ph.failures++
				b.Logf("scrape: %v", err)
			} else {
				ph.scrapes = append(ph.scrapes, ms)
			}
			mu.Unlock()
		}
	}()
	if traffic != nil {
		ph.sent = traffic(until)
	}
	if d := time.Until(until); d > 0 {
		time.Sleep(d)
	}
	ph.elapsed = time.Since(start)
	ph.cpu = p.cpuTime(b) - cpu0
	cancel()
	wg.Wait()
	return ph
}
