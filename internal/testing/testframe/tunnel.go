package testframe

import "encoding/binary"

// Tunnel headers, for the Payload of an outer Frame: a UDP datagram to a
// VXLAN or Geneve port, or an IPv4 or IPv6 packet of protocol 47 (GRE), 4 or
// 41 (IP-in-IP, which carries Packet's bytes directly).

// EtherTypes a tunnel header names its payload by.
const (
	EtherTypeIPv4 = etherTypeIPv4
	EtherTypeIPv6 = etherTypeIPv6
	EtherTypeTEB  = 0x6558 // transparent Ethernet bridging: an Ethernet frame
)

// IP protocols of tunnels.
const (
	ProtoIPIP = 4
	ProtoIPv6 = 41
	ProtoGRE  = 47
)

// VXLANFlagVNI is the I flag of a VXLAN header, set in every valid one.
const VXLANFlagVNI = 0x08

// VXLAN returns a VXLAN header with flags (VXLANFlagVNI for a valid one)
// and network identifier vni, followed by the Ethernet frame inner.
func VXLAN(flags uint8, vni uint32, inner []byte) []byte {
	b := make([]byte, 8, 8+len(inner))
	b[0] = flags
	binary.BigEndian.PutUint32(b[4:], vni<<8)
	return append(b, inner...)
}

// Geneve describes a Geneve header (RFC 8926).
type Geneve struct {
	// Version is the 2-bit version: 0 is the only defined one.
	Version uint8
	// Protocol is the EtherType of the payload (EtherTypeTEB for an
	// Ethernet frame).
	Protocol uint16
	// VNI is the 24-bit network identifier.
	VNI uint32
	// Options are the options' bytes, zero-padded to a multiple of 4 (at
	// most 252 bytes); the header's length field counts them.
	Options []byte
}

// Encapsulate returns g's header followed by inner.
func (g Geneve) Encapsulate(inner []byte) []byte {
	opts := append([]byte(nil), g.Options...)
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	if len(opts) > 252 {
		panic("testframe: Geneve options longer than 252 bytes")
	}
	b := make([]byte, 8, 8+len(opts)+len(inner))
	b[0] = g.Version<<6 | uint8(len(opts)/4)
	binary.BigEndian.PutUint16(b[2:], g.Protocol)
	binary.BigEndian.PutUint32(b[4:], g.VNI<<8)
	b = append(b, opts...)
	return append(b, inner...)
}

// GRE describes a GRE header (RFC 2784 with RFC 2890's key and sequence
// number).
type GRE struct {
	// Protocol is the EtherType of the payload.
	Protocol uint16
	// Checksum, Key and Seq add the optional fields (4 bytes each; the
	// checksum's is zero).
	Checksum, Key, Seq bool
	// Routing sets the routing bit, which RFC 2784 removed.
	Routing bool
	// Version is the 3-bit version: 0, or 1 for PPTP's enhanced GRE.
	Version uint8
}

// Encapsulate returns g's header followed by inner.
func (g GRE) Encapsulate(inner []byte) []byte {
	var flags uint16
	var fields []byte
	if g.Checksum {
		flags |= 0x8000
		fields = append(fields, 0, 0, 0, 0)
	}
	if g.Routing {
		flags |= 0x4000
	}
	if g.Key {
		flags |= 0x2000
		fields = binary.BigEndian.AppendUint32(fields, 0x0000_2a2a)
	}
	if g.Seq {
		flags |= 0x1000
		fields = binary.BigEndian.AppendUint32(fields, 1)
	}
	flags |= uint16(g.Version & 7)
	b := binary.BigEndian.AppendUint16(nil, flags)
	b = binary.BigEndian.AppendUint16(b, g.Protocol)
	b = append(b, fields...)
	return append(b, inner...)
}

// Packet returns the packet of f without its Ethernet header and VLAN
// tags: what GRE with an IP protocol type and IP-in-IP carry. f must have
// an IPv4 or IPv6 layer.
func Packet(f Frame) []byte {
	if f.IPv4 == nil && f.IPv6 == nil {
		panic("testframe: Packet needs an IPv4 or IPv6 layer")
	}
	b := MustBuild(f)
	return b[ethHdrLen+vlanTagLen*len(f.VLANs):]
}
