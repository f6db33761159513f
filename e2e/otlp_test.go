package e2e

import (
	"maps"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/e2e/internal/harness"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// TestOTLPMatchesTraffic: UDP of known sizes both ways over IPv4 and IPv6; the
// latest points the collector received equal the traffic exactly, series by
// series, with no other series, equal /metrics, and carry the resource.
func TestOTLPMatchesTraffic(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.col.Start()
	exp := e.startExporter(e.config())

	e.sendMixed(1)
	want := e.sent.clone()
	r := e.waitOTLP("the collector to receive the traffic sent", 0, "Cumulative", want)
	s := e.waitProm(exp, want)
	if got := e.promTraffic(s); !maps.Equal(got, want) {
		t.Errorf("/metrics has %v, the collector %v", got, want)
	}

	checkResource(t, r)
	checkCumulativeStarts(t, r)
	for metric, unit := range map[string]string{packetsMetric: "{packet}", bytesMetric: "By"} {
		for _, p := range r.Of(metric, nil) {
			if p.Unit != unit {
				t.Errorf("%s has unit %q, want %q", metric, p.Unit, unit)
				break
			}
		}
	}
	if n := exports(t, s, "failure"); n != 0 {
		t.Errorf("%v failed exports with the collector up all along", n)
	}
	if n := exports(t, s, "success"); n < 1 {
		t.Errorf("%v successful exports counted on /metrics", n)
	}
}

// TestCollectorStartedLate: the collector starts only after the exporter and
// the traffic; the data still arrives with the right totals.
func TestCollectorStartedLate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	exp := e.startExporter(e.config())
	e.sendMixed(1)
	want := e.sent.clone()
	e.waitProm(exp, want)
	testexporter.WaitFor(t, "a failed export to be counted", 15*time.Second, func() (bool, string) {
		n := exports(t, exp.MustScrape(t), "failure")
		return n >= 1, "no failure yet"
	})

	e.col.Start()
	r := e.waitOTLP("the late collector to receive the traffic sent", 0, "Cumulative", want)
	e.checkCumulative(r, exp, want)
}

// TestCollectorRestart: the collector goes away mid-run; /metrics keeps
// answering and counts failed exports; traffic sent meanwhile (including new
// series) arrives once the collector is back on the same port, with
// cumulative totals that lost nothing.
func TestCollectorRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.col.Start()
	exp := e.startExporter(e.config())

	e.sendUDP("receive", false, 13, 120)
	e.sendUDP("transmit", false, 4, 80)
	e.waitOTLP("the collector to receive the first traffic", 0, "Cumulative", e.sent.clone())
	before := exports(t, exp.MustScrape(t), "failure")

	e.col.Stop()
	testexporter.WaitFor(t, "failed exports to rise while the collector is down", 20*time.Second, func() (bool, string) {
		s, err := exp.Scrape()
		if err != nil {
			t.Fatalf("/metrics stopped answering while the collector is down: %v", err)
		}
		n := exports(t, s, "failure")
		return n > before, "failures still at " + ftoa(n)
	})

	// More of the same flows, and flows that did not exist yet.
	e.sendMixed(2)
	want := e.sent.clone()
	e.waitProm(exp, want)
	restartLine := e.col.Received().Lines

	e.col.Start()
	after := e.waitOTLP("the restarted collector to receive the totals", restartLine, "Cumulative", want)
	if after.Lines == restartLine {
		t.Fatal("nothing received after the restart")
	}
	e.checkCumulative(e.col.Received(), exp, want)
}

// TestDeltaTemporality: with temporality delta, the points are deltas that
// follow each other without gap or overlap, and their sum per series equals
// the traffic sent (and /metrics stays cumulative).
func TestDeltaTemporality(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.col.Start()
	cfg := e.config()
	cfg.Temporality = "delta"
	exp := e.startExporter(cfg)

	e.sendMixed(1)
	e.waitOTLP("the first deltas", 0, "Delta", e.sent.clone())
	e.sendMixed(3)
	want := e.sent.clone()
	r := e.waitOTLP("the deltas to add up to the traffic sent", 0, "Delta", want)

	// Two more exports must not add anything.
	exportsSoFar := r.Exports
	testexporter.WaitFor(t, "two more exports", 15*time.Second, func() (bool, string) {
		r = e.col.Received()
		return r.Exports >= exportsSoFar+2, "waiting"
	})
	got, err := e.otlpTraffic(r, "Delta")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("after two more exports the deltas add up to %v, want %v", got, want)
	}
	checkResource(t, r)

	// Each series' deltas are contiguous: each starts where the previous ended.
	for _, metric := range []string{packetsMetric, bytesMetric} {
		last := map[string]harness.Point{}
		for _, p := range r.Of(metric, nil) {
			k := harness.AttrKey(p.Attrs)
			if !p.Time.After(p.Start) {
				t.Errorf("%s{%s}: delta from %v to %v", metric, k, p.Start, p.Time)
			}
			if q, ok := last[k]; ok && !p.Start.Equal(q.Time) {
				t.Errorf("%s{%s}: delta starts at %v, previous one ended at %v", metric, k, p.Start, q.Time)
			}
			last[k] = p
		}
	}
	if got := e.promTraffic(exp.MustScrape(t)); !maps.Equal(got, want) {
		t.Errorf("/metrics has %v, want the cumulative %v", got, want)
	}
}

// TestShutdownFinalExport: with an interval far longer than the test, the
// only export is the one made on SIGTERM; it carries the exact totals, the
// process exits 0 within the export timeout, and nothing stays attached.
func TestShutdownFinalExport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.col.Start()
	cfg := e.config()
	cfg.Interval = time.Hour
	exp := e.startExporter(cfg)

	e.sendMixed(1)
	want := e.sent.clone()
	e.waitProm(exp, want)
	if r := e.col.Received(); len(r.Of(packetsMetric, nil)) != 0 {
		t.Fatalf("traffic exported before shutdown with a 1h interval (%d lines)", r.Lines)
	}

	took := stopWithin(t, exp, cfg.Timeout, "the export timeout")
	t.Logf("exited %v after SIGTERM", took)
	testenv.AssertNothingAttached(t, e.a, e.pair.NameA)

	r := e.waitOTLP("the final export", 0, "Cumulative", want)
	checkResource(t, r)
	exportsWithTraffic := map[int]bool{}
	for _, p := range r.Of(packetsMetric, nil) {
		exportsWithTraffic[p.Export] = true
	}
	if len(exportsWithTraffic) != 1 {
		t.Errorf("traffic arrived in %d exports, want exactly the final one", len(exportsWithTraffic))
	}
}

// TestUnreachableCollector: with no collector at all (connection refused) and
// with an endpoint that accepts TCP but never answers, the exporter keeps
// serving /metrics, counts its failed exports, and still exits 0 on SIGTERM
// within the export timeout plus a few seconds.
func TestUnreachableCollector(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		blackhole bool
	}{{"refused", false}, {"blackhole", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if tc.blackhole {
				harness.Blackhole(t, e.a, e.col.Endpoint)
			}
			exp := e.startExporter(e.config())
			e.sendMixed(1)
			want := e.sent.clone()

			var failures float64
			testexporter.WaitFor(t, "two failed exports", 10*interval+4*timeout, func() (bool, string) {
				begin := time.Now()
				s, err := exp.Scrape()
				if err != nil {
					t.Fatalf("/metrics does not answer: %v", err)
				}
				if d := time.Since(begin); d > time.Second {
					t.Errorf("/metrics took %v to answer", d)
				}
				failures = exports(t, s, "failure")
				if n := exports(t, s, "success"); n != 0 {
					t.Fatalf("%v successful exports without a collector", n)
				}
				return failures >= 2, "failures at " + ftoa(failures)
			})
			e.waitProm(exp, want)

			took := stopWithin(t, exp, timeout+3*time.Second, "the export timeout + 3s")
			t.Logf("%v failed exports counted; exited %v after SIGTERM", failures, took)
			testenv.AssertNothingAttached(t, e.a, e.pair.NameA)
		})
	}
}
