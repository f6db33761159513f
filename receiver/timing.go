package receiver

import (
	"context"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"go.uber.org/zap"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/config"
)

// timingInterval is how often the attacher judges whether the kernel
// collects BPF statistics, to attach the programs' timed variant while it
// does: a few program statistics syscalls, and a read of the counters only
// while the statistics seemed on and the kernel counted nothing since.
const timingInterval = time.Second

// kernelRunCounter is what runStats reads of the programs: *bpf.Maps, a fake
// in benchmarks of the collection path.
type kernelRunCounter interface {
	KernelRunCount() (uint64, error)
}

// runStats judges whether the kernel collects BPF statistics, so that the
// program runs are reported, and timed, while it does, as the kernel's own
// per-program statistics would be. One program serves every interface, so
// the kernel's statistics cannot tell interfaces apart: the programs count
// their runs per interface and direction themselves, and the attacher
// attaches their timed variant while the statistics are on. Whether they are
// on is not readable (kernel.bpf_stats_enabled does not show BPF_ENABLE_STATS
// holders): it shows in the kernel's run counts, which advance only then.
// The attacher and the traffic collector judge each with their own.
type runStats struct {
	programs kernelRunCounter

	mu         sync.Mutex
	on         bool
	kernelRuns uint64   // the programs' kernel run count at the last update
	ownRuns    []uint64 // the runs they counted themselves, by block
	baseline   bool     // ownRuns are those of the last update
}

// update judges, from the kernel's run count and the programs' own in the
// blocks read returns, whether the kernel's statistics are on: on when the
// kernel counted runs since the last update, off when the programs ran and
// the kernel did not, unchanged when nothing ran. The blocks are read only
// when the kernel's count cannot tell, or always with read nil and blocks
// given. It returns the judgement and whether it changed.
func (s *runStats) update(blocks []bpf.Block, read func() ([]bpf.Block, error)) (on, changed bool, err error) {
	kernelRuns, err := s.programs.KernelRunCount()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		return s.on, false, err
	}
	advanced := kernelRuns > s.kernelRuns
	s.kernelRuns = kernelRuns
	if blocks == nil && read != nil && s.on && !advanced {
		if blocks, err = read(); err != nil {
			return s.on, false, err
		}
	}
	if len(s.ownRuns) < len(blocks) {
		s.ownRuns = append(s.ownRuns, make([]uint64, len(blocks)-len(s.ownRuns))...)
	}
	ran := false
	for i := range blocks {
		// A reused slot starts from zero: only an increase is a run.
		ran = ran || (s.baseline && blocks[i].Runs > s.ownRuns[i])
		s.ownRuns[i] = blocks[i].Runs
	}
	s.baseline = blocks != nil
	was := s.on
	switch {
	case advanced:
		s.on = true
	case ran:
		s.on = false
	}
	return s.on, s.on != was, nil
}

// runTiming judges every timingInterval, until ctx ends, whether the kernel
// collects BPF statistics, and attaches the programs' timed or untimed
// variant when the judgement changes. It runs apart from collections, which
// never change what is attached.
func (a *attacher) runTiming(ctx context.Context) {
	judge := runStats{programs: a.maps}
	read := func() (blocks []bpf.Block, err error) {
		a.mu.RLock()
		defer a.mu.RUnlock()
		err = a.reader.Counters(a.slots.end(), func(b []bpf.Block) error {
			blocks = append(blocks, b...) // b is the reader's, reused
			return nil
		})
		return blocks, err
	}
	ticker := time.NewTicker(timingInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		timed, changed, err := judge.update(nil, read)
		if err != nil {
			a.log.Debug("program run statistics", zap.Error(err))
		}
		if changed {
			a.retime(timed)
		}
	}
}

// retime attaches the timed variant of the programs (timed) or the untimed
// one in place of the other on every counted interface. A link update swaps
// the program atomically, and a legacy tc filter is replaced in place, so no
// frame goes uncounted.
func (a *attacher) retime(timed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.maps.SetTiming(timed)
	swapped := 0
	for _, at := range a.attached {
		for i := range at.hooks {
			h := &at.hooks[i]
			prog, err := a.program(h.kind, h.direction)
			if err == nil {
				err = h.link.Update(prog, a.programID(prog))
			}
			if err != nil {
				a.log.Warn("program runs not timed on this interface", zap.String("interface", at.name), zap.Error(err))
				continue
			}
			h.programID = a.programID(prog)
			swapped++
		}
	}
	a.log.Info("program run timing", zap.Bool("timed", timed), zap.Int("programs", swapped))
}

// program returns the program, in the variant bpf.Maps.SetTiming chose, that
// hook kind runs in direction d.
func (a *attacher) program(kind string, d bpf.Direction) (*ebpf.Program, error) {
	if kind == config.HookXDP {
		return a.maps.XDP()
	}
	return a.maps.TC(d)
}
