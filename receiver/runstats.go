package receiver

import (
	"sync"

	"github.com/packet-exporter/packet-exporter/bpf"
)

// kernelRunCounter is what runStats reads of the programs: *bpf.Maps, a fake
// in benchmarks of the collection path.
type kernelRunCounter interface {
	KernelRunCount() (uint64, error)
}

// runStats judges whether the kernel collects BPF statistics, so that the
// program runs are reported, and timed, while it does, as the kernel's own
// per-program statistics would be. One program serves every interface, so
// the kernel's statistics cannot tell interfaces apart: the programs count
// their runs per interface and direction themselves, and the receiver
// attaches their timed variant while the statistics are on. Whether they are
// on is not readable (kernel.bpf_stats_enabled does not show BPF_ENABLE_STATS
// holders): it shows in the kernel's run counts, which advance only then.
type runStats struct {
	programs kernelRunCounter

	mu         sync.Mutex
	on         bool
	kernelRuns uint64   // the programs' kernel run count at the last update
	ownRuns    []uint64 // the runs they counted themselves, by block
}

// update judges, from the kernel's run count and the programs' own in
// blocks, whether the kernel's statistics are on: on when the kernel counted
// runs since the last update, off when the programs ran and the kernel did
// not, unchanged when nothing ran. It returns the judgement and whether it
// changed.
func (s *runStats) update(blocks []bpf.Block) (on, changed bool, err error) {
	kernelRuns, err := s.programs.KernelRunCount()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		return s.on, false, err
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
	was := s.on
	switch {
	case kernelRuns > s.kernelRuns:
		s.on = true
	case ran:
		s.on = false
	}
	s.kernelRuns = kernelRuns
	return s.on, s.on != was, nil
}

// judged returns the last judgement of update.
func (s *runStats) judged() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.on
}
