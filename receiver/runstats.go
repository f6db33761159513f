package receiver

import (
	"sync"

	"go.uber.org/zap"

	"github.com/packet-exporter/packet-exporter/bpf"
)

// runTimer is what runStats needs of the programs: *bpf.Maps, a fake in
// benchmarks of the collection path.
type runTimer interface {
	KernelRunCount() (uint64, error)
	SetTiming(on bool) error
}

// runStats decides when the programs report their runs: while the kernel
// collects BPF statistics, as the kernel's own per-program statistics would
// be. One program serves every interface, so the kernel's statistics cannot
// tell interfaces apart; the programs count their runs per interface and
// direction themselves, and time them while the kernel's statistics are on.
// Whether they are on is not readable (kernel.bpf_stats_enabled does not show
// BPF_ENABLE_STATS holders): it shows in the kernel's run counts, which
// advance only while they are on.
type runStats struct {
	programs runTimer

	mu         sync.Mutex
	on         bool
	kernelRuns uint64   // the programs' kernel run count at the last update
	ownRuns    []uint64 // the runs they counted themselves, by block
}

// update judges, from the kernel's run count and the programs' own, whether
// the kernel's statistics are on, turns the programs' timing on or off
// accordingly, and returns the judgement: on when the kernel counted runs
// since the last update, off when the programs ran and the kernel did not,
// unchanged when nothing ran.
func (s *runStats) update(blocks []bpf.Block, log *zap.Logger) bool {
	kernelRuns, err := s.programs.KernelRunCount()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		log.Debug("program run statistics", zap.Error(err))
		return s.on
	}
	ran := false
	if len(s.ownRuns) < len(blocks) {
		s.ownRuns = append(s.ownRuns, make([]uint64, len(blocks)-len(s.ownRuns))...)
	}
	for i := range blocks {
		// A reused slot starts from zero: only an increase is a run.
		ran = ran || blocks[i].Runs > s.ownRuns[i]
		s.ownRuns[i] = blocks[i].Runs
	}
	on := s.on
	switch {
	case kernelRuns > s.kernelRuns:
		on = true
	case ran:
		on = false
	}
	s.kernelRuns = kernelRuns
	if on != s.on {
		if err := s.programs.SetTiming(on); err != nil {
			log.Warn("program run timing", zap.Error(err))
			return s.on
		}
		s.on = on
	}
	return on
}
