package receiver

import (
	"sync"

	"github.com/packet-exporter/packet-exporter/bpf"
)

// audit compares, for every counted (interface, direction), what the
// programs counted with what the device counted itself, window by window: a
// window is the time between two collections. The traffic collector gives it
// each read of the counters (counted), and the device collector, which reads
// the devices' statistics right after, each device's count (difference).
//
// A device counts either socket buffers (veths, most software devices: a GSO
// or GRO packet is one) or frames on the wire (a NIC's receive counter,
// before GRO: a GRO packet's segments). The programs count both: their runs
// are the socket buffers, their packets the segments. A window adds to the
// difference only how far the device's count lies outside [runs, packets]:
// above, the device counted frames the programs did not; below, the programs
// counted frames the device did not (a queue's drops after the egress hook).
// A frame that passes between the two reads moves from one window to the
// next: ± a few packets under load, never a trend.
type audit struct {
	mu      sync.Mutex
	windows map[auditKey]*auditWindow
}

// auditKey is an (attachment, direction): a new attachment of an interface
// starts a new audit.
type auditKey struct {
	at *attachment
	d  bpf.Direction
}

// auditWindow is the audit of one (attachment, direction).
type auditWindow struct {
	runs, packets uint64 // the programs' counts at the last counters read
	read          bool   // runs and packets were read since the last window
	// device, lastRuns and lastPackets are the counts at the end of the
	// last window; started, whether there was one.
	device, lastRuns, lastPackets uint64
	started                       bool
	difference                    int64
}

func newAudit() *audit {
	return &audit{windows: map[auditKey]*auditWindow{}}
}

// counted records the programs' counts of (at, d) from a read of the
// counters: the block's runs (socket buffers) and packets (segments).
func (a *audit) counted(at *attachment, d bpf.Direction, runs, packets uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w := a.windows[auditKey{at, d}]
	if w == nil {
		w = &auditWindow{}
		a.windows[auditKey{at, d}] = w
	}
	w.runs, w.packets, w.read = runs, packets, true
}

// difference closes the window of (at, d) at the device's count device, if
// the counters were read since the last one (another reader's collection may
// have closed it), and returns the difference since the first window; ok is
// false before the first window.
func (a *audit) difference(at *attachment, d bpf.Direction, device uint64) (diff int64, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w := a.windows[auditKey{at, d}]
	if w == nil {
		return 0, false
	}
	if !w.read {
		return w.difference, w.started
	}
	w.read = false
	dDevice, dRuns, dPackets := device-w.device, w.runs-w.lastRuns, w.packets-w.lastPackets
	// A counter that went back (a device's counters reset, a slot's block
	// zeroed) starts the audit again from here.
	if w.started && device >= w.device && w.runs >= w.lastRuns && w.packets >= w.lastPackets {
		switch {
		case dDevice > dPackets:
			w.difference += int64(dDevice - dPackets)
		case dDevice < dRuns:
			w.difference -= int64(dRuns - dDevice)
		}
	}
	w.device, w.lastRuns, w.lastPackets, w.started = device, w.runs, w.packets, true
	return w.difference, true
}

// forget drops the audits of attachments that are no longer attached.
func (a *audit) forget(attached map[int]*attachment) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k := range a.windows {
		if attached[k.at.index] != k.at {
			delete(a.windows, k)
		}
	}
}
