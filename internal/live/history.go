package live

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/attribution"
)

// HistoryInterval is how often the history samples the counters, and
// HistoryLength how many of its windows (between two samples) it keeps: two
// minutes of rates.
const (
	HistoryInterval = time.Second
	HistoryLength   = 120
)

// Totals are what one counted interface has counted, and what it is, as
// the history samples them (from receiver.Receiver.Totals).
type Totals struct {
	Name string
	// Kind is its kind (attribution.KindDevice...), Master the name of the
	// bridge or bond it is enslaved to ("" for none).
	Kind, Master string
	// Pod, Namespace and Container are what attribution knows is behind it.
	Pod, Namespace, Container string
	// The frames and bytes counted in each direction.
	ReceivePackets, ReceiveBytes, TransmitPackets, TransmitBytes uint64
}

// TotalsFunc reads every counted interface's totals once.
type TotalsFunc func(fn func(Totals)) error

// History keeps the rates of the last HistoryLength windows of every counted
// interface, sampled every HistoryInterval from the counters without a
// collection, so that a page shows full charts as soon as it opens and the
// summary costs no collection. Its memory is bounded: HistoryLength windows
// of four float32 rates per interface (1.9 kB), and an interface's entry
// goes when it is no longer counted. A failed read makes no sample: the
// window after it is longer.
type History struct {
	read TotalsFunc

	mu sync.Mutex
	// times are the samples' times (Unix milliseconds), a ring of
	// ringLength; seq counts the samples, the last at times[(seq-1) % len].
	times [ringLength]int64
	seq   int64
	last  time.Time // the last sample's time
	ifs   map[string]*interfaceHistory
}

// interfaceHistory is one interface's rates, in the ring of History.times.
type interfaceHistory struct {
	totals Totals // at the last sample
	// rates[i] are the rates of the window ending at History.times[i]:
	// bits/s and packets/s received and transmitted; from is the first
	// sample the interface has rates for.
	rates [ringLength]Rates
	from  int64
}

// ringLength is the samples kept: one more than the windows between them.
const ringLength = HistoryLength + 1

// Rates are one window's rates: bits/s and packets/s each way.
type Rates struct {
	ReceiveBits     float32 `json:"receive_bits_per_second"`
	ReceivePackets  float32 `json:"receive_packets_per_second"`
	TransmitBits    float32 `json:"transmit_bits_per_second"`
	TransmitPackets float32 `json:"transmit_packets_per_second"`
}

// NewHistory returns a history of read's totals; Run samples them.
func NewHistory(read TotalsFunc) *History {
	return &History{read: read, ifs: map[string]*interfaceHistory{}}
}

// Run samples the totals every HistoryInterval until ctx ends.
func (h *History) Run(ctx context.Context) {
	t := time.NewTicker(HistoryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			h.sample(now) // a failed read leaves a gap, filled by the next
		}
	}
}

// sample reads the totals at now and closes a window for every interface
// read before.
func (h *History) sample(now time.Time) error {
	var read []Totals
	if err := h.read(func(t Totals) { read = append(read, t) }); err != nil {
		return err // no sample: the next window is longer
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := make(map[string]bool, len(h.ifs))
	i := int(h.seq % ringLength)
	seconds := now.Sub(h.last).Seconds()
	for _, t := range read {
		seen[t.Name] = true
		ih, ok := h.ifs[t.Name]
		if !ok {
			h.ifs[t.Name] = &interfaceHistory{totals: t, from: h.seq + 1}
			continue
		}
		prev := ih.totals
		ih.totals = t
		if t.ReceivePackets < prev.ReceivePackets || t.TransmitPackets < prev.TransmitPackets {
			ih.from = h.seq + 1 // counted again from zero (a slot reused)
			continue
		}
		ih.rates[i] = Rates{
			ReceiveBits:     float32(float64(8*(t.ReceiveBytes-prev.ReceiveBytes)) / seconds),
			ReceivePackets:  float32(float64(t.ReceivePackets-prev.ReceivePackets) / seconds),
			TransmitBits:    float32(float64(8*(t.TransmitBytes-prev.TransmitBytes)) / seconds),
			TransmitPackets: float32(float64(t.TransmitPackets-prev.TransmitPackets) / seconds),
		}
	}
	for name := range h.ifs {
		if !seen[name] {
			delete(h.ifs, name)
		}
	}
	h.times[i] = now.UnixMilli()
	h.seq++
	h.last = now
	return nil
}

// InterfaceHistory is one interface's windows, oldest first.
type InterfaceHistory struct {
	Totals Totals
	RateHistory
}

// RateHistory is windows' end times in Unix milliseconds and their rates,
// oldest first.
type RateHistory struct {
	Times []int64 `json:"times_unix_ms"`
	Rates []Rates `json:"rates"`
}

// Interfaces calls fn with every interface's history, by name.
func (h *History) Interfaces(fn func(InterfaceHistory)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	names := make([]string, 0, len(h.ifs))
	for name := range h.ifs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fn(h.historyLocked(h.ifs[name]))
	}
}

// Interface returns the history of interface name; ok is false when it is
// not counted.
func (h *History) Interface(name string) (ih InterfaceHistory, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i, ok := h.ifs[name]
	if !ok {
		return InterfaceHistory{}, false
	}
	return h.historyLocked(i), true
}

// historyLocked returns the windows of ih still in the ring.
func (h *History) historyLocked(ih *interfaceHistory) InterfaceHistory {
	first := max(ih.from, h.seq-HistoryLength, 1) // sample 0 opens no window
	ret := InterfaceHistory{Totals: ih.totals}
	for s := first; s < h.seq; s++ {
		i := int(s % ringLength)
		ret.Times = append(ret.Times, h.times[i])
		ret.Rates = append(ret.Rates, ih.rates[i])
	}
	return ret
}

// Summary is what a page polls every second: the host's totals with their
// history, and each counted interface's current rates with a short trend,
// read from the history (no collection). Idle interfaces (no frame in the
// whole history) are only counted, unless asked for.
type Summary struct {
	// Version is SchemaVersion.
	Version int `json:"version"`
	// Time is the last sample's time in Unix milliseconds, IntervalMs the
	// time between samples.
	Time       int64 `json:"time_unix_ms"`
	IntervalMs int64 `json:"interval_ms"`
	// Host is the sum of the host's own devices (physical devices and
	// bonds, not what they are enslaved to a bond for; not veths or
	// bridges, whose traffic the devices carry or which stays on the host).
	Host HostSummary `json:"host"`
	// Interfaces are the busy interfaces, or every one when asked for, by
	// name.
	Interfaces []InterfaceSummary `json:"interfaces"`
	// Idle is how many counted interfaces had no frame in the history.
	Idle int `json:"idle"`
}

// HostSummary is the host's rates now and over the history.
type HostSummary struct {
	Now Rates `json:"now"`
	RateHistory
}

// InterfaceSummary is one interface's row.
type InterfaceSummary struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Pod       string `json:"pod,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Container string `json:"container,omitempty"`
	// Now are the last window's rates.
	Now Rates `json:"now"`
	// Trend is the bits/s, both directions together, of the last
	// TrendLength windows, oldest first (empty for an idle interface).
	Trend []float32 `json:"trend"`
}

// TrendLength is the windows of an interface's trend in a summary.
const TrendLength = 60

// Summary returns the summary of the history; withIdle lists idle
// interfaces too.
func (h *History) Summary(withIdle bool) *Summary {
	s := &Summary{Version: SchemaVersion, IntervalMs: HistoryInterval.Milliseconds(), Interfaces: []InterfaceSummary{},
		Host: HostSummary{RateHistory: RateHistory{Times: []int64{}, Rates: []Rates{}}}}
	var all []InterfaceHistory
	h.Interfaces(func(ih InterfaceHistory) { all = append(all, ih) })
	kinds := make(map[string]string, len(all))
	for _, ih := range all {
		kinds[ih.Totals.Name] = ih.Totals.Kind
	}
	for _, ih := range all {
		t := ih.Totals
		row := InterfaceSummary{Name: t.Name, Kind: t.Kind, Pod: t.Pod, Namespace: t.Namespace, Container: t.Container, Trend: []float32{}}
		busy := false
		for _, r := range ih.Rates {
			busy = busy || r != (Rates{})
		}
		if n := len(ih.Rates); n > 0 {
			row.Now = ih.Rates[n-1]
			s.Time = max(s.Time, ih.Times[n-1])
		}
		if busy {
			for _, r := range ih.Rates[max(0, len(ih.Rates)-TrendLength):] {
				row.Trend = append(row.Trend, r.ReceiveBits+r.TransmitBits)
			}
		} else {
			s.Idle++
		}
		if busy || withIdle {
			s.Interfaces = append(s.Interfaces, row)
		}
		if !hostDevice(t, kinds) {
			continue
		}
		// The windows of every device end at the same samples: add them
		// up by time.
		for i, at := range ih.Times {
			j, found := slices.BinarySearch(s.Host.Times, at)
			if !found {
				s.Host.Times = slices.Insert(s.Host.Times, j, at)
				s.Host.Rates = slices.Insert(s.Host.Rates, j, Rates{})
			}
			add(&s.Host.Rates[j], ih.Rates[i])
		}
	}
	if n := len(s.Host.Rates); n > 0 {
		s.Host.Now = s.Host.Rates[n-1]
	}
	return s
}

// hostDevice tells whether t is one of the host's own devices, whose sum is
// the host's traffic: a bond, or a physical device unless it is enslaved to
// a counted bond (kinds: the counted interfaces' kinds by name).
func hostDevice(t Totals, kinds map[string]string) bool {
	switch t.Kind {
	case attribution.KindBond:
		return true
	case attribution.KindDevice:
		return t.Master == "" || kinds[t.Master] != attribution.KindBond
	}
	return false
}

// add adds r to sum.
func add(sum *Rates, r Rates) {
	sum.ReceiveBits += r.ReceiveBits
	sum.ReceivePackets += r.ReceivePackets
	sum.TransmitBits += r.TransmitBits
	sum.TransmitPackets += r.TransmitPackets
}
