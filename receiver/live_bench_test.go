package receiver

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/bench/stats"
	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/attribution"
	"github.com/packet-exporter/packet-exporter/internal/live"
)

// The size of BenchmarkLiveSummary (issue 28): counted interfaces, of which
// the host's devices (liveSummaryDevices) and liveSummaryBusy veths carry
// traffic during the history, the other veths none (they counted frames
// before it).
const (
	liveSummaryInterfaces = 1000
	liveSummaryBusy       = 20
)

// liveSummaryDevices are the host's physical devices of BenchmarkLiveSummary.
var liveSummaryDevices = []string{"eth0", "eth1"}

// liveClass is a traffic class of BenchmarkLiveSummary's interfaces: its
// entry, the size of its frames and its share of the interface's frames.
type liveClass struct {
	entry int
	size  uint64
	share float64
}

// classEntry is the entry of the traffic class of a network type and
// transport.
func classEntry(networkType, transport string) int {
	entry, ok := bpf.ClassEntry(networkType, transport)
	if !ok {
		panic("no traffic class " + networkType + "/" + transport)
	}
	return entry
}

// The traffic classes of a pod's veth and of a host device, each way: a
// few, as such interfaces carry.
var (
	vethClasses = []liveClass{
		{classEntry("ipv4", "tcp"), 900, 0.8},
		{classEntry("ipv4", "udp"), 120, 0.15},
		{classEntry("ipv4", "icmp"), 98, 0.01},
		{classEntry("arp", "none"), 60, 0.04},
	}
	deviceClasses = []liveClass{
		{classEntry("ipv4", "tcp"), 1200, 0.6},
		{classEntry("ipv4", "udp"), 300, 0.15},
		{classEntry("ipv4", "icmp"), 98, 0.01},
		{classEntry("ipv6", "tcp"), 1000, 0.15},
		{classEntry("ipv6", "udp"), 200, 0.05},
		{classEntry("ipv6", "icmpv6"), 86, 0.01},
		{classEntry("arp", "none"), 60, 0.02},
		{classEntry("other", "none"), 64, 0.01},
	}
)

// liveInterface is one interface of BenchmarkLiveSummary: its slot, its
// classes and its mean rate in frames per second each way (0: idle).
type liveInterface struct {
	slot    int
	classes []liveClass
	rate    float64
}

// count adds frames to li's counters in direction d, split among its
// classes by their shares, as the programs count them.
func (li liveInterface) count(fake *fakeCounters, d bpf.Direction, frames float64) {
	block := &fake.blocks[bpf.BlockIndex(li.slot, d)]
	bounds := bpf.BucketBounds()
	for _, c := range li.classes {
		packets := uint64(frames * c.share)
		block.Classes[c.entry].Packets += packets
		block.Classes[c.entry].Bytes += packets * c.size
		bucket, _ := slices.BinarySearch(bounds, float64(c.size)) // the first bound ≥ size, or the last bucket
		block.Buckets[bucket] += packets
	}
}

// liveSummaryReceiver returns a Receiver counting liveSummaryInterfaces
// interfaces (the devices, then veths with the pods attribution finds behind
// them) behind fake counters, with what each counted before, its
// interfaces, and the names of the busy ones.
func liveSummaryReceiver() (*Receiver, *fakeCounters, []liveInterface, []string) {
	ifs := make([]benchInterface, liveSummaryInterfaces)
	var busy []string
	for i := range ifs {
		if i < len(liveSummaryDevices) {
			ifs[i] = benchInterface{name: liveSummaryDevices[i], kind: attribution.KindDevice}
			busy = append(busy, ifs[i].name)
			continue
		}
		// Names and workloads as a CNI and a kubelet make them: a 15-byte
		// name, a deployment's pod and its container.
		app := fmt.Sprintf("app-%03d", i/4)
		ifs[i] = benchInterface{name: fmt.Sprintf("cali%011x", uint64(i)*0x9e3779b97f4a7c15>>20), kind: attribution.KindVeth,
			workload: attribution.Workload{ContainerName: app, PodName: fmt.Sprintf("%s-7d4b9c8f6d-%05d", app, i),
				PodNamespace: fmt.Sprintf("team-%02d", i%17), PodUID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}}
	}
	r, fake := newBenchReceiver(config.Default(), ifs)
	// The busy veths spread over the interfaces.
	every := (liveSummaryInterfaces - len(liveSummaryDevices)) / liveSummaryBusy
	lis := make([]liveInterface, len(ifs))
	for i, bi := range ifs {
		li := liveInterface{slot: r.att.attached[i+1].slot, classes: vethClasses}
		switch v := i - len(liveSummaryDevices); {
		case bi.kind == attribution.KindDevice:
			li.classes, li.rate = deviceClasses, 50000
		case v%every == 0 && v/every < liveSummaryBusy:
			li.rate = float64(1000 * (1 + v/every))
			busy = append(busy, bi.name)
		}
		// What it counted before the history began.
		for _, d := range []bpf.Direction{bpf.Receive, bpf.Transmit} {
			li.count(fake, d, float64(10000+37*i))
		}
		lis[i] = li
	}
	slices.Sort(busy)
	return r, fake, lis, busy
}

// BenchmarkLiveSummary measures what an open page costs per poll with the
// summary (issue 28): liveSummaryInterfaces counted interfaces, the host's
// two devices and liveSummaryBusy veths busy, the others idle, the history
// full (live.HistoryLength windows sampled from the counters, their rates
// varying from second to second). One GET of /api/v1/live?view=summary (what
// the page polls every second) takes turns with one GET of the full
// snapshot, /api/v1/live (what it polled before: a collection), the order
// alternating, served as the binary serves them (serveReceiver). It reports
// the median of each, the median of their ratio per turn, the bodies'
// bytes, and the allocations of the whole process (server and client) per
// request, and the median time of one of the history's samples (its cost
// every second, whether a page is open or not); it fails unless the
// summary lists exactly the busy interfaces, each with its trend.
func BenchmarkLiveSummary(b *testing.B) {
	r, fake, ifs, busy := liveSummaryReceiver()
	history := live.NewHistory(r.LiveSources())
	rng := rand.New(rand.NewPCG(28, 1000))
	start := time.Now().Add(-live.HistoryLength * live.HistoryInterval)
	var sampleMs stats.Samples // each second's sample, with or without a page open
	for s := range live.HistoryLength + 1 {
		for _, li := range ifs {
			if li.rate == 0 {
				continue
			}
			for _, d := range []bpf.Direction{bpf.Receive, bpf.Transmit} {
				li.count(fake, d, li.rate*(0.5+rng.Float64())) // half to one and a half times its mean
			}
		}
		// A ticker's jitter: the windows last about a second, not exactly
		// (as in the binary, whose rates are seldom whole numbers).
		jitter := time.Duration(rng.Int64N(int64(time.Millisecond))) - time.Millisecond/2
		began := time.Now()
		if err := history.Sample(start.Add(time.Duration(s)*live.HistoryInterval + jitter)); err != nil {
			b.Fatal(err)
		}
		sampleMs = append(sampleMs, float64(time.Since(began))/float64(time.Millisecond))
	}
	base := serveReceiver(b, r, liveSummaryInterfaces*seriesPerInterface, history)
	client := &http.Client{Timeout: 30 * time.Second}
	const summaryPath = live.Path + "?view=summary"

	var summary live.Summary
	summaryBody := scrape(b, client, base+summaryPath)
	if err := json.Unmarshal(summaryBody, &summary); err != nil {
		b.Fatalf("summary: %v", err)
	}
	var listed []string
	for _, row := range summary.Interfaces {
		listed = append(listed, row.Name)
		if len(row.Trend) != live.TrendLength {
			b.Errorf("summary: %s has a trend of %d windows, want %d", row.Name, len(row.Trend), live.TrendLength)
		}
	}
	if !slices.Equal(listed, busy) || summary.Idle != liveSummaryInterfaces-len(busy) {
		b.Fatalf("summary lists %d interfaces %v and %d idle; want the %d busy %v and %d idle",
			len(listed), listed, summary.Idle, len(busy), busy, liveSummaryInterfaces-len(busy))
	}
	if !slices.Equal(summary.Host.Devices, liveSummaryDevices) || len(summary.Host.History.Rates) != live.HistoryLength || len(summary.Host.Protocols) == 0 {
		b.Fatalf("summary: host devices %v, %d windows, %d protocols", summary.Host.Devices, len(summary.Host.History.Rates), len(summary.Host.Protocols))
	}
	var snap live.Snapshot
	fullBody := scrape(b, client, base+live.Path) // the first collection creates the series
	if err := json.Unmarshal(fullBody, &snap); err != nil || len(snap.Interfaces) != liveSummaryInterfaces {
		b.Fatalf("snapshot: %v, %d interfaces, want %d", err, len(snap.Interfaces), liveSummaryInterfaces)
	}

	var summaryMs, fullMs, ratio, summaryAllocs, fullAllocs, summaryAlloced, fullAlloced stats.Samples
	var before, after runtime.MemStats
	// timed GETs path, returning its time in milliseconds; the memory
	// statistics are read outside the time measured.
	timed := func(path string, allocs, alloced *stats.Samples) float64 {
		runtime.ReadMemStats(&before)
		start := time.Now()
		body := scrape(b, client, base+path)
		took := float64(time.Since(start)) / float64(time.Millisecond)
		runtime.ReadMemStats(&after)
		*allocs = append(*allocs, float64(after.Mallocs-before.Mallocs))
		*alloced = append(*alloced, float64(after.TotalAlloc-before.TotalAlloc))
		if path == summaryPath {
			summaryBody = body
		} else {
			fullBody = body
		}
		return took
	}
	i := 0
	for b.Loop() {
		var s, f float64
		if i%2 == 0 {
			s = timed(summaryPath, &summaryAllocs, &summaryAlloced)
			f = timed(live.Path, &fullAllocs, &fullAlloced)
		} else {
			f = timed(live.Path, &fullAllocs, &fullAlloced)
			s = timed(summaryPath, &summaryAllocs, &summaryAlloced)
		}
		i++
		summaryMs, fullMs, ratio = append(summaryMs, s), append(fullMs, f), append(ratio, s/f)
	}
	summaryMs.Report(b, "summary-ms")
	fullMs.Report(b, "full-ms")
	ratio.Report(b, "summary/full")
	b.ReportMetric(float64(len(summaryBody)), "summary-bytes")
	b.ReportMetric(float64(len(fullBody)), "full-bytes")
	b.ReportMetric(summaryAllocs.Median(), "summary-allocs")
	b.ReportMetric(fullAllocs.Median(), "full-allocs")
	b.ReportMetric(summaryAlloced.Median(), "summary-alloc-B")
	b.ReportMetric(fullAlloced.Median(), "full-alloc-B")
	b.ReportMetric(sampleMs.Median(), "sample-ms")
	b.ReportMetric(float64(len(listed)), "busy-interfaces")
	b.ReportMetric(float64(liveSummaryInterfaces), "interfaces")
}
