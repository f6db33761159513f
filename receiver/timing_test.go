package receiver

import (
	"context"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// kernelRuns is a kernelRunCounter returning a set count.
type kernelRuns uint64

func (k *kernelRuns) KernelRunCount() (uint64, error) { return uint64(*k), nil }

// TestRunStatsJudgement walks runStats through the kernel's statistics
// turned on and off, fed as the attacher feeds it (blocks read only when the
// kernel's count cannot tell) and as the traffic collector does (the blocks
// of every read).
func TestRunStatsJudgement(t *testing.T) {
	blocksWith := func(runs uint64) []bpf.Block { return []bpf.Block{{Runs: runs}, {}} }
	type step struct {
		kernel   uint64 // the kernel's run count
		ownRuns  uint64 // the programs' own
		wantOn   bool   // the attacher's judgement
		wantRead bool   // the attacher reads the blocks
		// The collector's judgement: the attacher's, but for a collector
		// that has the blocks of every update, and so may judge off an
		// update earlier.
		collectorOn bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"off and idle", []step{{0, 0, false, false, false}, {0, 0, false, false, false}}},
		{"off while the programs run", []step{{0, 5, false, false, false}, {0, 9, false, false, false}}},
		{"turned on", []step{{0, 5, false, false, false}, {3, 8, true, false, true}, {7, 12, true, false, true}}},
		{"on and idle", []step{{3, 3, true, false, true}, {3, 3, true, true, true}, {3, 3, true, true, true}}},
		{"turned off", []step{{3, 3, true, false, true}, {3, 3, true, true, true}, {3, 9, false, true, false}, {3, 12, false, false, false}}},
		{"off needs a baseline", []step{{3, 3, true, false, true}, {3, 9, true, true, false}, {3, 12, false, true, false}}},
		{"on again", []step{{3, 3, true, false, true}, {3, 3, true, true, true}, {3, 9, false, true, false}, {4, 10, true, false, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var kernel kernelRuns
			attacher, collector := runStats{programs: &kernel}, runStats{programs: &kernel}
			for i, s := range tc.steps {
				kernel = kernelRuns(s.kernel)
				read := false
				on, _, err := attacher.update(nil, func() ([]bpf.Block, error) {
					read = true
					return blocksWith(s.ownRuns), nil
				})
				if err != nil || on != s.wantOn || read != s.wantRead {
					t.Errorf("attacher, step %d: on %v, read %v, err %v; want on %v, read %v", i, on, read, err, s.wantOn, s.wantRead)
				}
				if on, _, err := collector.update(blocksWith(s.ownRuns), nil); err != nil || on != s.collectorOn {
					t.Errorf("collector, step %d: on %v, err %v; want %v", i, on, err, s.collectorOn)
				}
			}
		})
	}
}

// TestTimedVariantWithoutCollection turns the kernel's BPF statistics on
// while frames flow and never collects: the attacher attaches the timed
// variant of the programs on its own, and the untimed one again once the
// statistics are off, while every frame is still counted.
func TestTimedVariantWithoutCollection(t *testing.T) {
	testenv.RequireRoot(t)
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	pair := testenv.NewVethPair(t, a, b, testenv.VethOptions{Queues: 2, DisableOffloads: true, Quiet: true})
	cfg := config.Default()
	cfg.Interfaces.Include = []string{pair.NameA}
	r, err := New(cfg, zaptest.NewLogger(t), WithNetns(a.Handle))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	programs := func() (ids []uint32) {
		r.att.mu.RLock()
		defer r.att.mu.RUnlock()
		for _, at := range r.att.attached {
			for _, h := range at.hooks {
				ids = append(ids, h.programID)
			}
		}
		return ids
	}
	untimed := programs()
	if len(untimed) != 2 {
		t.Fatalf("%d programs attached to %s, want 2", len(untimed), pair.NameA)
	}
	sink := testtraffic.ListenUDP(t, a, pair.IPv4A.Addr())
	swapped := func(want []uint32, differ bool) func() bool {
		return func() bool {
			testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), sink.Addr, 5, 10)
			got := programs()
			return len(got) == 2 && (got[0] != want[0]) == differ
		}
	}
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		testenv.Skip(t, "kernel BPF statistics: %v", err)
	}
	waitTimed := time.Now().Add(20 * timingInterval)
	for !swapped(untimed, true)() {
		if time.Now().After(waitTimed) {
			stats.Close()
			t.Fatal("the timed variant was not attached without a collection")
		}
		time.Sleep(50 * time.Millisecond)
	}
	stats.Close()
	waitUntimed := time.Now().Add(20 * timingInterval)
	for !swapped(untimed, false)() {
		if time.Now().After(waitUntimed) {
			t.Fatal("the untimed variant was not attached again once the statistics were off")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
