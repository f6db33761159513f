package bpf

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"net/netip"
	"unsafe"
)

// EventSize is the size of an event record in the ring buffer.
const EventSize = int(unsafe.Sizeof(CounterPeEvent{}))

// Offsets of the fields of an event record (struct pe_event), from the bindings.
const (
	offBytes   = unsafe.Offsetof(CounterPeEvent{}.Bytes)
	offBlock   = unsafe.Offsetof(CounterPeEvent{}.Block)
	offPackets = unsafe.Offsetof(CounterPeEvent{}.Packets)
	offVLAN    = unsafe.Offsetof(CounterPeEvent{}.Vlan)
	offSport   = unsafe.Offsetof(CounterPeEvent{}.Sport)
	offDport   = unsafe.Offsetof(CounterPeEvent{}.Dport)
	offClass   = unsafe.Offsetof(CounterPeEvent{}.Class)
	offAnomaly = unsafe.Offsetof(CounterPeEvent{}.Anomaly)
	offFlags   = unsafe.Offsetof(CounterPeEvent{}.Flags)
	offSaddr   = unsafe.Offsetof(CounterPeEvent{}.Saddr)
	offDaddr   = unsafe.Offsetof(CounterPeEvent{}.Daddr)
)

// Event is a decoded event record: one sampled frame.
type Event struct {
	// Bytes and Packets are what the frame counted for (GSO: its segments).
	Bytes   uint32
	Packets uint16
	// Slot and Direction identify the interface's counter block.
	Slot      int
	Direction Direction
	// VLAN is the id of the outer VLAN tag, 0 when untagged.
	VLAN uint16
	// Class is the frame's traffic class (ClassOf); Anomaly its anomaly entry, 0 for none.
	Class, Anomaly int
	// Src and Dst are the IP addresses, invalid for non-IP frames.
	Src, Dst netip.Addr
	// SrcPort and DstPort are the TCP, UDP or SCTP ports when HasPorts; there
	// are none for other transports, later fragments and truncated headers.
	SrcPort, DstPort uint16
	HasPorts         bool
}

// DecodeEvent decodes a raw record into e without reflection or allocation,
// checking every field that indexes something.
func DecodeEvent(raw []byte, e *Event) error {
	if len(raw) < EventSize {
		return fmt.Errorf("event record of %d bytes, want %d", len(raw), EventSize)
	}
	le := binary.LittleEndian
	block := le.Uint32(raw[offBlock:])
	class, anomaly := int(raw[offClass]), int(raw[offAnomaly])
	if class >= ClassCount {
		return fmt.Errorf("event record: class %d out of range", class)
	}
	if anomaly != 0 && (anomaly < AnomalyFirst || anomaly >= AnomalyFirst+AnomalyCount) {
		return fmt.Errorf("event record: anomaly %d out of range", anomaly)
	}
	*e = Event{
		Bytes:     le.Uint32(raw[offBytes:]),
		Slot:      int(block / 2),
		Direction: Direction(block % 2),
		Packets:   le.Uint16(raw[offPackets:]),
		VLAN:      le.Uint16(raw[offVLAN:]),
		SrcPort:   le.Uint16(raw[offSport:]),
		DstPort:   le.Uint16(raw[offDport:]),
		Class:     class,
		Anomaly:   anomaly,
	}
	flags := raw[offFlags]
	e.HasPorts = flags&byte(CounterPeEventFlagPE_EVENT_PORTS) != 0
	if flags&byte(CounterPeEventFlagPE_EVENT_ADDRESSES) == 0 {
		if e.HasPorts {
			return fmt.Errorf("event record: ports without addresses")
		}
		return nil
	}
	switch ClassOf(class).NetworkType {
	case "ipv4":
		e.Src = netip.AddrFrom4([4]byte(raw[offSaddr:]))
		e.Dst = netip.AddrFrom4([4]byte(raw[offDaddr:]))
	case "ipv6":
		e.Src = netip.AddrFrom16([16]byte(raw[offSaddr:]))
		e.Dst = netip.AddrFrom16([16]byte(raw[offDaddr:]))
	default:
		return fmt.Errorf("event record: addresses on a %s frame", ClassOf(class).NetworkType)
	}
	return nil
}

// HashEventFlow writes to h what identifies the flow of a raw record of at
// least EventSize bytes: its counter block, traffic class and addresses, and
// with ports its ports. Records of one flow hash alike, without decoding.
func HashEventFlow(h *maphash.Hash, raw []byte, ports bool) {
	h.Write(raw[offBlock : offBlock+4])
	h.Write(raw[offClass : offClass+1])
	h.Write(raw[offSaddr : offDaddr+16])
	if ports {
		h.Write(raw[offSport : offDport+2])
	}
}
