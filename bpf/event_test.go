package bpf

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"strings"
	"testing"
)

// rawEvent encodes e the way the kernel programs lay a record out.
func rawEvent(e Event, flags byte) []byte {
	raw := make([]byte, EventSize)
	le := binary.LittleEndian
	le.PutUint32(raw[0:], e.Bytes)
	le.PutUint32(raw[4:], uint32(e.Slot)*2+uint32(e.Direction))
	le.PutUint16(raw[8:], e.Packets)
	le.PutUint16(raw[10:], e.VLAN)
	le.PutUint16(raw[12:], e.SrcPort)
	le.PutUint16(raw[14:], e.DstPort)
	raw[16], raw[17], raw[18] = byte(e.Class), byte(e.Anomaly), flags
	if e.Src.Is4() {
		s, d := e.Src.As4(), e.Dst.As4()
		copy(raw[24:], s[:])
		copy(raw[40:], d[:])
	} else if e.Src.IsValid() {
		s, d := e.Src.As16(), e.Dst.As16()
		copy(raw[24:], s[:])
		copy(raw[40:], d[:])
	}
	return raw
}

func TestDecodeEvent(t *testing.T) {
	udp4, _ := ClassEntry("ipv4", "udp")
	tcp6, _ := ClassEntry("ipv6", "tcp")
	arp, _ := ClassEntry("arp", "none")
	const addrs = byte(CounterPeEventFlagPE_EVENT_ADDRESSES)
	const ports = byte(CounterPeEventFlagPE_EVENT_PORTS)
	cases := []struct {
		name    string
		raw     []byte
		want    Event
		wantErr string
	}{
		{"ipv4", rawEvent(Event{Bytes: 60, Packets: 1, Slot: 3, Direction: Transmit, VLAN: 5, Class: udp4,
			Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"), SrcPort: 1, DstPort: 2}, addrs|ports),
			Event{Bytes: 60, Packets: 1, Slot: 3, Direction: Transmit, VLAN: 5, Class: udp4,
				Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"), SrcPort: 1, DstPort: 2, HasPorts: true}, ""},
		{"ports without addresses", rawEvent(Event{Class: udp4}, ports), Event{}, "ports without addresses"},
		{"ipv6 gso", rawEvent(Event{Bytes: 9000, Packets: 6, Class: tcp6, Anomaly: AnomalyTruncated,
			Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2")}, addrs),
			Event{Bytes: 9000, Packets: 6, Class: tcp6, Anomaly: AnomalyTruncated,
				Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2")}, ""},
		{"ip without addresses", rawEvent(Event{Bytes: 40, Packets: 1, Class: tcp6}, 0), Event{Bytes: 40, Packets: 1, Class: tcp6}, ""},
		{"arp", rawEvent(Event{Bytes: 42, Packets: 1, Class: arp}, 0), Event{Bytes: 42, Packets: 1, Class: arp}, ""},
		{"short", make([]byte, EventSize-1), Event{}, "event record of 55 bytes"},
		{"class out of range", rawEvent(Event{Class: ClassCount}, 0), Event{}, "class 14 out of range"},
		{"anomaly out of range", rawEvent(Event{Class: udp4, Anomaly: 3}, 0), Event{}, "anomaly 3 out of range"},
		{"bucket as anomaly", rawEvent(Event{Class: udp4, Anomaly: BucketFirst}, 0), Event{}, "out of range"},
		{"addresses on arp", rawEvent(Event{Class: arp}, addrs), Event{}, "addresses on a arp frame"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got Event
			err := DecodeEvent(tc.raw, &got)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeEventAllocatesNothing(t *testing.T) {
	udp4, _ := ClassEntry("ipv4", "udp")
	raw := rawEvent(Event{Class: udp4, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2")},
		byte(CounterPeEventFlagPE_EVENT_ADDRESSES))
	var e Event
	if n := testing.AllocsPerRun(100, func() { _ = DecodeEvent(raw, &e) }); n != 0 {
		t.Errorf("%v allocations per decode, want 0", n)
	}
}

// TestHashEventFlow checks that records of one flow hash alike whatever
// they count, and that each field of the flow key, the ports only when asked
// for, tells flows apart.
func TestHashEventFlow(t *testing.T) {
	udp4, _ := ClassEntry("ipv4", "udp")
	tcp4, _ := ClassEntry("ipv4", "tcp")
	base := Event{Bytes: 100, Packets: 1, Slot: 3, Class: udp4, Src: netip.MustParseAddr("10.0.0.1"),
		Dst: netip.MustParseAddr("10.0.0.2"), SrcPort: 1000, DstPort: 53}
	seed := maphash.MakeSeed()
	hash := func(e Event, ports bool) uint64 {
		var h maphash.Hash
		h.SetSeed(seed)
		HashEventFlow(&h, rawEvent(e, 0), ports)
		return h.Sum64()
	}
	for _, tc := range []struct {
		name  string
		edit  func(*Event)
		ports bool
		same  bool
	}{
		{"other counts", func(e *Event) { e.Bytes, e.Packets, e.VLAN = 1500, 3, 7 }, true, true},
		{"other source port, ports off", func(e *Event) { e.SrcPort = 1001 }, false, true},
		{"other source port", func(e *Event) { e.SrcPort = 1001 }, true, false},
		{"other destination port", func(e *Event) { e.DstPort = 54 }, true, false},
		{"other slot", func(e *Event) { e.Slot = 4 }, false, false},
		{"other direction", func(e *Event) { e.Direction = Transmit }, false, false},
		{"other class", func(e *Event) { e.Class = tcp4 }, false, false},
		{"other source", func(e *Event) { e.Src = netip.MustParseAddr("10.0.0.3") }, false, false},
		{"other destination", func(e *Event) { e.Dst = netip.MustParseAddr("10.0.0.3") }, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := base
			tc.edit(&other)
			if same := hash(base, tc.ports) == hash(other, tc.ports); same != tc.same {
				t.Errorf("same hash %t, want %t", same, tc.same)
			}
		})
	}
}
