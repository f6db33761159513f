package telemetry

import (
	"context"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc/codes"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// libraryNames returns the names of the library metrics sent over OTLP
// (otlp) or shown on /metrics.
func libraryNames(otlp bool) map[string]bool {
	names := map[string]bool{}
	for _, m := range metricdef.Library {
		if m.OTLP == otlp {
			names[m.Name] = true
		}
	}
	return names
}

// The process and Go runtime metrics are on /metrics exactly as
// metricdef.Library lists them, and only with Options.Runtime.
func TestRuntimeMetricsPrometheus(t *testing.T) {
	for _, runtime := range []bool{true, false} {
		p, err := New(Options{Prometheus: true, Runtime: runtime, CardinalityLimit: 10})
		if err != nil {
			t.Fatal(err)
		}
		families, err := p.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, f := range families {
			if name := f.GetName(); strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
				got[name] = true
			}
		}
		want := libraryNames(false)
		if !runtime {
			want = map[string]bool{}
		}
		if len(want) == 0 && runtime {
			t.Fatal("metricdef.Library lists no /metrics metric")
		}
		for name := range want {
			if !got[name] {
				t.Errorf("runtime %t: %s listed but not on /metrics", runtime, name)
			}
		}
		for name := range got {
			if !want[name] {
				t.Errorf("runtime %t: %s on /metrics but not listed", runtime, name)
			}
		}
		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// Over OTLP the runtime metrics are those metricdef.Library lists, beside
// the provider's instruments, with no host-wide system.* metric; with delta
// temporality the counters are deltas and the up-down counters cumulative.
func TestRuntimeMetricsOTLP(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(1 << 40)) // go.memory.limit is sent under a limit only
	for _, delta := range []bool{false, true} {
		srv := startOTLPServer(t, nil, codes.OK)
		p, err := New(Options{Runtime: true, CardinalityLimit: 10, Log: zaptest.NewLogger(t),
			OTLP: &OTLPOptions{Endpoint: srv.addr, Plaintext: true, Interval: time.Hour, Timeout: 3 * time.Second, Delta: delta}})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatalf("shutdown export: %v", err)
		}
		reqs, _ := srv.received()
		if len(reqs) != 1 {
			t.Fatalf("%d exports, want 1", len(reqs))
		}
		got := map[string]*metricspb.Metric{}
		for _, rm := range reqs[0].GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					got[m.GetName()] = m
				}
			}
		}
		want := libraryNames(true)
		for name := range want {
			if got[name] == nil {
				t.Errorf("delta %t: %s listed but not sent", delta, name)
			}
		}
		for name := range got {
			if !want[name] {
				t.Errorf("delta %t: %s sent but not listed", delta, name)
			}
		}
		wantTemporality := map[string]metricspb.AggregationTemporality{
			"process.cpu.time":   metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
			"go.goroutine.count": metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
		}
		if delta {
			wantTemporality["process.cpu.time"] = metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
		}
		for name, want := range wantTemporality {
			if m := got[name]; m != nil && m.GetSum().GetAggregationTemporality() != want {
				t.Errorf("delta %t: %s is %v, want %v", delta, name, m.GetSum().GetAggregationTemporality(), want)
			}
		}
	}
}
