package bpf_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/packet-exporter/packet-exporter/bpf"
)

// eventSeed builds a record the way the kernel lays it out (see
// CounterPeEvent), for the seed corpus.
func eventSeed(class, anomaly, flags byte, block uint32, src, dst netip.Addr) []byte {
	raw := make([]byte, bpf.EventSize)
	le := binary.LittleEndian
	le.PutUint32(raw[0:], 1500)
	le.PutUint32(raw[4:], block)
	le.PutUint16(raw[8:], 1)
	le.PutUint16(raw[10:], 100)
	le.PutUint16(raw[12:], 40000)
	le.PutUint16(raw[14:], 443)
	raw[16], raw[17], raw[18] = class, anomaly, flags
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		copy(raw[24:], s[:])
		copy(raw[40:], d[:])
	} else if src.IsValid() {
		s, d := src.As16(), dst.As16()
		copy(raw[24:], s[:])
		copy(raw[40:], d[:])
	}
	return raw
}

// FuzzDecodeEventContract feeds arbitrary bytes to the event-record decoder,
// which reads what the kernel writes into the ring buffer, and checks the
// whole contract the receiver relies on: it never panics and refuses short records;
// what it accepts is safe to use as an index or an attribute (a class and an
// anomaly in range, a direction, a slot, addresses only on IP classes and of
// their family, ports only with addresses); it reads only the record, never
// changes it, and overwrites every field of the Event it fills (the receiver
// reuses them).
func FuzzDecodeEventContract(f *testing.F) {
	v4a, v4b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	ports := byte(bpf.CounterPeEventFlagPE_EVENT_PORTS)
	addrs := byte(bpf.CounterPeEventFlagPE_EVENT_ADDRESSES)
	ipv4UDP, _ := bpf.ClassEntry("ipv4", "udp")
	ipv6TCP, _ := bpf.ClassEntry("ipv6", "tcp")
	arp, _ := bpf.ClassEntry("arp", "none")
	other, _ := bpf.ClassEntry("other", "none")
	seeds := [][]byte{
		nil,
		{0},
		make([]byte, bpf.EventSize-1),
		make([]byte, bpf.EventSize),
		make([]byte, 2*bpf.EventSize),
		bytes.Repeat([]byte{0xff}, bpf.EventSize),
		eventSeed(byte(ipv4UDP), 0, ports|addrs, 3, v4a, v4b),
		eventSeed(byte(ipv6TCP), byte(bpf.AnomalyTruncated), ports|addrs, 0xffffffff, v6a, v6b),
		eventSeed(byte(ipv4UDP), 0, ports, 2, netip.Addr{}, netip.Addr{}),
		eventSeed(byte(arp), 0, addrs, 1, v4a, v4b),
		eventSeed(byte(other), byte(bpf.AnomalyTooDeep), 0, 0, netip.Addr{}, netip.Addr{}),
		eventSeed(byte(bpf.ClassCount), 0, 0, 0, netip.Addr{}, netip.Addr{}),
		eventSeed(byte(ipv4UDP), byte(bpf.ClassCount-1), 0, 0, netip.Addr{}, netip.Addr{}),
		eventSeed(byte(ipv4UDP), byte(bpf.BucketFirst), 0, 0, netip.Addr{}, netip.Addr{}),
		eventSeed(byte(ipv6TCP), 0, 0xff, 7, v6a, v6b),
	}
	for _, seed := range seeds {
		f.Add(seed)
	}
	junk := bpf.Event{Bytes: 1, Packets: 2, Slot: 3, Direction: bpf.Transmit, VLAN: 4, Class: 5, Anomaly: 6,
		Src: netip.MustParseAddr("198.51.100.1"), Dst: netip.MustParseAddr("198.51.100.2"), SrcPort: 7, DstPort: 8, HasPorts: true}
	f.Fuzz(func(t *testing.T, raw []byte) {
		original := bytes.Clone(raw)
		var e bpf.Event
		err := bpf.DecodeEvent(raw, &e)
		if !bytes.Equal(raw, original) {
			t.Fatal("DecodeEvent changed the record")
		}
		if len(raw) < bpf.EventSize {
			if err == nil {
				t.Fatalf("a record of %d bytes (want %d) was accepted", len(raw), bpf.EventSize)
			}
			return
		}
		// Only the record's own bytes count, and a reused Event keeps
		// nothing of its previous contents.
		reused := junk
		errFirst := bpf.DecodeEvent(append(bytes.Clone(raw[:bpf.EventSize]), 0xa5, 0x5a), &reused)
		if (err == nil) != (errFirst == nil) || (err == nil && reused != e) {
			t.Fatalf("decoding depends on bytes beyond the record or on the Event reused: %+v (%v) vs %+v (%v)", e, err, reused, errFirst)
		}
		if err != nil {
			return
		}
		if e.Class < 0 || e.Class >= bpf.ClassCount {
			t.Fatalf("class %d out of range", e.Class)
		}
		if e.Anomaly != 0 && (e.Anomaly < bpf.ClassCount || e.Anomaly >= bpf.BucketFirst) {
			t.Fatalf("anomaly %d out of range", e.Anomaly)
		}
		if e.Direction != bpf.Receive && e.Direction != bpf.Transmit {
			t.Fatalf("direction %d", e.Direction)
		}
		if e.Slot < 0 {
			t.Fatalf("slot %d", e.Slot)
		}
		if e.Src.IsValid() != e.Dst.IsValid() {
			t.Fatalf("one address without the other: %v %v", e.Src, e.Dst)
		}
		if e.HasPorts && !e.Src.IsValid() {
			t.Fatal("ports without addresses")
		}
		if e.Src.IsValid() {
			switch network := bpf.ClassOf(e.Class).NetworkType; {
			case network == "ipv4" && e.Src.Is4() && e.Dst.Is4():
			case network == "ipv6" && e.Src.Is6() && e.Dst.Is6():
			default:
				t.Fatalf("addresses %v %v on a %s frame", e.Src, e.Dst, network)
			}
		}
	})
}
