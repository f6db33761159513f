package e2e

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/e2e/internal/harness"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// Names of the traffic instruments, in OTLP and on /metrics.
const (
	packetsMetric = "packet_exporter.network.packets"
	bytesMetric   = "packet_exporter.network.io"
	packetsProm   = "packet_exporter_network_packets_total"
	bytesProm     = "packet_exporter_network_io_bytes_total"
	exportsProm   = "packet_exporter_otlp_exports_total"
)

// Timing of the exporter under test, short so that the suite stays fast.
const (
	interval = time.Second
	timeout  = 2 * time.Second
)

// bins holds the binaries under test, built once per test binary by the first
// test that needs them (so that a run without root builds nothing).
var bins struct {
	once sync.Once
	b    harness.Binaries
	err  error
}

func TestMain(m *testing.M) {
	os.Exit(testexporter.Run(m))
}

// binaries returns the binaries under test, building them on first use. It
// skips the test without root (fails it under CI=true).
func binaries(t *testing.T) harness.Binaries {
	t.Helper()
	testenv.RequireRoot(t)
	if _, err := exec.LookPath("ip"); err != nil {
		testenv.Skip(t, "the ip command (iproute2) is needed: %v", err)
	}
	bins.once.Do(func() {
		bins.b, bins.err = harness.Build()
		if bins.err != nil {
			return
		}
		fmt.Fprintf(os.Stderr, "e2e: packet-exporter built and the collector ready in %v\n", bins.b.Took.Round(time.Second))
		logDistribution(bins.b.Collector)
		if ok, msg := harness.OTLPSupported(bins.b.Exporter, t.TempDir()); !ok {
			bins.err = fmt.Errorf("packet-exporter --check-config rejects a configuration with an otlp section "+
				"(OTLP export not supported by this build?): %s", msg)
		}
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.b
}

// env is one test's world: the exporter's namespace A (with the collector) and
// a peer namespace B, joined by a quiet veth pair whose A end is counted.
type env struct {
	t    *testing.T
	bins harness.Binaries
	a, b *testenv.Netns
	pair *testenv.VethPair
	col  *harness.Collector

	sinks map[string]*testtraffic.UDPSink
	sent  traffic
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := newPairEnv(t)
	e.bins = binaries(t)
	e.col = harness.NewCollector(t, e.a, e.bins.Collector.Binary)
	return e
}

// newPairEnv is an env with its namespaces and quiet veth pair only: no
// binaries built, no test collector.
func newPairEnv(t *testing.T) *env {
	t.Helper()
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Queues: 2, DisableOffloads: true, Quiet: true})
	return &env{
		t:     t,
		a:     a,
		b:     b,
		pair:  pair,
		sinks: map[string]*testtraffic.UDPSink{},
		sent:  traffic{},
	}
}

// config is the exporter configuration of the tests: the pair's A end only,
// OTLP to the test collector every second, deployment.environment=e2e.
func (e *env) config() harness.ExporterConfig {
	return harness.ExporterConfig{
		Interfaces:   []string{e.pair.NameA},
		OTLPEndpoint: e.col.Endpoint,
		Interval:     interval,
		Timeout:      timeout,
		Resource:     map[string]string{"deployment.environment": "e2e"},
	}
}

func (e *env) startExporter(cfg harness.ExporterConfig) *harness.Exporter {
	e.t.Helper()
	return harness.StartExporter(e.t, e.a, e.bins.Exporter, cfg)
}

// flow is the attribute set of a traffic series on the counted interface.
type flow struct {
	Direction, Type, Transport string
}

func (f flow) String() string { return f.Direction + "/" + f.Type + "/" + f.Transport }

// totals are packet and byte counts per flow.
type totals struct{ Packets, Bytes int64 }

type traffic map[flow]totals

func (tr traffic) String() string {
	keys := slices.SortedFunc(maps.Keys(tr), func(a, b flow) int { return strings.Compare(a.String(), b.String()) })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d packets %d bytes", k, tr[k].Packets, tr[k].Bytes))
	}
	return "{" + strings.Join(parts, "; ") + "}"
}

func (tr traffic) clone() traffic { return maps.Clone(tr) }

// sendUDP sends count UDP datagrams of payload bytes across the pair: towards
// A for "receive", from A for "transmit", over IPv6 if v6. It adds them to
// what the test expects on the A end.
func (e *env) sendUDP(direction string, v6 bool, count, payload int) {
	e.t.Helper()
	from, to := e.b, e.a
	src, dst := e.pair.IPv4B.Addr(), e.pair.IPv4A.Addr()
	if v6 {
		src, dst = e.pair.IPv6B.Addr(), e.pair.IPv6A.Addr()
	}
	if direction == "transmit" {
		from, to, src, dst = e.a, e.b, dst, src
	}
	key := dst.String()
	sink, ok := e.sinks[key]
	if !ok {
		sink = testtraffic.ListenUDP(e.t, to, dst)
		e.sinks[key] = sink
	}
	size := testtraffic.SendUDP(e.t, from, src, netip.AddrPortFrom(dst, sink.Addr.Port()), count, payload)
	f := flow{Direction: direction, Type: "ipv4", Transport: "udp"}
	if v6 {
		f.Type = "ipv6"
	}
	t := e.sent[f]
	t.Packets += int64(count)
	t.Bytes += int64(count * size)
	e.sent[f] = t
}

// sendMixed sends UDP both ways over IPv4 and IPv6, with a distinct number of
// datagrams and a distinct size for each flow; scale multiplies the counts.
func (e *env) sendMixed(scale int) {
	e.t.Helper()
	e.sendUDP("receive", false, 11*scale, 100)
	e.sendUDP("transmit", false, 7*scale, 200)
	e.sendUDP("receive", true, 5*scale, 300)
	e.sendUDP("transmit", true, 3*scale, 50)
}

// flowOf returns the flow of a traffic data point of the counted interface.
func flowOf(attrs map[string]string) flow {
	return flow{Direction: attrs["network.io.direction"], Type: attrs["network.type"], Transport: attrs["network.transport"]}
}

// otlpTraffic sums what the collector received for the counted interface:
// with cumulative points, the latest point per series; with delta points, the
// sum of all. It also returns an error naming any series or point that does
// not belong there: another interface, unexpected attributes, or a point of
// the wrong kind.
func (e *env) otlpTraffic(r *harness.Received, temporality string) (traffic, error) {
	got := traffic{}
	var problems []string
	for _, metric := range []string{packetsMetric, bytesMetric} {
		points := r.Of(metric, nil)
		var mine []harness.Point
		for _, p := range points {
			if name := p.Attrs["network.interface.name"]; name != e.pair.NameA {
				problems = append(problems, fmt.Sprintf("%s point for interface %q", metric, name))
				continue
			}
			if len(p.Attrs) != 4 {
				problems = append(problems, fmt.Sprintf("%s point with attributes %v", metric, p.Attrs))
			}
			if p.Type != "Sum" || !p.Monotonic || p.Temporality != temporality || !p.IsInt {
				problems = append(problems, fmt.Sprintf("%s point is %s monotonic=%v temporality=%s int=%v, want a monotonic %s int Sum",
					metric, p.Type, p.Monotonic, p.Temporality, p.IsInt, temporality))
			}
			mine = append(mine, p)
		}
		values := map[flow]int64{}
		if temporality == "Delta" {
			for _, p := range mine {
				values[flowOf(p.Attrs)] += p.Int
			}
		} else {
			for _, p := range harness.Latest(mine) {
				values[flowOf(p.Attrs)] = p.Int
			}
		}
		for f, v := range values {
			t := got[f]
			if metric == packetsMetric {
				t.Packets = v
			} else {
				t.Bytes = v
			}
			got[f] = t
		}
	}
	if len(problems) > 0 {
		return got, fmt.Errorf("%d unexpected points, e.g. %s", len(problems), strings.Join(problems[:min(len(problems), 5)], "; "))
	}
	return got, nil
}

// promTraffic reads the counted interface's traffic counters from /metrics.
func (e *env) promTraffic(s testexporter.Metrics) traffic {
	got := traffic{}
	for _, name := range []string{packetsProm, bytesProm} {
		for _, smp := range s.Samples(name, map[string]string{"network_interface_name": e.pair.NameA}) {
			f := flow{smp.Labels["network_io_direction"], smp.Labels["network_type"], smp.Labels["network_transport"]}
			t := got[f]
			if name == packetsProm {
				t.Packets = int64(smp.Value)
			} else {
				t.Bytes = int64(smp.Value)
			}
			got[f] = t
		}
	}
	return got
}

// waitOTLP waits until what the collector received (from its output line
// `since` on) equals want exactly, and returns it.
func (e *env) waitOTLP(what string, since int, temporality string, want traffic) *harness.Received {
	e.t.Helper()
	var r *harness.Received
	testexporter.WaitFor(e.t, what, 30*time.Second, func() (bool, string) {
		r = e.col.Received().Since(since)
		got, err := e.otlpTraffic(r, temporality)
		if err != nil {
			e.t.Fatalf("%s: %v", what, err)
		}
		if !maps.Equal(got, want) {
			return false, fmt.Sprintf("collector has %v, want %v (%d lines received)", got, want, r.Lines)
		}
		return true, ""
	})
	return r
}

// waitProm waits until /metrics shows exactly want for the counted interface.
func (e *env) waitProm(exp *harness.Exporter, want traffic) testexporter.Metrics {
	e.t.Helper()
	var s testexporter.Metrics
	testexporter.WaitFor(e.t, "/metrics to show the traffic sent", 15*time.Second, func() (bool, string) {
		s = exp.MustScrape(e.t)
		if got := e.promTraffic(s); !maps.Equal(got, want) {
			return false, fmt.Sprintf("/metrics has %v, want %v", got, want)
		}
		return true, ""
	})
	return s
}

// checkCumulative checks the cumulative points r the collector received
// (checkResource, checkCumulativeStarts) and that /metrics of exp shows
// exactly want.
func (e *env) checkCumulative(r *harness.Received, exp *harness.Exporter, want traffic) {
	e.t.Helper()
	checkResource(e.t, r)
	checkCumulativeStarts(e.t, r)
	if got := e.promTraffic(exp.MustScrape(e.t)); !maps.Equal(got, want) {
		e.t.Errorf("/metrics has %v, want %v", got, want)
	}
}

// stopWithin sends exp SIGTERM and checks that it exits with status 0 within
// limit (what says what limit is); it returns how long the exit took.
func stopWithin(t *testing.T, exp *harness.Exporter, limit time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	if err := exp.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited, code := exp.Wait(limit + 10*time.Second)
	took := time.Since(start)
	if !exited {
		t.Fatalf("packet-exporter still running %v after SIGTERM", took)
	}
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if took > limit {
		t.Errorf("exit took %v after SIGTERM, more than %s (%v)", took, what, limit)
	}
	return took
}

// exports returns packet_exporter_otlp_exports_total for outcome, summed over
// its other labels, checking that failures carry an error_type.
func exports(t *testing.T, s testexporter.Metrics, outcome string) float64 {
	t.Helper()
	samples := s.Samples(exportsProm, map[string]string{"outcome": outcome})
	var sum float64
	for _, smp := range samples {
		if outcome == "failure" && smp.Labels["error_type"] == "" {
			t.Errorf("%s%v has no error_type label", exportsProm, smp.Labels)
		}
		sum += smp.Value
	}
	return sum
}

// checkResource checks the resource of every point received.
func checkResource(t *testing.T, r *harness.Received) {
	t.Helper()
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"service.name":           "packet-exporter",
		"service.version":        harness.ExporterVersion,
		"host.name":              host,
		"deployment.environment": "e2e",
	}
	if len(r.Points) == 0 {
		t.Fatal("no points received")
	}
	seen := map[string]bool{}
	for _, p := range r.Points {
		k := harness.AttrKey(p.Resource)
		if seen[k] {
			continue
		}
		seen[k] = true
		for key, v := range want {
			if p.Resource[key] != v {
				t.Errorf("resource attribute %s = %q, want %q (resource %v)", key, p.Resource[key], v, p.Resource)
			}
		}
	}
	if len(seen) != 1 {
		t.Errorf("%d different resources received, want 1", len(seen))
	}
}

// checkCumulativeStarts checks that each series kept one start time in all
// the points received (so no counter was reset) and that start <= time.
func checkCumulativeStarts(t *testing.T, r *harness.Received) {
	t.Helper()
	for _, metric := range []string{packetsMetric, bytesMetric} {
		starts := map[string]time.Time{}
		for _, p := range r.Of(metric, nil) {
			k := harness.AttrKey(p.Attrs)
			if p.Start.IsZero() || p.Time.Before(p.Start) {
				t.Errorf("%s{%s}: start %v, time %v", metric, k, p.Start, p.Time)
			}
			if s, ok := starts[k]; ok && !s.Equal(p.Start) {
				t.Errorf("%s{%s}: start time changed from %v to %v", metric, k, s, p.Start)
			}
			starts[k] = p.Start
		}
	}
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
