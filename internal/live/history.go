package live

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/attribution"
	"github.com/packet-exporter/packet-exporter/internal/dropcategory"
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
	// ParseErrors are the frames of both directions counted with a parse
	// anomaly.
	ParseErrors uint64
	// Protocols split them by network type and transport: needed for the
	// host's devices and bonds only (the host's protocol mix), and may be
	// left empty for other kinds.
	Protocols []ProtocolTotals
}

// ProtocolTotals are the frames and bytes of one network type and
// transport, each way.
type ProtocolTotals struct {
	NetworkType, Transport                                       string
	ReceivePackets, ReceiveBytes, TransmitPackets, TransmitBytes uint64
}

// TotalsFunc reads every counted interface's totals once.
type TotalsFunc func(fn func(Totals)) error

// DropTotals are the kernel's drops of one interface ("" when the kernel
// did not say which), reason and category.
type DropTotals struct {
	Interface, Reason, Category string
	Packets                     uint64
}

// DropsFunc reads the kernel's drop totals once.
type DropsFunc func(fn func(DropTotals)) error

// Health is the agent's state, as a summary shows it.
type Health struct {
	Programs       int    `json:"programs_attached"`
	Interfaces     int    `json:"interfaces_counted"`
	AttachFailures int64  `json:"attach_failures"`
	Skipped        int    `json:"interfaces_skipped"`
	EventsLost     uint64 `json:"events_lost"`
	// ParseErrors are the frames counted with a parse anomaly on the
	// interfaces counted now (the sum of their totals).
	ParseErrors uint64 `json:"parse_errors"`
}

// HealthFunc reads the agent's state once.
type HealthFunc func() (Health, error)

// Sources are what a History samples: the totals, and optionally (nil:
// none) the drops and the agent's health.
type Sources struct {
	Totals TotalsFunc
	Drops  DropsFunc
	Health HealthFunc
}

// History keeps the rates of the last HistoryLength windows of every counted
// interface, sampled every HistoryInterval from the counters without a
// collection, so that a page shows full charts as soon as it opens and the
// summary costs no collection. Its memory is bounded: HistoryLength windows
// of four float32 rates per interface (1.9 kB), and an interface's entry
// goes when it is no longer counted. A failed read makes no sample: the
// window after it is longer.
type History struct {
	src Sources

	mu sync.Mutex
	// times are the samples' times (Unix milliseconds), a ring of
	// ringLength; seq counts the samples, the last at times[(seq-1) % len].
	times [ringLength]int64
	seq   int64
	last  time.Time // the last sample's time
	ifs   map[string]*interfaceHistory
	// dropTotals are the drop totals at the last sample, reasons the drops
	// of each reason and category in every window still in the ring, and
	// interfaceDrops the losses per second of the last window by
	// interface; the host's protocol mix is the last window's.
	dropTotals     map[dropTotalsKey]uint64
	reasons        map[reasonKey]*reasonHistory
	interfaceDrops map[string]float32
	hostProtocols  []ProtocolRates
	health         Health // at the last sample
}

// reasonKey is a drop reason and its category.
type reasonKey struct{ reason, category string }

// reasonHistory is the drops of one reason and category in each window of
// the ring (History.times), and the last window's rate.
type reasonHistory struct {
	packets [ringLength]uint64
	rate    float32
}

// dropTotalsKey is what drop totals are kept by.
type dropTotalsKey struct{ iface, reason, category string }

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

// ProtocolRates are one network type's and transport's rates over a
// window.
type ProtocolRates struct {
	NetworkType string `json:"network_type"`
	Transport   string `json:"transport"`
	Rates
}

// DropRates are the kernel's drops of one reason and category: per second
// over the last window, and in all over the history's windows.
type DropRates struct {
	Reason   string `json:"reason"`
	Category string `json:"category"`
	// Loss tells whether the category's drops are losses (network, host).
	Loss             bool    `json:"loss"`
	PacketsPerSecond float32 `json:"packets_per_second"`
	// Packets are the drops over the history (HistoryLength windows).
	Packets uint64 `json:"packets"`
}

// NewHistory returns a history of src; Run samples it.
func NewHistory(src Sources) *History {
	return &History{src: src, ifs: map[string]*interfaceHistory{}}
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
			h.Sample(now) // a failed read leaves a gap, filled by the next
		}
	}
}

// Sample reads the totals at now and closes a window for every interface
// read before (Run calls it every HistoryInterval). A failed read of the
// totals makes no sample; a failed read of the drops leaves the window
// without drops.
func (h *History) Sample(now time.Time) error {
	var read []Totals
	if err := h.src.Totals(func(t Totals) { read = append(read, t) }); err != nil {
		return err // no sample: the next window is longer
	}
	var dropTotals map[dropTotalsKey]uint64
	var dropsErr error
	if h.src.Drops != nil {
		dropTotals = map[dropTotalsKey]uint64{}
		dropsErr = h.src.Drops(func(d DropTotals) { dropTotals[dropTotalsKey{d.Interface, d.Reason, d.Category}] += d.Packets })
	}
	var health Health
	if h.src.Health != nil {
		var err error
		if health, err = h.src.Health(); err != nil {
			health.EventsLost = h.health.EventsLost // the last read
		}
	}
	for _, t := range read {
		health.ParseErrors += t.ParseErrors
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := make(map[string]bool, len(h.ifs))
	i := int(h.seq % ringLength)
	seconds := now.Sub(h.last).Seconds()
	bonds := map[string]bool{}
	for _, t := range read {
		if t.Kind == attribution.KindBond {
			bonds[t.Name] = true
		}
	}
	protocols := map[[2]string]*ProtocolRates{}
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
		ih.rates[i] = rates(prev.ReceivePackets, prev.ReceiveBytes, prev.TransmitPackets, prev.TransmitBytes,
			t.ReceivePackets, t.ReceiveBytes, t.TransmitPackets, t.TransmitBytes, seconds)
		if hostDevice(t, bonds) {
			addProtocols(protocols, prev.Protocols, t.Protocols, seconds)
		}
	}
	for name := range h.ifs {
		if !seen[name] {
			delete(h.ifs, name)
		}
	}
	h.hostProtocols = h.hostProtocols[:0]
	for _, p := range protocols {
		h.hostProtocols = append(h.hostProtocols, *p)
	}
	slices.SortFunc(h.hostProtocols, func(a, b ProtocolRates) int {
		return cmp.Or(cmp.Compare(b.ReceivePackets+b.TransmitPackets, a.ReceivePackets+a.TransmitPackets),
			strings.Compare(a.NetworkType, b.NetworkType), strings.Compare(a.Transport, b.Transport))
	})
	h.sampleDrops(dropTotals, dropsErr, i, seconds)
	h.health = health
	h.times[i] = now.UnixMilli()
	h.seq++
	h.last = now
	return nil
}

// rates are the rates of a window of seconds between two samples' totals.
func rates(rxPackets0, rxBytes0, txPackets0, txBytes0, rxPackets, rxBytes, txPackets, txBytes uint64, seconds float64) Rates {
	return Rates{
		ReceiveBits:     float32(float64(8*(rxBytes-rxBytes0)) / seconds),
		ReceivePackets:  float32(float64(rxPackets-rxPackets0) / seconds),
		TransmitBits:    float32(float64(8*(txBytes-txBytes0)) / seconds),
		TransmitPackets: float32(float64(txPackets-txPackets0) / seconds),
	}
}

// addProtocols adds to sums the rates of one device's protocols between two
// samples (a protocol new since the first counted from zero); one whose
// counters went back adds nothing.
func addProtocols(sums map[[2]string]*ProtocolRates, before, now []ProtocolTotals, seconds float64) {
	for _, p := range now {
		var b ProtocolTotals // none before: its first frames
		if k := slices.IndexFunc(before, func(b ProtocolTotals) bool {
			return b.NetworkType == p.NetworkType && b.Transport == p.Transport
		}); k >= 0 {
			b = before[k]
		}
		if p.ReceivePackets < b.ReceivePackets || p.TransmitPackets < b.TransmitPackets {
			continue
		}
		key := [2]string{p.NetworkType, p.Transport}
		sum, ok := sums[key]
		if !ok {
			sum = &ProtocolRates{NetworkType: p.NetworkType, Transport: p.Transport}
			sums[key] = sum
		}
		add(&sum.Rates, rates(b.ReceivePackets, b.ReceiveBytes, b.TransmitPackets, b.TransmitBytes,
			p.ReceivePackets, p.ReceiveBytes, p.TransmitPackets, p.TransmitBytes, seconds))
	}
}

// sampleDrops keeps the drops of the window ending now in ring slot i: by
// reason and category for the host, losses per second by interface. A
// total new since the last read counted from zero, one that went back (a
// deleted interface's) adds nothing; a failed read leaves the window
// without drops, and the next window starts from the read after.
func (h *History) sampleDrops(now map[dropTotalsKey]uint64, err error, i int, seconds float64) {
	if h.reasons == nil {
		h.reasons = map[reasonKey]*reasonHistory{}
		h.interfaceDrops = map[string]float32{}
	}
	clear(h.interfaceDrops)
	for k, r := range h.reasons {
		// Slot i gets this window, the one after it is the oldest window
		// beyond HistoryLength: the ring holds HistoryLength windows.
		r.packets[i], r.packets[(i+1)%ringLength], r.rate = 0, 0, 0
		if sumCounts(r.packets[:]) == 0 {
			delete(h.reasons, k)
		}
	}
	if now == nil || err != nil {
		h.dropTotals = nil
		return
	}
	for k, packets := range now {
		// A drop total new since the last read counted from zero; none
		// counts before the first read.
		before := h.dropTotals[k]
		if h.dropTotals == nil || packets <= before || seconds <= 0 {
			continue
		}
		key := reasonKey{k.reason, k.category}
		r, ok := h.reasons[key]
		if !ok {
			r = &reasonHistory{}
			h.reasons[key] = r
		}
		r.packets[i] += packets - before
		r.rate = float32(float64(r.packets[i]) / seconds)
		if k.iface != "" && dropcategory.IsLoss(k.category) {
			h.interfaceDrops[k.iface] += float32(float64(packets-before) / seconds)
		}
	}
	h.dropTotals = now
}

// sumCounts adds up counts.
func sumCounts(counts []uint64) uint64 {
	var n uint64
	for _, c := range counts {
		n += c
	}
	return n
}

// hostDropsLocked lists the drops of every reason and category with drops
// in the history, the most per second first, then the most in all.
func (h *History) hostDropsLocked() []DropRates {
	list := make([]DropRates, 0, len(h.reasons))
	for k, r := range h.reasons {
		list = append(list, DropRates{Reason: k.reason, Category: k.category, Loss: dropcategory.IsLoss(k.category),
			PacketsPerSecond: r.rate, Packets: sumCounts(r.packets[:])})
	}
	slices.SortFunc(list, func(a, b DropRates) int {
		return cmp.Or(cmp.Compare(b.PacketsPerSecond, a.PacketsPerSecond), cmp.Compare(b.Packets, a.Packets),
			strings.Compare(a.Reason, b.Reason), strings.Compare(a.Category, b.Category))
	})
	return list
}

// InterfaceHistory is one interface's windows, oldest first.
type InterfaceHistory struct {
	Totals Totals
	RateHistory
}

// RateHistory is windows' end times in Unix milliseconds and their rates,
// oldest first. In JSON it is columns, a list per rate beside the times,
// each rate rounded to three significant digits (a chart's resolution):
// {"times_unix_ms": [...], "receive_bits_per_second": [...], ...}.
type RateHistory struct {
	Times []int64
	Rates []Rates
}

// rateColumns is RateHistory in JSON.
type rateColumns struct {
	Times           []int64   `json:"times_unix_ms"`
	ReceiveBits     []float32 `json:"receive_bits_per_second"`
	ReceivePackets  []float32 `json:"receive_packets_per_second"`
	TransmitBits    []float32 `json:"transmit_bits_per_second"`
	TransmitPackets []float32 `json:"transmit_packets_per_second"`
}

// MarshalJSON encodes the history as columns of rounded rates.
func (r RateHistory) MarshalJSON() ([]byte, error) {
	n := len(r.Rates)
	c := rateColumns{Times: r.Times, ReceiveBits: make([]float32, n), ReceivePackets: make([]float32, n),
		TransmitBits: make([]float32, n), TransmitPackets: make([]float32, n)}
	if c.Times == nil {
		c.Times = []int64{}
	}
	for i, x := range r.Rates {
		c.ReceiveBits[i], c.ReceivePackets[i] = roundRate(x.ReceiveBits), roundRate(x.ReceivePackets)
		c.TransmitBits[i], c.TransmitPackets[i] = roundRate(x.TransmitBits), roundRate(x.TransmitPackets)
	}
	return json.Marshal(c)
}

// UnmarshalJSON decodes the columns MarshalJSON encodes.
func (r *RateHistory) UnmarshalJSON(b []byte) error {
	var c rateColumns
	if err := json.Unmarshal(b, &c); err != nil {
		return err
	}
	n := len(c.Times)
	if len(c.ReceiveBits) != n || len(c.ReceivePackets) != n || len(c.TransmitBits) != n || len(c.TransmitPackets) != n {
		return errors.New("rate history: columns of different lengths")
	}
	r.Times, r.Rates = c.Times, make([]Rates, n)
	for i := range n {
		r.Rates[i] = Rates{ReceiveBits: c.ReceiveBits[i], ReceivePackets: c.ReceivePackets[i],
			TransmitBits: c.TransmitBits[i], TransmitPackets: c.TransmitPackets[i]}
	}
	return nil
}

// roundRate rounds a rate to three significant digits.
func roundRate(v float32) float32 {
	if v == 0 || math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) {
		return v
	}
	scale := math.Pow(10, 2-math.Floor(math.Log10(math.Abs(float64(v)))))
	return float32(math.Round(float64(v)*scale) / scale)
}

// Interfaces calls fn with every interface's history, by name.
func (h *History) Interfaces(fn func(InterfaceHistory)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, name := range slices.Sorted(maps.Keys(h.ifs)) {
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

// firstLocked returns the sequence of the first sample that closes a window
// of ih still in the ring.
func (h *History) firstLocked(ih *interfaceHistory) int64 {
	return max(ih.from, h.seq-HistoryLength, 1) // sample 0 opens no window
}

// historyLocked returns the windows of ih still in the ring.
func (h *History) historyLocked(ih *interfaceHistory) InterfaceHistory {
	ret := InterfaceHistory{Totals: ih.totals}
	for s := h.firstLocked(ih); s < h.seq; s++ {
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
	// Agent is the agent's state at the last sample.
	Agent Health `json:"agent"`
}

// HostSummary is the host's rates now and over the history, and the last
// window's protocol mix and drops.
type HostSummary struct {
	// Devices are the interfaces summed, by name.
	Devices []string `json:"devices"`
	Now     Rates    `json:"now"`
	// History is the sum of the devices' windows.
	History RateHistory `json:"history"`
	// Protocols are the devices' rates by network type and transport, the
	// busiest first.
	Protocols []ProtocolRates `json:"protocols"`
	// Drops are the kernel's drops by reason and category in the
	// exporter's network namespace (every interface's, and those of no
	// interface) that had drops in the history, the most per second
	// first; empty with drops.enabled false.
	Drops []DropRates `json:"drops"`
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
	// Drops are the last window's losses per second on the interface
	// (drops of the network and host categories).
	Drops float32 `json:"drops_per_second"`
	// Trend is the bits/s, both directions together, of the last
	// TrendLength windows, oldest first, rounded to three significant
	// digits (empty for an idle interface).
	Trend []float32 `json:"trend"`
}

// TrendLength is the windows of an interface's trend in a summary.
const TrendLength = 60

// Summary returns the summary of the history; withIdle lists idle
// interfaces too.
func (h *History) Summary(withIdle bool) *Summary {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := &Summary{Version: SchemaVersion, IntervalMs: HistoryInterval.Milliseconds(), Interfaces: []InterfaceSummary{}, Agent: h.health,
		Host: HostSummary{Devices: []string{}, History: RateHistory{Times: []int64{}, Rates: []Rates{}},
			Protocols: slices.Clone(h.hostProtocols), Drops: h.hostDropsLocked()}}
	if s.Host.Protocols == nil {
		s.Host.Protocols = []ProtocolRates{}
	}
	bonds := map[string]bool{}
	for name, ih := range h.ifs {
		if ih.totals.Kind == attribution.KindBond {
			bonds[name] = true
		}
	}
	// Every interface is looked at, but only the listed ones' windows are
	// copied: a summary of many idle interfaces costs little.
	for _, name := range slices.Sorted(maps.Keys(h.ifs)) {
		ih := h.ifs[name]
		t := ih.totals
		first := h.firstLocked(ih)
		row := InterfaceSummary{Name: t.Name, Kind: t.Kind, Pod: t.Pod, Namespace: t.Namespace, Container: t.Container,
			Drops: h.interfaceDrops[t.Name], Trend: []float32{}}
		busy := false
		for seq := first; seq < h.seq && !busy; seq++ {
			busy = ih.rates[seq%ringLength] != (Rates{})
		}
		if first < h.seq {
			row.Now = ih.rates[(h.seq-1)%ringLength]
			s.Time = max(s.Time, h.times[(h.seq-1)%ringLength])
		}
		if busy {
			for seq := max(first, h.seq-TrendLength); seq < h.seq; seq++ {
				r := ih.rates[seq%ringLength]
				row.Trend = append(row.Trend, roundRate(r.ReceiveBits+r.TransmitBits))
			}
		} else {
			s.Idle++
		}
		if busy || withIdle {
			s.Interfaces = append(s.Interfaces, row)
		}
		if !hostDevice(t, bonds) {
			continue
		}
		s.Host.Devices = append(s.Host.Devices, t.Name)
		// The windows of every device end at the same samples: add them
		// up by time.
		for seq := first; seq < h.seq; seq++ {
			at := h.times[seq%ringLength]
			j, found := slices.BinarySearch(s.Host.History.Times, at)
			if !found {
				s.Host.History.Times = slices.Insert(s.Host.History.Times, j, at)
				s.Host.History.Rates = slices.Insert(s.Host.History.Rates, j, Rates{})
			}
			add(&s.Host.History.Rates[j], ih.rates[seq%ringLength])
		}
	}
	if n := len(s.Host.History.Rates); n > 0 {
		s.Host.Now = s.Host.History.Rates[n-1]
	}
	return s
}

// hostDevice tells whether t is one of the host's own devices, whose sum is
// the host's traffic: a bond, or a physical device unless it is enslaved to
// a counted bond (bonds: the counted bonds by name).
func hostDevice(t Totals, bonds map[string]bool) bool {
	switch t.Kind {
	case attribution.KindBond:
		return true
	case attribution.KindDevice:
		return !bonds[t.Master]
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
