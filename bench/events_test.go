package bench

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// eventRingSizes are the ring buffers BenchmarkEventStream compares: the
// default (4 MiB) and a quarter of it. Drained every 10 ms (the default), a
// ring of R bytes holds at most R/64 records (56 bytes and an 8-byte header)
// between two drains: 6.5 M records/s for 4 MiB, 1.6 M/s for 1 MiB.
func eventRingSizes() []int {
	return []int{config.Default().Events.RingSize, 1 << 20}
}

// ringLabel names a ring size in metric units: "4MiB", "256KiB".
func ringLabel(size int) string {
	if size%(1<<20) == 0 {
		return fmt.Sprintf("%dMiB", size>>20)
	}
	return fmt.Sprintf("%dKiB", size>>10)
}

// eventWindow is how long traffic runs at one offered rate (at least: the
// generator's calls in progress finish).
func eventWindow() time.Duration {
	if *smoke {
		return 200 * time.Millisecond
	}
	return 2 * time.Second
}

// eventBisections is how many rates the search tries below a rate that lost
// records: each halves the interval between the highest rate without loss
// and the lowest with.
func eventBisections() int {
	if *smoke {
		return 1
	}
	return 5
}

// eventRepeat is the generator's frames (unpaced) or runs (paced, mostly
// dropped at once) per call: a few hundred milliseconds each, so that the
// fixed cost of a call (~16-25 ms without frames, the CPU idle) stays small.
func eventRepeat(paced bool) uint32 {
	switch {
	case *smoke && paced:
		return 1 << 20
	case *smoke:
		return 1 << 16
	case paced:
		return 1 << 22
	default:
		return 1 << 21
	}
}

// eventRun is what one window of traffic at one offered rate produced.
type eventRun struct {
	elapsed time.Duration
	cpu     time.Duration // the exporter process's CPU time, until the ring was drained
	sent    uint64        // frames sent, counted by the generator
	counted uint64        // frames packet-exporter counted (its packets counter)
	eventCounts
	invalid uint64
}

// rate returns n per second of the window.
func (r eventRun) rate(n uint64) float64 { return float64(n) / r.elapsed.Seconds() }

// eventSearch is the outcome of one search for the highest rate without loss.
type eventSearch struct {
	zeroLoss  float64 // records delivered per second in the fastest window without loss; 0 if none
	firstLoss float64 // records emitted per second in the slowest window with loss; NaN if none
	max       float64 // records emitted per second at the generator's full rate
	cpuPerRec float64 // the exporter's CPU time per record delivered at the full rate, ns
	runs      []eventRun
}

// BenchmarkEventStream finds the highest rate of event records packet-exporter
// sustains without losing any, on this machine. An XDP live-frames generator on
// every CPU sends 64-byte IPv4/UDP frames out of veth end A; end B is counted
// by the real packet-exporter binary (XDP native mode) with the event stream at
// sample rate 1 (a record per frame) and flow metrics on, everything else the
// defaults: the reader drains the ring every 10 ms without wake-ups, decodes
// each record and hands them to the workers, which add them to the flow table.
// The frames are received on the CPU that sends them, so the programs, the
// exporter's reader and workers share both CPUs with the generator.
//
// For each ring size (eventRingSizes; the order of the set-ups rotates per
// iteration, each with a fresh exporter process) the search first runs a window at the
// generator's full rate. If nothing was lost, that rate is the result: the
// producer, not the stream, is the limit. Otherwise it bisects between 0 and
// that rate (eventBisections windows) with the generator paced per CPU
// (generator_paced), and keeps the fastest window without loss. A paced
// generator still keeps its CPU busy (it drops the runs between two frames),
// so the reader competes for the CPUs at every rate as at the full rate: a
// conservative bound. Every window lasts eventWindow.
//
// In every iteration the same exporter with the stream off also runs a window
// at the generator's full rate: the frames per second without the stream,
// and from both full rates the CPU time the stream adds per packet (with
// every CPU saturated: CPUs / rate), kernel and user space together.
//
// Exactness, in every window, from the exporter's own metrics: the records
// emitted (the kernel's count) must equal the frames sent and the frames
// packet-exporter counted (N = 1), and once the ring is drained delivered +
// lost = emitted, with no record that fails to decode.
func BenchmarkEventStream(b *testing.B) {
	testenv.RequireRoot(b)
	bin := exporterBinary(b)
	a, bns, pair := testenv.NewNetnsPair(b, testenv.VethOptions{Queues: 2, Quiet: true})
	gen := newGenerator(b, a, pair.IndexA, trafficFrame)
	var cpus []int
	for cpu := range runtime.NumCPU() {
		cpus = append(cpus, cpu)
	}

	rings := eventRingSizes()
	setups := append([]int{0}, rings...) // 0: the stream off
	zeroLoss, firstLoss, maxRate, cpuPerRec := map[int]samples{}, map[int]samples{}, map[int]samples{}, map[int]samples{}
	losslessAtMax := map[int]int{}          // searches whose full rate lost nothing
	losslessAtMaxEvents := map[int]uint64{} // the records they delivered
	var offRate, addedNs samples
	var total eventTotals
	iteration := 0
	for b.Loop() {
		full := map[int]float64{}
		for k := range setups {
			ring := setups[(k+iteration)%len(setups)]
			// The live-frames generator needs native XDP on the receiving veth.
			extra := "ingress:\n  hook: xdp\nxdp:\n  mode: native\n"
			if ring > 0 {
				extra += fmt.Sprintf("events:\n  enabled: true\n  sample_rate: 1\n  ring_size: %d\n  drain_interval: 10ms\nflows:\n  enabled: true\n", ring)
			}
			p := startExporter(b, bns, bin, `"`+pair.NameB+`"`, extra)
			p.waitReady(b, 30*time.Second)
			p.waitDropsCounted(b) // its start-up (the kernel's BTF) is not what is measured
			p.checkIsExporter(b)
			t := &eventTarget{p: p, client: bns.HTTPClient(), iface: pair.NameB}
			if ring == 0 {
				full[0] = runStreamOff(b, t, gen, cpus)
				offRate = append(offRate, full[0])
				b.Logf("stream off: full rate %.2f M frames/s", full[0]/1e6)
				p.stop(b)
				continue
			}
			s := searchZeroLoss(b, t, gen, cpus)
			p.stop(b)
			full[ring] = s.max
			b.Logf("ring %s: full rate %.2f M records/s, %d lost; highest rate without loss %.2f M/s; exporter CPU %.0f ns per record",
				ringLabel(ring), s.max/1e6, s.runs[0].lost, s.zeroLoss/1e6, s.cpuPerRec)
			zeroLoss[ring] = append(zeroLoss[ring], s.zeroLoss)
			maxRate[ring] = append(maxRate[ring], s.max)
			cpuPerRec[ring] = append(cpuPerRec[ring], s.cpuPerRec)
			if math.IsNaN(s.firstLoss) {
				losslessAtMax[ring]++
				losslessAtMaxEvents[ring] += s.runs[0].delivered
			} else {
				firstLoss[ring] = append(firstLoss[ring], s.firstLoss)
			}
			for _, r := range s.runs {
				total.add(r)
			}
		}
		// CPU time per packet with both CPUs saturated, stream on (default
		// ring) against off.
		n := float64(len(cpus))
		addedNs = append(addedNs, n*1e9/full[rings[0]]-n*1e9/full[0])
		iteration++
	}
	report(b, offRate, "off-max-frames/s")
	report(b, addedNs, "on-added-cpu-ns/pkt")
	for _, ring := range rings {
		l := ringLabel(ring)
		report(b, zeroLoss[ring], l+"-zero-loss-events/s")
		report(b, maxRate[ring], l+"-max-events/s")
		report(b, cpuPerRec[ring], l+"-cpu-ns/event")
		if len(firstLoss[ring]) > 0 {
			report(b, firstLoss[ring], l+"-first-loss-events/s")
			b.ReportMetric(float64(len(firstLoss[ring])), l+"-lossy-searches")
		}
		b.ReportMetric(float64(losslessAtMax[ring]), l+"-lossless-at-max")
		b.ReportMetric(float64(losslessAtMaxEvents[ring]), l+"-lossless-at-max-events")
		b.ReportMetric(float64(len(zeroLoss[ring])), l+"-searches")
	}
	total.report(b)
}

// eventTarget is the exporter process whose event stream is measured, and
// the interface it counts.
type eventTarget struct {
	p      *exporterProcess
	client *http.Client
	iface  string
}

// searchZeroLoss runs the search of BenchmarkEventStream on one exporter.
func searchZeroLoss(b *testing.B, t *eventTarget, gen *generator, cpus []int) eventSearch {
	b.Helper()
	s := eventSearch{firstLoss: math.NaN()}
	run := func(total float64) eventRun {
		r := runEvents(b, t, gen, cpus, total/float64(len(cpus)))
		s.runs = append(s.runs, r)
		if r.lost == 0 {
			s.zeroLoss = math.Max(s.zeroLoss, r.rate(r.delivered))
		} else if math.IsNaN(s.firstLoss) || r.rate(r.emitted) < s.firstLoss {
			s.firstLoss = r.rate(r.emitted)
		}
		return r
	}
	full := run(0)
	s.max = full.rate(full.emitted)
	s.cpuPerRec = float64(full.cpu.Nanoseconds()) / float64(full.delivered)
	if full.lost == 0 {
		return s
	}
	lo, hi := 0.0, s.max
	for range eventBisections() {
		mid := (lo + hi) / 2
		if r := run(mid); r.lost == 0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return s
}

// runEvents sends traffic for one window, perCPU frames per second on each
// CPU (0: as fast as each can), waits until the exporter has drained the
// ring, and returns what the window produced. It checks the window's counts.
func runEvents(b *testing.B, t *eventTarget, gen *generator, cpus []int, perCPU float64) eventRun {
	b.Helper()
	gen.pace(b, perCPU)
	before := t.events(b)
	cpu := t.p.cpuTime(b)
	sent, elapsed := gen.send(b, cpus, eventRepeat(perCPU > 0), time.Now().Add(eventWindow()))
	after := t.waitDrained(b, before.emitted+sent, before.counted+sent)
	r := eventRun{
		elapsed: elapsed,
		cpu:     t.p.cpuTime(b) - cpu,
		sent:    sent,
		counted: after.counted - before.counted,
		eventCounts: eventCounts{
			emitted:   after.emitted - before.emitted,
			lost:      after.lost - before.lost,
			delivered: after.delivered - before.delivered,
		},
		invalid: after.invalid - before.invalid,
	}
	if r.counted != sent || r.emitted != sent || r.delivered+r.lost != r.emitted || r.invalid != 0 {
		b.Errorf("event stream, %.0f frames/s per CPU offered: %d frames sent, %d counted, %d records emitted, %d delivered, %d lost, %d invalid",
			perCPU, sent, r.counted, r.emitted, r.delivered, r.lost, r.invalid)
	}
	return r
}

// runStreamOff sends traffic for one window at the generator's full rate to an
// exporter with the stream off, checks that it counted every frame and wrote
// no record, and returns the frames sent per second.
func runStreamOff(b *testing.B, t *eventTarget, gen *generator, cpus []int) float64 {
	b.Helper()
	gen.pace(b, 0)
	before := t.events(b)
	sent, elapsed := gen.send(b, cpus, eventRepeat(false), time.Now().Add(eventWindow()))
	after := t.waitDrained(b, 0, before.counted+sent)
	if counted := after.counted - before.counted; counted != sent || after.emitted != 0 {
		b.Errorf("event stream off: %d frames sent, %d counted, %d records emitted", sent, counted, after.emitted)
	}
	return float64(sent) / elapsed.Seconds()
}

// exporterEvents are the exporter's event-stream counters and its count of
// frames received on one interface, all from its metrics.
type exporterEvents struct {
	eventCounts
	invalid, counted uint64
}

// events scrapes the exporter and returns its event-stream totals.
func (t *eventTarget) events(tb testing.TB) exporterEvents {
	tb.Helper()
	body, err := testexporter.Get(t.client, t.p.URL+"/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	families := parseFamilies(tb, bytes.NewReader(body))
	var ev exporterEvents
	for _, family := range families {
		var v *uint64
		switch family.GetName() {
		case "packet_exporter_events_emitted_total":
			v = &ev.emitted
		case "packet_exporter_events_lost_total":
			v = &ev.lost
		case "packet_exporter_events_delivered_total":
			v = &ev.delivered
		case "packet_exporter_events_invalid_total":
			v = &ev.invalid
		default:
			continue
		}
		for _, m := range family.GetMetric() {
			*v += uint64(m.GetCounter().GetValue())
		}
	}
	ev.counted = countsOf(families, t.iface, "receive").packets
	return ev
}

// waitDrained waits (up to 2 s) until the exporter has counted at least
// counted frames, the kernel has emitted at least emitted records and the
// reader has accounted for all of them (delivered + lost = emitted: the first
// drain after the traffic stopped), and returns the totals then.
func (t *eventTarget) waitDrained(tb testing.TB, emitted, counted uint64) exporterEvents {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		ev := t.events(tb)
		if ev.counted >= counted && ev.emitted >= emitted && ev.delivered+ev.lost >= ev.emitted || time.Now().After(deadline) {
			return ev
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// eventTotals accumulate the counts of every window of BenchmarkEventStream.
type eventTotals struct {
	windows, exactWindows, lossyWindows int
	sent, counted                       uint64
	eventCounts
	invalid uint64
}

func (t *eventTotals) add(r eventRun) {
	t.windows++
	if r.counted == r.sent && r.emitted == r.sent && r.delivered+r.lost == r.emitted && r.invalid == 0 {
		t.exactWindows++
	}
	if r.lost > 0 {
		t.lossyWindows++
	}
	t.sent += r.sent
	t.counted += r.counted
	t.emitted += r.emitted
	t.lost += r.lost
	t.delivered += r.delivered
	t.invalid += r.invalid
}

func (t *eventTotals) report(b *testing.B) {
	reportCounts(b, map[string]uint64{
		"windows": uint64(t.windows), "exact-windows": uint64(t.exactWindows), "lossy-windows": uint64(t.lossyWindows),
		"sent-frames": t.sent, "counted-frames": t.counted,
		"emitted-events": t.emitted, "delivered-events": t.delivered, "lost-events": t.lost, "invalid-events": t.invalid,
	})
}
