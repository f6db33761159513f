package live

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/attribution"
)

// fakeTotals serves the totals the test sets.
type fakeTotals struct{ now []Totals }

func (f *fakeTotals) read(fn func(Totals)) error {
	for _, t := range f.now {
		fn(t)
	}
	return nil
}

func totals(name, kind, master string, rxPackets, rxBytes, txPackets, txBytes uint64) Totals {
	return Totals{Name: name, Kind: kind, Master: master,
		ReceivePackets: rxPackets, ReceiveBytes: rxBytes, TransmitPackets: txPackets, TransmitBytes: txBytes}
}

// TestHistoryRates: each window's rates are the totals' increase over the
// window's time, an interface's history starts at its second sample, a
// counter that went back starts it again, and a gone interface goes.
func TestHistoryRates(t *testing.T) {
	f := &fakeTotals{}
	h := NewHistory(Sources{Totals: f.read})
	start := time.UnixMilli(1_000_000)
	at := func(s int) time.Time { return start.Add(time.Duration(s) * time.Second) }
	step := func(s int, ts ...Totals) {
		t.Helper()
		f.now = ts
		if err := h.Sample(at(s)); err != nil {
			t.Fatal(err)
		}
	}
	get := func() map[string]InterfaceHistory {
		m := map[string]InterfaceHistory{}
		h.Interfaces(func(ih InterfaceHistory) { m[ih.Totals.Name] = ih })
		return m
	}
	step(0, totals("eth0", attribution.KindDevice, "", 10, 1000, 0, 0))
	if ih := get()["eth0"]; len(ih.Rates) != 0 {
		t.Fatalf("rates after one sample: %v", ih.Rates)
	}
	step(1, totals("eth0", attribution.KindDevice, "", 110, 101000, 5, 500), totals("veth1", attribution.KindVeth, "", 0, 0, 0, 0))
	// Two seconds: rates are per second.
	step(3, totals("eth0", attribution.KindDevice, "", 310, 301000, 5, 500), totals("veth1", attribution.KindVeth, "", 4, 400, 0, 0))
	got := get()
	want := []Rates{{ReceiveBits: 800000, ReceivePackets: 100, TransmitBits: 4000, TransmitPackets: 5}, {ReceiveBits: 800000, ReceivePackets: 100}}
	if !slices.Equal(got["eth0"].Rates, want) || !slices.Equal(got["eth0"].Times, []int64{at(1).UnixMilli(), at(3).UnixMilli()}) {
		t.Errorf("eth0: %v at %v, want %v", got["eth0"].Rates, got["eth0"].Times, want)
	}
	if r := got["veth1"].Rates; !slices.Equal(r, []Rates{{ReceiveBits: 1600, ReceivePackets: 2}}) {
		t.Errorf("veth1 (from its second sample): %v", r)
	}
	// veth1 counted again from zero; eth0 gone.
	step(4, totals("veth1", attribution.KindVeth, "", 1, 100, 0, 0))
	got = get()
	if _, ok := got["eth0"]; ok {
		t.Error("eth0 kept after it was no longer counted")
	}
	if r := got["veth1"].Rates; len(r) != 0 {
		t.Errorf("veth1 after its counters went back: %v, want no window", r)
	}
	step(5, totals("veth1", attribution.KindVeth, "", 3, 300, 0, 0))
	if r := get()["veth1"].Rates; !slices.Equal(r, []Rates{{ReceiveBits: 1600, ReceivePackets: 2}}) {
		t.Errorf("veth1 after its restart: %v", r)
	}
}

// TestHistoryBounded: the ring keeps the last HistoryLength windows.
func TestHistoryBounded(t *testing.T) {
	f := &fakeTotals{}
	h := NewHistory(Sources{Totals: f.read})
	start := time.UnixMilli(0)
	for s := range 3 * HistoryLength {
		f.now = []Totals{totals("eth0", attribution.KindDevice, "", uint64(s*s), 0, 0, 0)}
		if err := h.Sample(start.Add(time.Duration(s) * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	var ih InterfaceHistory
	h.Interfaces(func(i InterfaceHistory) { ih = i })
	if len(ih.Rates) != HistoryLength || len(ih.Times) != HistoryLength {
		t.Fatalf("%d windows kept, want %d", len(ih.Rates), HistoryLength)
	}
	last := 3*HistoryLength - 1
	if ih.Times[len(ih.Times)-1] != int64(last)*1000 || ih.Rates[len(ih.Rates)-1].ReceivePackets != float32(last*last-(last-1)*(last-1)) {
		t.Errorf("last window at %d: %v", ih.Times[len(ih.Times)-1], ih.Rates[len(ih.Rates)-1])
	}
	if !slices.IsSorted(ih.Times) {
		t.Errorf("windows out of order: %v", ih.Times)
	}
}

// TestSummary: busy interfaces are listed with their trend, idle ones
// counted (listed when asked for), and the host is the sum of its devices:
// a bond and the devices not enslaved to a counted bond.
func TestSummary(t *testing.T) {
	f := &fakeTotals{}
	h := NewHistory(Sources{Totals: f.read})
	start := time.UnixMilli(5000)
	for s := range 3 {
		n := uint64(s)
		f.now = []Totals{
			totals("eth0", attribution.KindDevice, "", 10*n, 1000*n, 0, 0),
			totals("bond0", attribution.KindBond, "", 2*n, 100*n, n, 50*n),
			totals("eth1", attribution.KindDevice, "bond0", 2*n, 100*n, n, 50*n), // in bond0's sums
			totals("eth2", attribution.KindDevice, "br0", 0, 0, 3*n, 300*n),      // br0 is not counted
			totals("veth9", attribution.KindVeth, "br0", 7*n, 700*n, 0, 0),
			totals("veth10", attribution.KindVeth, "", 0, 0, 0, 0),
		}
		f.now[4].Pod, f.now[4].Namespace = "web", "shop"
		if err := h.Sample(start.Add(time.Duration(s) * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	s := h.Summary(false)
	var names []string
	for _, row := range s.Interfaces {
		names = append(names, row.Name)
	}
	if !slices.Equal(names, []string{"bond0", "eth0", "eth1", "eth2", "veth9"}) || s.Idle != 1 {
		t.Errorf("rows %q, %d idle; want the busy ones and veth10 idle", names, s.Idle)
	}
	if s.Time != 7000 || s.IntervalMs != 1000 {
		t.Errorf("time %d, interval %d", s.Time, s.IntervalMs)
	}
	veth := s.Interfaces[4]
	if veth.Pod != "web" || veth.Namespace != "shop" || !slices.Equal(veth.Trend, []float32{5600, 5600}) ||
		veth.Now != (Rates{ReceiveBits: 5600, ReceivePackets: 7}) {
		t.Errorf("veth9: %+v", veth)
	}
	host := Rates{ReceiveBits: 8 * (1000 + 100), ReceivePackets: 12, TransmitBits: 8 * (50 + 300), TransmitPackets: 4}
	if s.Host.Now != host || len(s.Host.History.Rates) != 2 || s.Host.History.Rates[0] != host || !slices.Equal(s.Host.History.Times, []int64{6000, 7000}) {
		t.Errorf("host: %+v, want %+v in both windows", s.Host, host)
	}
	// By name, byte by byte: the page sorts naturally.
	if all := h.Summary(true); len(all.Interfaces) != 6 || all.Interfaces[4].Name != "veth10" || len(all.Interfaces[4].Trend) != 0 {
		t.Errorf("with the idle ones: %+v", all.Interfaces)
	}
}

// TestHistoryFailedRead: a read that fails makes no sample, and the window
// after it spans both intervals.
func TestHistoryFailedRead(t *testing.T) {
	var fail bool
	var packets uint64
	h := NewHistory(Sources{Totals: func(fn func(Totals)) error {
		fn(totals("eth0", attribution.KindDevice, "", packets, 0, 0, 0))
		if fail {
			return errors.New("read failed")
		}
		return nil
	}})
	start := time.UnixMilli(0)
	for s, c := range []struct {
		packets uint64
		fail    bool
	}{{0, false}, {100, false}, {150, true}, {300, false}} {
		packets, fail = c.packets, c.fail
		if err := h.Sample(start.Add(time.Duration(s) * time.Second)); (err != nil) != c.fail {
			t.Fatalf("sample %d: %v", s, err)
		}
	}
	ih, _ := h.Interface("eth0")
	if want := []Rates{{ReceivePackets: 100}, {ReceivePackets: 100}}; !slices.Equal(ih.Rates, want) || !slices.Equal(ih.Times, []int64{1000, 3000}) {
		t.Errorf("windows %v at %v, want %v at 1000 and 3000", ih.Rates, ih.Times, want)
	}
}

// TestSummaryProtocolsAndDrops: the host's protocol mix is its devices'
// rates by protocol over the last window (not a veth's; a protocol new in
// it counted from zero), and its drops by reason and category, the most
// per second first, with their number over the history; an interface's
// row has its losses per second; the agent's health is the last read, with
// the parse errors of the interfaces counted, and a failed read keeps the
// events lost of the one before.
func TestSummaryProtocolsAndDrops(t *testing.T) {
	f := &fakeTotals{}
	var drops []DropTotals
	var healthErr error
	h := NewHistory(Sources{Totals: f.read, Drops: func(fn func(DropTotals)) error {
		for _, d := range drops {
			fn(d)
		}
		return nil
	}, Health: func() (Health, error) {
		if healthErr != nil {
			return Health{Programs: 4, Interfaces: 2, AttachFailures: 1, Skipped: 3}, healthErr
		}
		return Health{Programs: 4, Interfaces: 2, AttachFailures: 1, Skipped: 3, EventsLost: 9}, nil
	}})
	start := time.UnixMilli(0)
	for s := range 3 {
		n := uint64(s)
		eth0 := totals("eth0", attribution.KindDevice, "", 12*n, 1200*n, 2*n, 200*n)
		eth0.Protocols = []ProtocolTotals{
			{NetworkType: "ipv4", Transport: "tcp", ReceivePackets: 10 * n, ReceiveBytes: 1000 * n, TransmitPackets: 2 * n, TransmitBytes: 200 * n},
			{NetworkType: "ipv6", Transport: "udp", ReceivePackets: 2 * n, ReceiveBytes: 200 * n},
		}
		if s == 2 { // new in the last window: counted from zero
			eth0.Protocols = append(eth0.Protocols, ProtocolTotals{NetworkType: "arp", Transport: "none", ReceivePackets: 1, ReceiveBytes: 60})
		}
		eth0.ParseErrors = 2
		veth := totals("veth1", attribution.KindVeth, "", 5*n, 500*n, 0, 0)
		veth.ParseErrors = 5
		if s == 2 {
			healthErr = errors.New("stats not read")
		}
		veth.Protocols = []ProtocolTotals{{NetworkType: "ipv4", Transport: "udp", ReceivePackets: 5 * n, ReceiveBytes: 500 * n}}
		f.now = []Totals{eth0, veth}
		drops = []DropTotals{
			{Interface: "veth1", Reason: "no_socket", Category: "host", Packets: 3 * n},
			{Interface: "eth0", Reason: "no_socket", Category: "host", Packets: n},
			{Interface: "veth1", Reason: "socket_close", Category: "socket", Packets: 9 * n},
			{Reason: "netfilter_drop", Category: "host", Packets: 2 * n},
		}
		if s == 2 { // new in the last window: counted from zero
			drops = append(drops, DropTotals{Interface: "eth0", Reason: "otherhost", Category: "network", Packets: 6})
		}
		if err := h.Sample(start.Add(time.Duration(2*s) * time.Second)); err != nil { // windows of 2 s
			t.Fatal(err)
		}
	}
	s := h.Summary(false)
	wantProtocols := []ProtocolRates{
		{NetworkType: "ipv4", Transport: "tcp", Rates: Rates{ReceiveBits: 4000, ReceivePackets: 5, TransmitBits: 800, TransmitPackets: 1}},
		{NetworkType: "ipv6", Transport: "udp", Rates: Rates{ReceiveBits: 800, ReceivePackets: 1}},
		{NetworkType: "arp", Transport: "none", Rates: Rates{ReceiveBits: 240, ReceivePackets: 0.5}},
	}
	if !slices.Equal(s.Host.Protocols, wantProtocols) || !slices.Equal(s.Host.Devices, []string{"eth0"}) {
		t.Errorf("host protocols %+v of %q, want %+v of eth0", s.Host.Protocols, s.Host.Devices, wantProtocols)
	}
	wantDrops := []DropRates{
		{Reason: "socket_close", Category: "socket", PacketsPerSecond: 4.5, Packets: 18},
		{Reason: "otherhost", Category: "network", Loss: true, PacketsPerSecond: 3, Packets: 6},
		{Reason: "no_socket", Category: "host", Loss: true, PacketsPerSecond: 2, Packets: 8},
		{Reason: "netfilter_drop", Category: "host", Loss: true, PacketsPerSecond: 1, Packets: 4},
	}
	if !slices.Equal(s.Host.Drops, wantDrops) {
		t.Errorf("host drops %+v, want %+v", s.Host.Drops, wantDrops)
	}
	rows := map[string]float32{}
	for _, row := range s.Interfaces {
		rows[row.Name] = row.Drops
	}
	if rows["veth1"] != 1.5 || rows["eth0"] != 3.5 {
		t.Errorf("losses per second by interface %v, want veth1 1.5 (no socket drops), eth0 3.5", rows)
	}
	if want := (Health{Programs: 4, Interfaces: 2, AttachFailures: 1, Skipped: 3, EventsLost: 9, ParseErrors: 7}); s.Agent != want {
		t.Errorf("agent %+v, want %+v", s.Agent, want)
	}
}

// TestHistoryDropsKept: a reason's drops stay listed, at 0 per second,
// while they are in the history, with their number over it, and go with
// their last window.
func TestHistoryDropsKept(t *testing.T) {
	var drops uint64
	h := NewHistory(Sources{Totals: func(func(Totals)) error { return nil }, Drops: func(fn func(DropTotals)) error {
		fn(DropTotals{Reason: "no_socket", Category: "host", Packets: drops})
		return nil
	}})
	for s := range HistoryLength + 3 {
		if s == 1 || s == 2 {
			drops += 5 // in windows 1 and 2 (samples 0 to 2)
		}
		if err := h.Sample(time.UnixMilli(int64(1000 * s))); err != nil {
			t.Fatal(err)
		}
		got := h.Summary(false).Host.Drops
		switch {
		case s == 1 || s == 2:
			if want := []DropRates{{Reason: "no_socket", Category: "host", Loss: true, PacketsPerSecond: 5, Packets: uint64(5 * s)}}; !slices.Equal(got, want) {
				t.Fatalf("sample %d: %+v, want %+v", s, got, want)
			}
		case s > 2 && s <= HistoryLength+1:
			if want := []DropRates{{Reason: "no_socket", Category: "host", Loss: true, Packets: 5 * uint64(min(2, HistoryLength+2-s))}}; !slices.Equal(got, want) {
				t.Fatalf("sample %d: %+v, want %+v", s, got, want)
			}
		default:
			if len(got) != 0 {
				t.Fatalf("sample %d: %+v, want none", s, got)
			}
		}
	}
}

// TestRateHistoryJSON: a history is columns of rates rounded to three
// significant digits, and decodes back; columns of different lengths are
// an error.
func TestRateHistoryJSON(t *testing.T) {
	h := RateHistory{Times: []int64{1000, 2000}, Rates: []Rates{
		{ReceiveBits: 123456, ReceivePackets: 1.5, TransmitBits: 0, TransmitPackets: 99999},
		{ReceiveBits: 0.012345, ReceivePackets: 7, TransmitBits: 1e9 + 7, TransmitPackets: 998.5},
	}}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"times_unix_ms":[1000,2000],"receive_bits_per_second":[123000,0.0123],"receive_packets_per_second":[1.5,7],` +
		`"transmit_bits_per_second":[0,1000000000],"transmit_packets_per_second":[100000,999]}`
	if string(b) != want {
		t.Errorf("encoded\n %s\nwant\n %s", b, want)
	}
	var back RateHistory
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Times, h.Times) || back.Rates[0].ReceiveBits != 123000 || back.Rates[1].TransmitPackets != 999 {
		t.Errorf("decoded %+v", back)
	}
	if err := json.Unmarshal([]byte(`{"times_unix_ms":[1],"receive_bits_per_second":[]}`), &back); err == nil {
		t.Error("columns of different lengths decoded without an error")
	}
	if b, _ := json.Marshal(RateHistory{}); string(b) != `{"times_unix_ms":[],"receive_bits_per_second":[],"receive_packets_per_second":[],"transmit_bits_per_second":[],"transmit_packets_per_second":[]}` {
		t.Errorf("an empty history encodes as %s", b)
	}
}
