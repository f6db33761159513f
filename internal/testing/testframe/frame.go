package testframe

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
)

// EtherType values written by Build.
const (
	etherTypeIPv4    = 0x0800
	etherTypeARP     = 0x0806
	etherTypeVLAN    = 0x8100
	etherTypeIPv6    = 0x86dd
	etherTypeDefault = 0x88b5 // IEEE 802 local experimental EtherType 1
)

// IP protocol / IPv6 next-header numbers.
const (
	protoHopByHop = 0
	protoICMP     = 1
	protoTCP      = 6
	protoUDP      = 17
	protoRouting  = 43
	protoFragment = 44
	protoAH       = 51
	protoICMPv6   = 58
	protoNoNext   = 59
	protoDestOpts = 60
	protoSCTP     = 132
)

// Fixed values used for fields the Frame description does not expose.
const (
	ipv4ID      = 0x0001
	ipv6FragID  = 0x00000001
	tcpSeq      = 0x00000001
	tcpWindow   = 0xffff
	ahSPI       = 0x00000100
	ahSeq       = 0x00000001
	ipv4HdrLen  = 20
	ethHdrLen   = 14
	vlanTagLen  = 4
	udpHdrLen   = 8
	maxIPv4Opts = 40
)

var (
	defaultDst = [6]byte{0x02, 0, 0, 0, 0, 0x02}
	defaultSrc = [6]byte{0x02, 0, 0, 0, 0, 0x01}

	defaultIPv4Src = netip.AddrFrom4([4]byte{192, 0, 2, 1})
	defaultIPv4Dst = netip.AddrFrom4([4]byte{192, 0, 2, 2})
	defaultIPv6Src = netip.MustParseAddr("2001:db8::1")
	defaultIPv6Dst = netip.MustParseAddr("2001:db8::2")
)

// Frame describes an Ethernet frame from the outside in. Nil layers are
// absent. At most one of IPv4, IPv6 and ARP may be set, and at most one of
// TCP, UDP, ICMP, ICMPv6 and SCTP; a transport layer requires IPv4 or IPv6.
type Frame struct {
	// Dst and Src are the Ethernet addresses. The zero value selects the
	// defaults 02:00:00:00:00:02 (Dst) and 02:00:00:00:00:01 (Src).
	Dst, Src [6]byte
	// VLANs are the VLAN tags, outermost first; each adds 4 bytes.
	VLANs []VLAN
	// EtherType is the (innermost) EtherType, used only when no IPv4,
	// IPv6 or ARP layer is set (for example 0x88cc LLDP or 0x1234 for an
	// unknown protocol). Zero with no such layer selects 0x88b5.
	EtherType uint16
	// ARP adds an ARP request (28-byte body) with EtherType 0x0806. The
	// sender is Src / 192.0.2.1, the target 00:00:00:00:00:00 / 192.0.2.2.
	ARP bool
	// IPv4 adds an IPv4 header (EtherType 0x0800).
	IPv4 *IPv4
	// IPv6 adds an IPv6 header and its extension headers (EtherType 0x86dd).
	IPv6 *IPv6
	// TCP adds a TCP header.
	TCP *TCP
	// UDP adds a UDP header.
	UDP *UDP
	// ICMP adds an ICMP (protocol 1) echo-style header: type, code,
	// checksum, identifier and sequence number.
	ICMP *ICMP
	// ICMPv6 adds an ICMPv6 (next header 58) echo-style header: type,
	// code, checksum, identifier and sequence number.
	ICMPv6 *ICMP
	// SCTP adds a 12-byte SCTP common header (protocol 132) with
	// verification tag 0 and a CRC32c checksum over the header and Payload.
	SCTP *SCTP
	// Payload follows the transport header, or the network header when
	// no transport layer is set, or the Ethernet/VLAN headers when no
	// network layer is set.
	Payload []byte
	// Length, if > 0, pads the final frame with zero bytes to exactly
	// this many bytes. Build panics if the frame is already longer.
	Length int
}

// VLAN is one VLAN tag. PCP and DEI are always zero.
type VLAN struct {
	// TPID is the tag protocol identifier: 0x8100 (802.1Q) or 0x88a8
	// (802.1ad). Zero selects 0x8100.
	TPID uint16
	// ID is the 12-bit VLAN identifier (0-4095).
	ID uint16
}

// IPv4 describes an IPv4 header.
type IPv4 struct {
	// Src and Dst are the addresses; the zero (invalid) netip.Addr selects
	// 192.0.2.1 and 192.0.2.2. An explicit 0.0.0.0 is kept.
	Src, Dst netip.Addr
	// Protocol, if nonzero, is written as is (e.g. 47 for GRE with no
	// transport layer). If zero it is derived from the transport layer
	// (TCP 6, UDP 17, ICMP 1, ICMPv6 58, SCTP 132), or stays 0 without one.
	// Transport pseudo-header checksums use the value actually written.
	Protocol uint8
	// Options are the IP options, padded with zero bytes to a multiple of
	// 4. At most 40 bytes (after padding).
	Options []byte
	// FragOffset is the fragment offset in 8-byte units (at most 0x1fff).
	FragOffset uint16
	// MoreFragments sets the MF flag.
	MoreFragments bool
	// TTL is the time to live; zero selects 64.
	TTL uint8
	// IHL, if nonzero, is written as is (to craft malformed headers);
	// otherwise it is computed from the options. It does not change how
	// many bytes are written.
	IHL uint8
	// Version, if nonzero, is written as is; otherwise 4.
	Version uint8
}

// IPv6 describes an IPv6 header and its extension headers.
type IPv6 struct {
	// Src and Dst are the addresses; the zero (invalid) netip.Addr selects
	// 2001:db8::1 and 2001:db8::2.
	Src, Dst netip.Addr
	// NextHeader, if nonzero, is the upper-layer protocol written after
	// the last header of the chain. If zero it is derived from the
	// transport layer like IPv4.Protocol, or 59 (No Next Header) without
	// one. With extension headers, the IPv6 header itself points at the
	// first extension header.
	NextHeader uint8
	// Ext are the extension headers in order. Each one's next-header field
	// is chained automatically; the last one points at the upper layer.
	Ext []IPv6Ext
	// HopLimit is the hop limit; zero selects 64.
	HopLimit uint8
}

// IPv6Ext describes one IPv6 extension header.
//
// Hop-by-hop and destination options headers are filled with PadN/Pad1
// options; a routing header has routing type 0 and segments left 0 and is
// otherwise zero; a fragment header has identification 1; an AH header has
// SPI 0x100, sequence number 1 and a zero ICV. Other types are encoded in
// the generic format (next header, length in 8-byte units minus one, zeros).
type IPv6Ext struct {
	// Type is the header type: 0 hop-by-hop, 43 routing, 44 fragment,
	// 60 destination options, 51 AH.
	Type uint8
	// Len is the total header length in bytes. For types 0, 43, 60 (and
	// other generic types) a multiple of 8, at least 8, encoded as
	// Len/8-1; zero selects 8. For 51 (AH) a multiple of 4, at least 12,
	// encoded as Len/4-2; zero selects 12. Ignored for 44 (always 8).
	Len int
	// FragOffset is the fragment offset in 8-byte units (type 44 only).
	FragOffset uint16
	// MoreFragments sets the M flag (type 44 only).
	MoreFragments bool
}

// TCP describes a TCP header (sequence number 1, acknowledgement 0,
// window 65535, urgent pointer 0).
type TCP struct {
	// SrcPort and DstPort are the ports.
	SrcPort, DstPort uint16
	// Flags are the flag bits of byte 13 (FIN 0x01, SYN 0x02, RST 0x04,
	// PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80).
	Flags uint8
	// DataOffset is the header length in 32-bit words; zero selects 5.
	// It is written as is (at most 15); the header occupies
	// max(5, DataOffset) words, options being zero bytes (end of list).
	DataOffset uint8
}

// UDP describes a UDP header.
type UDP struct {
	// SrcPort and DstPort are the ports.
	SrcPort, DstPort uint16
}

// ICMP describes an ICMP or ICMPv6 echo-style header. Type and Code are
// written as is (e.g. 8/0 echo request for ICMP, 128/0 for ICMPv6).
type ICMP struct {
	// Type and Code are the message type and code.
	Type, Code uint8
	// ID and Seq are the echo identifier and sequence number.
	ID, Seq uint16
}

// SCTP describes an SCTP common header.
type SCTP struct {
	// SrcPort and DstPort are the ports.
	SrcPort, DstPort uint16
}

// Build returns the encoded frame and the byte offsets where each header
// ends, in order: Ethernet (14), each VLAN tag, the L3 header (including
// IPv4 options, or the ARP body), each IPv6 extension header, the L4
// header. The offsets let tests truncate a frame exactly at every header
// boundary. The payload and padding do not add boundaries.
//
// Build panics if f describes something impossible (see the package
// documentation).
func Build(f Frame) (frame []byte, boundaries []int) {
	validate(&f)

	dst, src := f.Dst, f.Src
	if dst == ([6]byte{}) {
		dst = defaultDst
	}
	if src == ([6]byte{}) {
		src = defaultSrc
	}

	var b []byte
	b = append(b, dst[:]...)
	b = append(b, src[:]...)
	for _, v := range f.VLANs {
		tpid := v.TPID
		if tpid == 0 {
			tpid = etherTypeVLAN
		}
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, v.ID) // TCI: PCP and DEI zero
	}
	b = binary.BigEndian.AppendUint16(b, etherType(&f))
	// The Ethernet header ends at 14 and each VLAN tag adds 4 bytes, so the
	// first tag ends at 18 (outer TPID, TCI and the next type field).
	for end := ethHdrLen; end <= len(b); end += vlanTagLen {
		boundaries = append(boundaries, end)
	}

	upper, l4HdrLen, ulp := buildL4(&f)

	switch {
	case f.ARP:
		b = appendARP(b, src)
		boundaries = append(boundaries, len(b))
		b = append(b, f.Payload...)
	case f.IPv4 != nil:
		ip := f.IPv4
		srcIP, dstIP := ipv4Addr(ip.Src, defaultIPv4Src), ipv4Addr(ip.Dst, defaultIPv4Dst)
		proto := cmp.Or(ip.Protocol, ulp)
		b = appendIPv4(b, ip, srcIP, dstIP, proto, len(upper))
		boundaries = append(boundaries, len(b))
		if l4HdrLen > 0 {
			pseudo := pseudoIPv4(srcIP, dstIP, proto, len(upper))
			fillL4Checksum(&f, upper, pseudo)
			boundaries = append(boundaries, len(b)+l4HdrLen)
		}
		b = append(b, upper...)
	case f.IPv6 != nil:
		ip := f.IPv6
		srcIP, dstIP := ipv6Addr(ip.Src, defaultIPv6Src), ipv6Addr(ip.Dst, defaultIPv6Dst)
		nh := ip.NextHeader
		if nh == 0 {
			nh = ulp
			if l4HdrLen == 0 {
				nh = protoNoNext
			}
		}
		exts, extEnds := buildIPv6Ext(ip.Ext, nh)
		first := nh
		if len(ip.Ext) > 0 {
			first = ip.Ext[0].Type
		}
		b = appendIPv6(b, ip, srcIP, dstIP, first, len(exts)+len(upper))
		boundaries = append(boundaries, len(b))
		for _, e := range extEnds {
			boundaries = append(boundaries, len(b)+e)
		}
		b = append(b, exts...)
		if l4HdrLen > 0 {
			pseudo := pseudoIPv6(srcIP, dstIP, nh, len(upper))
			fillL4Checksum(&f, upper, pseudo)
			boundaries = append(boundaries, len(b)+l4HdrLen)
		}
		b = append(b, upper...)
	default:
		b = append(b, f.Payload...)
	}

	if f.Length > 0 {
		if len(b) > f.Length {
			panic(fmt.Sprintf("testframe: frame is %d bytes, longer than Length %d", len(b), f.Length))
		}
		b = append(b, make([]byte, f.Length-len(b))...)
	}
	return b, boundaries
}

// MustBuild returns only the frame built by Build. Like Build, it panics
// on impossible descriptions.
func MustBuild(f Frame) []byte {
	b, _ := Build(f)
	return b
}

// validate panics if f cannot be encoded.
func validate(f *Frame) {
	l3 := 0
	if f.ARP {
		l3++
	}
	if f.IPv4 != nil {
		l3++
	}
	if f.IPv6 != nil {
		l3++
	}
	if l3 > 1 {
		panic("testframe: at most one of ARP, IPv4 and IPv6 may be set")
	}
	l4 := 0
	for _, set := range []bool{f.TCP != nil, f.UDP != nil, f.ICMP != nil, f.ICMPv6 != nil, f.SCTP != nil} {
		if set {
			l4++
		}
	}
	if l4 > 1 {
		panic("testframe: at most one of TCP, UDP, ICMP, ICMPv6 and SCTP may be set")
	}
	if l4 > 0 && f.IPv4 == nil && f.IPv6 == nil {
		panic("testframe: a transport layer requires IPv4 or IPv6")
	}
	for _, v := range f.VLANs {
		if v.ID > 0x0fff {
			panic(fmt.Sprintf("testframe: VLAN ID %d out of range", v.ID))
		}
	}
	if f.Length < 0 {
		panic("testframe: negative Length")
	}
	if ip := f.IPv4; ip != nil {
		if len(ip.Options) > maxIPv4Opts {
			panic(fmt.Sprintf("testframe: %d bytes of IPv4 options, at most %d allowed", len(ip.Options), maxIPv4Opts))
		}
		if ip.FragOffset > 0x1fff {
			panic(fmt.Sprintf("testframe: IPv4 fragment offset %d out of range", ip.FragOffset))
		}
		if ip.IHL > 0x0f || ip.Version > 0x0f {
			panic("testframe: IPv4 IHL and Version are 4-bit fields")
		}
	}
	if ip := f.IPv6; ip != nil {
		for _, e := range ip.Ext {
			extLen(e) // panics on bad lengths
			if e.Type == protoFragment && e.FragOffset > 0x1fff {
				panic(fmt.Sprintf("testframe: IPv6 fragment offset %d out of range", e.FragOffset))
			}
		}
	}
	if f.TCP != nil && f.TCP.DataOffset > 0x0f {
		panic(fmt.Sprintf("testframe: TCP data offset %d out of range", f.TCP.DataOffset))
	}
}

// etherType returns the innermost EtherType for f.
func etherType(f *Frame) uint16 {
	switch {
	case f.ARP:
		return etherTypeARP
	case f.IPv4 != nil:
		return etherTypeIPv4
	case f.IPv6 != nil:
		return etherTypeIPv6
	case f.EtherType != 0:
		return f.EtherType
	default:
		return etherTypeDefault
	}
}

func ipv4Addr(a, def netip.Addr) [4]byte {
	if !a.IsValid() {
		a = def
	}
	a = a.Unmap()
	if !a.Is4() {
		panic(fmt.Sprintf("testframe: %v is not an IPv4 address", a))
	}
	return a.As4()
}

func ipv6Addr(a, def netip.Addr) [16]byte {
	if !a.IsValid() {
		a = def
	}
	return a.As16()
}

// appendARP appends an Ethernet/IPv4 ARP request.
func appendARP(b []byte, sha [6]byte) []byte {
	spa := defaultIPv4Src.As4()
	tpa := defaultIPv4Dst.As4()
	b = binary.BigEndian.AppendUint16(b, 1)             // hardware type: Ethernet
	b = binary.BigEndian.AppendUint16(b, etherTypeIPv4) // protocol type
	b = append(b, 6, 4)                                 // hardware / protocol address lengths
	b = binary.BigEndian.AppendUint16(b, 1)             // operation: request
	b = append(b, sha[:]...)
	b = append(b, spa[:]...)
	b = append(b, make([]byte, 6)...) // target hardware address unknown
	b = append(b, tpa[:]...)
	return b
}

// appendIPv4 appends an IPv4 header whose total length covers upperLen
// bytes after the header.
func appendIPv4(b []byte, ip *IPv4, src, dst [4]byte, proto uint8, upperLen int) []byte {
	opts := append([]byte(nil), ip.Options...)
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	if len(opts) > maxIPv4Opts {
		panic(fmt.Sprintf("testframe: %d bytes of padded IPv4 options, at most %d allowed", len(opts), maxIPv4Opts))
	}
	hdrLen := ipv4HdrLen + len(opts)
	version, ihl := ip.Version, ip.IHL
	if version == 0 {
		version = 4
	}
	if ihl == 0 {
		ihl = uint8(hdrLen / 4)
	}
	ttl := ip.TTL
	if ttl == 0 {
		ttl = 64
	}
	fragField := ip.FragOffset
	if ip.MoreFragments {
		fragField |= 0x2000
	}
	totalLen := hdrLen + upperLen
	if totalLen > 0xffff {
		panic(fmt.Sprintf("testframe: IPv4 total length %d too large", totalLen))
	}

	start := len(b)
	b = append(b, version<<4|ihl, 0) // version/IHL, DSCP/ECN
	b = binary.BigEndian.AppendUint16(b, uint16(totalLen))
	b = binary.BigEndian.AppendUint16(b, ipv4ID)
	b = binary.BigEndian.AppendUint16(b, fragField)
	b = append(b, ttl, proto, 0, 0) // TTL, protocol, checksum placeholder
	b = append(b, src[:]...)
	b = append(b, dst[:]...)
	b = append(b, opts...)
	binary.BigEndian.PutUint16(b[start+10:], checksum(0, b[start:]))
	return b
}

// appendIPv6 appends an IPv6 header.
func appendIPv6(b []byte, ip *IPv6, src, dst [16]byte, nextHeader uint8, payloadLen int) []byte {
	if payloadLen > 0xffff {
		panic(fmt.Sprintf("testframe: IPv6 payload length %d too large", payloadLen))
	}
	hop := ip.HopLimit
	if hop == 0 {
		hop = 64
	}
	b = binary.BigEndian.AppendUint32(b, 6<<28) // version, traffic class, flow label
	b = binary.BigEndian.AppendUint16(b, uint16(payloadLen))
	b = append(b, nextHeader, hop)
	b = append(b, src[:]...)
	b = append(b, dst[:]...)
	return b
}

// extLen returns the encoded length of e, panicking on invalid lengths.
func extLen(e IPv6Ext) int {
	switch e.Type {
	case protoFragment:
		return 8
	case protoAH:
		if e.Len == 0 {
			return 12
		}
		if e.Len < 12 || e.Len%4 != 0 || e.Len/4-2 > 0xff {
			panic(fmt.Sprintf("testframe: AH length %d must be a multiple of 4 in [12, 1028]", e.Len))
		}
		return e.Len
	default:
		if e.Len == 0 {
			return 8
		}
		if e.Len < 8 || e.Len%8 != 0 || e.Len/8-1 > 0xff {
			panic(fmt.Sprintf("testframe: IPv6 extension header (type %d) length %d must be a multiple of 8 in [8, 2048]", e.Type, e.Len))
		}
		return e.Len
	}
}

// buildIPv6Ext encodes the extension header chain; the last header points
// at upper. It returns the bytes and the offset (relative to the start of
// the chain) at which each header ends.
func buildIPv6Ext(exts []IPv6Ext, upper uint8) ([]byte, []int) {
	var b []byte
	var ends []int
	for i, e := range exts {
		next := upper
		if i+1 < len(exts) {
			next = exts[i+1].Type
		}
		n := extLen(e)
		h := make([]byte, n)
		h[0] = next
		switch e.Type {
		case protoFragment:
			// h[1] reserved
			field := e.FragOffset << 3
			if e.MoreFragments {
				field |= 1
			}
			binary.BigEndian.PutUint16(h[2:], field)
			binary.BigEndian.PutUint32(h[4:], ipv6FragID)
		case protoAH:
			h[1] = uint8(n/4 - 2)
			binary.BigEndian.PutUint32(h[4:], ahSPI)
			binary.BigEndian.PutUint32(h[8:], ahSeq)
		case protoHopByHop, protoDestOpts:
			h[1] = uint8(n/8 - 1)
			fillPadding(h[2:])
		case protoRouting:
			// Routing type 0 with segments left 0: the destination
			// address is final, so pseudo-headers use it as is.
			h[1] = uint8(n/8 - 1)
		default: // generic: next header, length, zeros
			h[1] = uint8(n/8 - 1)
		}
		b = append(b, h...)
		ends = append(ends, len(b))
	}
	return b, ends
}

// fillPadding fills an options area with PadN options (and a Pad1 where a
// single byte remains).
func fillPadding(p []byte) {
	for len(p) > 0 {
		switch {
		case len(p) == 1:
			p[0] = 0 // Pad1
			p = p[1:]
		default:
			n := min(len(p), 2+0xff)
			if len(p)-n == 1 {
				n-- // leave two bytes so the tail can be a PadN
			}
			p[0] = 1 // PadN
			p[1] = uint8(n - 2)
			clear(p[2:n])
			p = p[n:]
		}
	}
}

// buildL4 encodes the transport header (checksum zero) followed by the
// payload. It returns the bytes, the header length (0 without a transport
// layer, in which case the bytes are just the payload) and the protocol
// number.
func buildL4(f *Frame) (upper []byte, hdrLen int, proto uint8) {
	var h []byte
	switch {
	case f.TCP != nil:
		proto = protoTCP
		off := f.TCP.DataOffset
		if off == 0 {
			off = 5
		}
		h = binary.BigEndian.AppendUint16(h, f.TCP.SrcPort)
		h = binary.BigEndian.AppendUint16(h, f.TCP.DstPort)
		h = binary.BigEndian.AppendUint32(h, tcpSeq)
		h = binary.BigEndian.AppendUint32(h, 0) // acknowledgement number
		h = append(h, off<<4, f.TCP.Flags)
		h = binary.BigEndian.AppendUint16(h, tcpWindow)
		h = binary.BigEndian.AppendUint16(h, 0) // checksum
		h = binary.BigEndian.AppendUint16(h, 0) // urgent pointer
		if n := int(off) * 4; n > len(h) {
			h = append(h, make([]byte, n-len(h))...)
		}
	case f.UDP != nil:
		proto = protoUDP
		udpLen := udpHdrLen + len(f.Payload)
		if udpLen > 0xffff {
			panic(fmt.Sprintf("testframe: UDP length %d too large", udpLen))
		}
		h = binary.BigEndian.AppendUint16(h, f.UDP.SrcPort)
		h = binary.BigEndian.AppendUint16(h, f.UDP.DstPort)
		h = binary.BigEndian.AppendUint16(h, uint16(udpLen))
		h = binary.BigEndian.AppendUint16(h, 0) // checksum
	case f.ICMP != nil:
		proto = protoICMP
		h = appendICMP(h, f.ICMP)
	case f.ICMPv6 != nil:
		proto = protoICMPv6
		h = appendICMP(h, f.ICMPv6)
	case f.SCTP != nil:
		proto = protoSCTP
		h = binary.BigEndian.AppendUint16(h, f.SCTP.SrcPort)
		h = binary.BigEndian.AppendUint16(h, f.SCTP.DstPort)
		h = binary.BigEndian.AppendUint32(h, 0) // verification tag
		h = binary.BigEndian.AppendUint32(h, 0) // checksum
	}
	hdrLen = len(h)
	upper = append(h, f.Payload...)
	return upper, hdrLen, proto
}

func appendICMP(b []byte, m *ICMP) []byte {
	b = append(b, m.Type, m.Code, 0, 0) // type, code, checksum
	b = binary.BigEndian.AppendUint16(b, m.ID)
	b = binary.BigEndian.AppendUint16(b, m.Seq)
	return b
}

// fillL4Checksum writes the transport checksum into upper (transport
// header followed by payload). pseudo is the IP pseudo-header, used by
// TCP, UDP and ICMPv6.
func fillL4Checksum(f *Frame, upper, pseudo []byte) {
	switch {
	case f.TCP != nil:
		binary.BigEndian.PutUint16(upper[16:], checksum(sum(0, pseudo), upper))
	case f.UDP != nil:
		c := checksum(sum(0, pseudo), upper)
		if c == 0 {
			c = 0xffff // zero means "no checksum" for UDP
		}
		binary.BigEndian.PutUint16(upper[6:], c)
	case f.ICMP != nil:
		binary.BigEndian.PutUint16(upper[2:], checksum(0, upper))
	case f.ICMPv6 != nil:
		binary.BigEndian.PutUint16(upper[2:], checksum(sum(0, pseudo), upper))
	case f.SCTP != nil:
		binary.LittleEndian.PutUint32(upper[8:], crc32c(upper))
	}
}
