package receiver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"

	"github.com/packet-exporter/packet-exporter/bench/stats"
	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/attribution"
	"github.com/packet-exporter/packet-exporter/internal/live"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/server"
	"github.com/packet-exporter/packet-exporter/internal/telemetry"
)

// scrapeSeries are the sizes of the scrape benchmarks: traffic series
// (packet_exporter_network_packets_total and _io_bytes_total) on /metrics.
var scrapeSeries = []int{100, 1000, 10000}

// seriesPerInterface is how many traffic series one interface has at most:
// both directions, every traffic class, packets and bytes.
const seriesPerInterface = 2 * bpf.ClassCount * 2

// fakeCounters is a counterReader serving fixed counter values, as
// *bpf.Reader passes them on (summed over CPUs); it stands for the kernel
// maps so that the collection path can be measured at any size, without root.
type fakeCounters struct {
	blocks []bpf.Block
	stats  []uint64
	reads  atomic.Int64 // calls of Counters
}

func (f *fakeCounters) Counters(slots int, fn func([]bpf.Block) error) error {
	f.reads.Add(1)
	return fn(f.blocks[:2*slots])
}

func (f *fakeCounters) Stats() ([]uint64, error) { return f.stats, nil }

// Tunnels serves no tunnel counters: the scrape benchmarks' interfaces carry none.
func (f *fakeCounters) Tunnels(int, func(*bpf.TunnelCounts)) error { return nil }

// KernelRunCount stands for programs whose runs the kernel does not count.
func (f *fakeCounters) KernelRunCount() (uint64, error) { return 0, nil }

// benchReceiver returns a Receiver with as many synthetic interfaces as it
// takes to expose exactly series traffic series, behind a fake counter
// reader: everything from the counters on is the production code path.
func benchReceiver(series int) *Receiver { return benchReceiverWith(series, config.Default()) }

// benchReceiverWith is benchReceiver configured by cfg.
func benchReceiverWith(series int, cfg config.Config) *Receiver {
	interfaces := (series + seriesPerInterface - 1) / seriesPerInterface
	ifs := make([]benchInterface, interfaces)
	for i := range ifs {
		ifs[i] = benchInterface{name: fmt.Sprintf("bench%05d", i), kind: attribution.KindVeth}
	}
	r, fake := newBenchReceiver(cfg, ifs)
	classes := series / 2 // each observed class makes a packets and a bytes series
	for i := range interfaces {
		slot := r.att.attached[i+1].slot
		for _, d := range []bpf.Direction{bpf.Receive, bpf.Transmit} {
			block := &fake.blocks[bpf.BlockIndex(slot, d)]
			for class := range bpf.ClassCount {
				if classes == 0 {
					break
				}
				classes--
				packets := uint64(1000 + 7*class + i)
				block.Classes[class] = bpf.Value{Packets: packets, Bytes: 64 * packets}
				block.Buckets[0] += packets
			}
		}
	}
	return r
}

// benchInterface is one synthetic interface of newBenchReceiver.
type benchInterface struct {
	name     string
	kind     string // attribution.KindVeth...
	workload attribution.Workload
}

// newBenchReceiver returns a Receiver counting ifs behind fake counters,
// all zero: interface i has index i+1 and slot i. Everything from the
// counters on is the production code path.
func newBenchReceiver(cfg config.Config, ifs []benchInterface) (*Receiver, *fakeCounters) {
	fake := &fakeCounters{blocks: make([]bpf.Block, 2*len(ifs)), stats: make([]uint64, bpf.StatCount)}
	att := &attacher{
		cfg:       cfg,
		log:       zap.NewNop(),
		reader:    fake,
		slots:     newSlotSet(len(ifs)),
		slotName:  make([]string, len(ifs)),
		attached:  map[int]*attachment{},
		skipped:   map[int]skip{},
		missing:   map[string]bool{},
		failures:  map[failureKey]int64{},
		linkNames: map[int]string{},
		ready:     true,
	}
	// The collectors of the kernel counters and of the attachments: the
	// others read sources this benchmark has none of (netlink, the drop
	// counter, the event stream).
	r := &Receiver{att: att, traffic: newTrafficCollector(att, fake)}
	r.collectors = []registered{{"attribution", &attributionCollector{att: att}}, {"traffic", r.traffic}}
	start := time.Now()
	for i, bi := range ifs {
		slot, _ := att.slots.take()
		att.slotName[slot] = bi.name
		a := &attachment{start: start, name: bi.name, index: i + 1, slot: slot, attrs: newInterfaceAttributes(bi.name, nil),
			facts: linkFacts{kind: bi.kind, peerNetnsID: -1}, workload: bi.workload}
		att.setInfoLocked(a)
		att.attached[i+1] = a
	}
	return r, fake
}

// BenchmarkCollect measures one collection by the OpenTelemetry SDK (the
// receiver's callback reading the counters and observing every series, and
// the packet-size histogram producer) with a manual reader, without the
// Prometheus bridge.
func BenchmarkCollect(b *testing.B) {
	for _, n := range scrapeSeries {
		b.Run(fmt.Sprintf("%d-series", n), func(b *testing.B) {
			r := benchReceiver(n)
			reader := metric.NewManualReader(metric.WithProducer(r.PacketSizeProducer(false)))
			provider := metric.NewMeterProvider(metric.WithReader(reader),
				metric.WithCardinalityLimit(telemetry.CardinalityLimit(n)))
			b.Cleanup(func() { provider.Shutdown(context.Background()) })
			if _, err := r.RegisterMetrics(provider.Meter(metricdef.ScopeName), BuildInfo{Version: "bench"}); err != nil {
				b.Fatal(err)
			}
			var rm metricdata.ResourceMetrics
			if err := reader.Collect(context.Background(), &rm); err != nil { // first collection creates the series
				b.Fatal(err)
			}
			var took stats.Samples
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				if err := reader.Collect(context.Background(), &rm); err != nil {
					b.Fatal(err)
				}
				took = append(took, float64(time.Since(start))/float64(time.Millisecond))
			}
			b.ReportMetric(took.Median(), "collect-ms")
			b.ReportMetric(took.Spread(), "spread-collect-ms")
		})
	}
}

// BenchmarkScrape measures one GET /metrics over loopback HTTP, served the
// way the binary serves it (serveBench): internal/server's handler (gzip, as
// a Prometheus server asks for it), the receiver's callback. It reports the
// latency per scrape (median and spread) and, through ReportAllocs, the
// allocations of the whole process per scrape (server and client).
func BenchmarkScrape(b *testing.B) {
	for _, n := range scrapeSeries {
		b.Run(fmt.Sprintf("%d-series", n), func(b *testing.B) {
			base := serveBench(b, n)
			url := base + "/metrics"
			client := &http.Client{Timeout: 30 * time.Second}

			body := scrape(b, client, url) // the first scrape creates the series
			traffic, samples := countSeries(body)
			if traffic != n {
				b.Fatalf("/metrics has %d traffic series, want %d", traffic, n)
			}
			var took stats.Samples
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				scrape(b, client, url)
				took = append(took, float64(time.Since(start))/float64(time.Millisecond))
			}
			b.ReportMetric(took.Median(), "scrape-ms")
			b.ReportMetric(took.Spread(), "spread-scrape-ms")
			b.ReportMetric(float64(traffic), "traffic-series")
			b.ReportMetric(float64(samples), "samples")
			b.ReportMetric(float64(len(body)), "body-bytes")
		})
	}
}

// BenchmarkLive compares one GET of the live view's snapshot (/api/v1/live,
// the page's request every second) with one GET /metrics of the same
// exporter, taking turns (the order alternates), as the binary serves both
// (serveBench). It reports the median of each and their ratio.
func BenchmarkLive(b *testing.B) {
	for _, n := range scrapeSeries {
		b.Run(fmt.Sprintf("%d-series", n), func(b *testing.B) {
			base := serveBench(b, n)
			client := &http.Client{Timeout: 30 * time.Second}

			scrape(b, client, base+"/metrics") // the first collections create the series
			var snap live.Snapshot
			if err := json.Unmarshal(scrape(b, client, base+live.Path), &snap); err != nil || len(snap.Interfaces) == 0 {
				b.Fatalf("snapshot: %v, %d interfaces", err, len(snap.Interfaces))
			}
			var metricsTook, liveTook stats.Samples
			timed := func(path string, into *stats.Samples) {
				start := time.Now()
				scrape(b, client, base+path)
				*into = append(*into, float64(time.Since(start))/float64(time.Millisecond))
			}
			i := 0
			for b.Loop() {
				if i%2 == 0 {
					timed("/metrics", &metricsTook)
					timed(live.Path, &liveTook)
				} else {
					timed(live.Path, &liveTook)
					timed("/metrics", &metricsTook)
				}
				i++
			}
			b.ReportMetric(liveTook.Median(), "live-ms")
			b.ReportMetric(liveTook.Spread(), "spread-live-ms")
			b.ReportMetric(metricsTook.Median(), "paired-scrape-ms")
			b.ReportMetric(liveTook.Median()/metricsTook.Median(), "live/scrape")
			b.ReportMetric(float64(len(snap.Interfaces)), "interfaces")
		})
	}
}

// serveBench serves a receiver with n traffic series as the binary does
// (serveReceiver), without the live view's history.
func serveBench(b *testing.B, n int) string {
	b.Helper()
	return serveReceiver(b, benchReceiver(n), n, nil)
}

// serveReceiver serves r, which has at most n traffic series, as the binary
// does: the telemetry provider with its Prometheus bridge, the live view's
// manual reader and history (nil: no summaries) and the packet-size
// producer, behind internal/server on a loopback port. It returns the
// server's base URL.
func serveReceiver(b *testing.B, r *Receiver, n int, history *live.History) string {
	b.Helper()
	provider, err := telemetry.New(telemetry.Options{
		Version:          "bench",
		CardinalityLimit: telemetry.CardinalityLimit(n),
		Prometheus:       true,
		Manual:           true,
		Producer:         r.PacketSizeProducer,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { provider.Shutdown(context.Background()) })
	if _, err := r.RegisterMetrics(provider.Meter("bench"), BuildInfo{Version: "bench"}); err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(server.Options{Address: "127.0.0.1:0", Registry: provider.Registry,
		Live: live.NewSource(provider.Manual, history), Ready: r.Ready, Version: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve()
	b.Cleanup(func() { srv.Shutdown(context.Background()) })
	return "http://" + srv.Addr().String()
}

// scrape GETs url and returns the body, failing b unless the answer is 200 OK.
func scrape(b *testing.B, client *http.Client, url string) []byte {
	b.Helper()
	resp, err := client.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("scrape: %s: %s", resp.Status, body)
	}
	return body
}

// countSeries returns the traffic series and all samples of an exposition.
func countSeries(body []byte) (traffic, samples int) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		samples++
		if strings.HasPrefix(line, "packet_exporter_network_packets_total{") || strings.HasPrefix(line, "packet_exporter_network_io_bytes_total{") {
			traffic++
		}
	}
	return traffic, samples
}
