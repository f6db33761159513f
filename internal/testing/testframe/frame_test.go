package testframe

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// onesSum is an independent RFC 1071 sum used to verify checksums: the
// folded sum over a region that includes a correct checksum is 0xffff.
func onesSum(parts ...[]byte) uint16 {
	var all []byte
	for _, p := range parts {
		all = append(all, p...)
	}
	if len(all)%2 == 1 {
		all = append(all, 0)
	}
	var s uint64
	for i := 0; i < len(all); i += 2 {
		s += uint64(all[i])<<8 | uint64(all[i+1])
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	s = strings.Join(strings.Fields(s), "")
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex constant: %v", err)
	}
	return b
}

func be16(b []byte, off int) uint16 { return binary.BigEndian.Uint16(b[off:]) }

// TestUDPGolden builds UDP over IPv4 and over IPv6 with every field derived
// (lengths, checksums, addresses) and compares them with frames checked by
// hand, byte for byte, with their header boundaries; MustBuild builds the
// same frame.
func TestUDPGolden(t *testing.T) {
	tests := []struct {
		name   string
		frame  Frame
		want   string
		bounds []int
		ipv4   bool // the IPv4 header (bytes 14-34) must sum to 0xffff
	}{{
		// Derived by hand:
		//   IPv4 checksum: 4500+0020+0001+0000+4011+0000+c000+0201+c000+0202
		//     = 0x20935 -> 0x0937 -> ~ = 0xf6c8.
		//   UDP checksum: pseudo c000+0201+c000+0202+0011+000c,
		//     header+data 3039+0035+000c+0000+6162+6364
		//     = 0x27960 -> 0x7962 -> ~ = 0x869d.
		name:  "ipv4",
		frame: Frame{IPv4: &IPv4{}, UDP: &UDP{SrcPort: 12345, DstPort: 53}, Payload: []byte("abcd")},
		want: `
			020000000002 020000000001 0800
			4500 0020 0001 0000 4011 f6c8 c0000201 c0000202
			3039 0035 000c 869d
			61626364`,
		bounds: []int{14, 34, 42},
		ipv4:   true,
	}, {
		// Derived by hand: payload length 8+2 = 10 (0x000a).
		// UDP checksum: pseudo-header 2001+0db8+0001 = 0x2dba,
		//   2001+0db8+0002 = 0x2dbb, + 000a (length) + 0011 (next header)
		//   = 0x5b75+0x000a+0x0011 = 0x5b90;
		//   header+data 0007+0009+000a+0000+6869 = 0x6883;
		//   total 0xc413 -> ~ = 0x3bec.
		name:  "ipv6",
		frame: Frame{IPv6: &IPv6{}, UDP: &UDP{SrcPort: 7, DstPort: 9}, Payload: []byte("hi")},
		want: `
			020000000002 020000000001 86dd
			60000000 000a 11 40
			20010db8000000000000000000000001
			20010db8000000000000000000000002
			0007 0009 000a 3bec
			6869`,
		bounds: []int{14, 54, 62},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := mustHex(t, tt.want)
			got, bounds := Build(tt.frame)
			if !bytes.Equal(got, want) {
				t.Fatalf("frame mismatch\n got %x\nwant %x", got, want)
			}
			if !slices.Equal(bounds, tt.bounds) {
				t.Errorf("boundaries = %v, want %v", bounds, tt.bounds)
			}
			if s := onesSum(got[14:34]); tt.ipv4 && s != 0xffff {
				t.Errorf("IPv4 header sum = %#x, want 0xffff", s)
			}
			if !bytes.Equal(MustBuild(tt.frame), want) {
				t.Error("MustBuild differs from Build")
			}
		})
	}
}

func TestIPv4Header(t *testing.T) {
	tests := []struct {
		name      string
		ip        IPv4
		payload   []byte
		wantVIHL  byte
		wantHdr   int // bytes actually written for the IPv4 header
		wantFrag  uint16
		wantProto byte
		wantTTL   byte
	}{
		{name: "defaults", ip: IPv4{}, wantVIHL: 0x45, wantHdr: 20, wantTTL: 64},
		{name: "options padded", ip: IPv4{Options: []byte{1, 1, 1, 0x07, 0x03, 0x04}}, wantVIHL: 0x47, wantHdr: 28, wantTTL: 64},
		{name: "router alert", ip: IPv4{Options: []byte{0x94, 0x04, 0x00, 0x00}}, wantVIHL: 0x46, wantHdr: 24, wantTTL: 64},
		{name: "max options", ip: IPv4{Options: make([]byte, 40)}, wantVIHL: 0x4f, wantHdr: 60, wantTTL: 64},
		{name: "39 bytes of options", ip: IPv4{Options: make([]byte, 39)}, wantVIHL: 0x4f, wantHdr: 60, wantTTL: 64},
		{name: "IHL override short", ip: IPv4{IHL: 4}, wantVIHL: 0x44, wantHdr: 20, wantTTL: 64},
		{name: "IHL override long", ip: IPv4{IHL: 15}, wantVIHL: 0x4f, wantHdr: 20, wantTTL: 64},
		{name: "version override", ip: IPv4{Version: 6}, wantVIHL: 0x65, wantHdr: 20, wantTTL: 64},
		{name: "more fragments", ip: IPv4{MoreFragments: true}, wantVIHL: 0x45, wantHdr: 20, wantFrag: 0x2000, wantTTL: 64},
		{name: "offset and MF", ip: IPv4{FragOffset: 185, MoreFragments: true}, wantVIHL: 0x45, wantHdr: 20, wantFrag: 0x20b9, wantTTL: 64},
		{name: "last fragment", ip: IPv4{FragOffset: 0x1fff}, wantVIHL: 0x45, wantHdr: 20, wantFrag: 0x1fff, wantTTL: 64},
		{name: "GRE protocol", ip: IPv4{Protocol: 47}, payload: []byte{0, 0, 0x08, 0}, wantVIHL: 0x45, wantHdr: 20, wantProto: 47, wantTTL: 64},
		{name: "TTL", ip: IPv4{TTL: 1}, wantVIHL: 0x45, wantHdr: 20, wantTTL: 1},
		{name: "explicit addresses", ip: IPv4{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("::ffff:10.0.0.2")}, wantVIHL: 0x45, wantHdr: 20, wantTTL: 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip := tt.ip
			b, bounds := Build(Frame{IPv4: &ip, Payload: tt.payload})
			h := b[14:]
			if h[0] != tt.wantVIHL {
				t.Errorf("version/IHL = %#x, want %#x", h[0], tt.wantVIHL)
			}
			if wantB := []int{14, 14 + tt.wantHdr}; !slices.Equal(bounds, wantB) {
				t.Errorf("boundaries = %v, want %v", bounds, wantB)
			}
			if len(b) != 14+tt.wantHdr+len(tt.payload) {
				t.Errorf("frame length = %d, want %d", len(b), 14+tt.wantHdr+len(tt.payload))
			}
			if got := be16(h, 2); int(got) != tt.wantHdr+len(tt.payload) {
				t.Errorf("total length = %d, want %d", got, tt.wantHdr+len(tt.payload))
			}
			if got := be16(h, 6); got != tt.wantFrag {
				t.Errorf("flags/fragment = %#04x, want %#04x", got, tt.wantFrag)
			}
			if h[8] != tt.wantTTL {
				t.Errorf("TTL = %d, want %d", h[8], tt.wantTTL)
			}
			if h[9] != tt.wantProto {
				t.Errorf("protocol = %d, want %d", h[9], tt.wantProto)
			}
			if s := onesSum(h[:tt.wantHdr]); s != 0xffff {
				t.Errorf("header sum = %#x, want 0xffff", s)
			}
			if len(tt.ip.Options) > 0 {
				opts := h[20:tt.wantHdr]
				if !bytes.Equal(opts[:len(tt.ip.Options)], tt.ip.Options) {
					t.Errorf("options = %x, want prefix %x", opts, tt.ip.Options)
				}
				if !allZero(opts[len(tt.ip.Options):]) {
					t.Errorf("option padding not zero: %x", opts)
				}
			}
			wantSrc, wantDst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
			if tt.ip.Src.IsValid() {
				wantSrc = tt.ip.Src.Unmap()
			}
			if tt.ip.Dst.IsValid() {
				wantDst = tt.ip.Dst.Unmap()
			}
			if got := netip.AddrFrom4([4]byte(h[12:16])); got != wantSrc {
				t.Errorf("src = %v, want %v", got, wantSrc)
			}
			if got := netip.AddrFrom4([4]byte(h[16:20])); got != wantDst {
				t.Errorf("dst = %v, want %v", got, wantDst)
			}
		})
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func TestVLAN(t *testing.T) {
	tests := []struct {
		name      string
		f         Frame
		wantTypes []uint16 // type fields at 12, 16, 20, ...
		wantTCIs  []uint16
		wantB     []int
	}{
		{
			name:      "802.1Q IPv4",
			f:         Frame{VLANs: []VLAN{{TPID: 0x8100, ID: 100}}, IPv4: &IPv4{}},
			wantTypes: []uint16{0x8100, 0x0800},
			wantTCIs:  []uint16{100},
			wantB:     []int{14, 18, 38},
		},
		{
			name:      "default TPID",
			f:         Frame{VLANs: []VLAN{{ID: 4095}}, EtherType: 0x1234},
			wantTypes: []uint16{0x8100, 0x1234},
			wantTCIs:  []uint16{4095},
			wantB:     []int{14, 18},
		},
		{
			name:      "QinQ IPv6",
			f:         Frame{VLANs: []VLAN{{TPID: 0x88a8, ID: 10}, {TPID: 0x8100, ID: 20}}, IPv6: &IPv6{}, TCP: &TCP{}},
			wantTypes: []uint16{0x88a8, 0x8100, 0x86dd},
			wantTCIs:  []uint16{10, 20},
			wantB:     []int{14, 18, 22, 62, 82},
		},
		{
			name:      "double 802.1Q ARP",
			f:         Frame{VLANs: []VLAN{{TPID: 0x8100, ID: 1}, {TPID: 0x8100, ID: 2}}, ARP: true},
			wantTypes: []uint16{0x8100, 0x8100, 0x0806},
			wantTCIs:  []uint16{1, 2},
			wantB:     []int{14, 18, 22, 50},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, bounds := Build(tt.f)
			for i, want := range tt.wantTypes {
				if got := be16(b, 12+4*i); got != want {
					t.Errorf("type field %d = %#04x, want %#04x", i, got, want)
				}
			}
			for i, want := range tt.wantTCIs {
				if got := be16(b, 14+4*i); got != want {
					t.Errorf("TCI %d = %#04x, want %#04x", i, got, want)
				}
			}
			if !slices.Equal(bounds, tt.wantB) {
				t.Errorf("boundaries = %v, want %v", bounds, tt.wantB)
			}
		})
	}
}

func TestIPv6ExtensionChain(t *testing.T) {
	payload := []byte{1, 2, 3, 4, 5}
	f := Frame{
		IPv6: &IPv6{
			HopLimit: 7,
			Ext: []IPv6Ext{
				{Type: 0, Len: 8},
				{Type: 44, FragOffset: 100, MoreFragments: true, Len: 999},
				{Type: 43, Len: 16},
				{Type: 60, Len: 24},
			},
		},
		UDP:     &UDP{SrcPort: 1000, DstPort: 2000},
		Payload: payload,
	}
	b, bounds := Build(f)
	wantB := []int{14, 54, 62, 70, 86, 110, 118}
	if !slices.Equal(bounds, wantB) {
		t.Fatalf("boundaries = %v, want %v", bounds, wantB)
	}
	if len(b) != 118+len(payload) {
		t.Fatalf("frame length = %d, want %d", len(b), 118+len(payload))
	}
	ip := b[14:54]
	if ip[0]>>4 != 6 {
		t.Errorf("version = %d", ip[0]>>4)
	}
	if got, want := be16(ip, 4), uint16(8+8+16+24+8+len(payload)); got != want {
		t.Errorf("payload length = %d, want %d", got, want)
	}
	if ip[6] != 0 {
		t.Errorf("IPv6 next header = %d, want 0 (hop-by-hop)", ip[6])
	}
	if ip[7] != 7 {
		t.Errorf("hop limit = %d, want 7", ip[7])
	}
	hbh, frag, rt, dst := b[54:62], b[62:70], b[70:86], b[86:110]
	checks := []struct {
		name      string
		h         []byte
		wantNext  byte
		wantLenFd byte
	}{
		{"hop-by-hop", hbh, 44, 0},
		{"fragment", frag, 43, 0}, // byte 1 reserved
		{"routing", rt, 60, 1},
		{"destination options", dst, 17, 2},
	}
	for _, c := range checks {
		if c.h[0] != c.wantNext {
			t.Errorf("%s next header = %d, want %d", c.name, c.h[0], c.wantNext)
		}
		if c.h[1] != c.wantLenFd {
			t.Errorf("%s length field = %d, want %d", c.name, c.h[1], c.wantLenFd)
		}
	}
	// Fragment: offset 100 << 3 | M.
	if got := be16(frag, 2); got != 100<<3|1 {
		t.Errorf("fragment field = %#04x, want %#04x", got, 100<<3|1)
	}
	if binary.BigEndian.Uint32(frag[4:]) == 0 {
		t.Error("fragment identification is zero")
	}
	// Options areas must be well-formed TLVs that exactly fill the header.
	for _, h := range [][]byte{hbh, dst} {
		if err := walkOptions(h[2:]); err != "" {
			t.Errorf("options %x: %s", h, err)
		}
	}
	if rt[2] != 0 || rt[3] != 0 {
		t.Errorf("routing type/segments left = %d/%d, want 0/0", rt[2], rt[3])
	}
	udp := b[110:]
	if got := be16(udp, 4); int(got) != 8+len(payload) {
		t.Errorf("UDP length = %d, want %d", got, 8+len(payload))
	}
	pseudo := append(append([]byte(nil), ip[8:40]...), 0, 0, 0, byte(len(udp)), 0, 0, 0, 17)
	if s := onesSum(pseudo, udp); s != 0xffff {
		t.Errorf("UDP sum = %#x, want 0xffff", s)
	}
}

// walkOptions parses an IPv6 TLV options area, returning a description of
// the first problem or "".
func walkOptions(p []byte) string {
	for len(p) > 0 {
		if p[0] == 0 { // Pad1
			p = p[1:]
			continue
		}
		if len(p) < 2 || len(p) < 2+int(p[1]) {
			return "option overruns header"
		}
		p = p[2+int(p[1]):]
	}
	return ""
}

func TestIPv6ExtensionHeaders(t *testing.T) {
	tests := []struct {
		name       string
		ip         IPv6
		l4         Frame
		wantFirst  byte
		wantNexts  []byte // next-header field of each extension header
		wantLenFds []byte // byte 1 of each extension header
		wantSizes  []int
	}{
		{
			name:       "no ext, derived TCP",
			ip:         IPv6{},
			l4:         Frame{TCP: &TCP{}},
			wantFirst:  6,
			wantNexts:  nil,
			wantLenFds: nil,
		},
		{
			name:      "no ext, no L4",
			ip:        IPv6{},
			wantFirst: 59,
		},
		{
			name:      "no ext, explicit next header",
			ip:        IPv6{NextHeader: 4},
			wantFirst: 4,
		},
		{
			name:       "AH then ICMPv6",
			ip:         IPv6{Ext: []IPv6Ext{{Type: 51, Len: 24}}},
			l4:         Frame{ICMPv6: &ICMP{Type: 128}},
			wantFirst:  51,
			wantNexts:  []byte{58},
			wantLenFds: []byte{4},
			wantSizes:  []int{24},
		},
		{
			name:       "default lengths",
			ip:         IPv6{Ext: []IPv6Ext{{Type: 0}, {Type: 51}, {Type: 60}}},
			l4:         Frame{SCTP: &SCTP{}},
			wantFirst:  0,
			wantNexts:  []byte{51, 60, 132},
			wantLenFds: []byte{0, 1, 0},
			wantSizes:  []int{8, 12, 8},
		},
		{
			name:       "explicit upper layer after ext",
			ip:         IPv6{NextHeader: 47, Ext: []IPv6Ext{{Type: 60, Len: 8}}},
			wantFirst:  60,
			wantNexts:  []byte{47},
			wantLenFds: []byte{0},
			wantSizes:  []int{8},
		},
		{
			name:       "ext with no L4",
			ip:         IPv6{Ext: []IPv6Ext{{Type: 44}}},
			wantFirst:  44,
			wantNexts:  []byte{59},
			wantLenFds: []byte{0},
			wantSizes:  []int{8},
		},
		{
			name:       "large hop-by-hop",
			ip:         IPv6{Ext: []IPv6Ext{{Type: 0, Len: 2048}}},
			l4:         Frame{UDP: &UDP{}},
			wantFirst:  0,
			wantNexts:  []byte{17},
			wantLenFds: []byte{255},
			wantSizes:  []int{2048},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.l4
			ip := tt.ip
			f.IPv6 = &ip
			b, bounds := Build(f)
			if b[14+6] != tt.wantFirst {
				t.Errorf("IPv6 next header = %d, want %d", b[14+6], tt.wantFirst)
			}
			off := 54
			for i := range tt.wantNexts {
				if bounds[2+i] != off+tt.wantSizes[i] {
					t.Errorf("ext %d ends at %d, want %d", i, bounds[2+i], off+tt.wantSizes[i])
				}
				if b[off] != tt.wantNexts[i] {
					t.Errorf("ext %d next header = %d, want %d", i, b[off], tt.wantNexts[i])
				}
				if b[off+1] != tt.wantLenFds[i] {
					t.Errorf("ext %d length field = %d, want %d", i, b[off+1], tt.wantLenFds[i])
				}
				if typ := ip.Ext[i].Type; typ == 0 || typ == 60 {
					if err := walkOptions(b[off+2 : off+tt.wantSizes[i]]); err != "" {
						t.Errorf("ext %d: %s", i, err)
					}
				}
				off += tt.wantSizes[i]
			}
			if got := int(be16(b, 14+4)); got != len(b)-54 {
				t.Errorf("payload length = %d, want %d", got, len(b)-54)
			}
		})
	}
}

func TestARP(t *testing.T) {
	want := mustHex(t, `
		0a0b0c0d0e0f 020000000001 0806
		0001 0800 06 04 0001
		020000000001 c0000201
		000000000000 c0000202`)
	got, bounds := Build(Frame{Dst: [6]byte{0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}, ARP: true})
	if !bytes.Equal(got, want) {
		t.Fatalf("frame mismatch\n got %x\nwant %x", got, want)
	}
	if wantB := []int{14, 42}; !slices.Equal(bounds, wantB) {
		t.Errorf("boundaries = %v, want %v", bounds, wantB)
	}
}

func TestEtherTypeOnly(t *testing.T) {
	tests := []struct {
		name    string
		f       Frame
		wantET  uint16
		wantLen int
	}{
		{"default", Frame{}, 0x88b5, 14},
		{"LLDP", Frame{EtherType: 0x88cc, Payload: []byte{0x02, 0x07}}, 0x88cc, 16},
		{"unknown", Frame{EtherType: 0x1234, Payload: []byte("xyz")}, 0x1234, 17},
		{"ignored with IPv4", Frame{EtherType: 0x1234, IPv4: &IPv4{}}, 0x0800, 34},
		{"ignored with IPv6", Frame{EtherType: 0x1234, IPv6: &IPv6{}}, 0x86dd, 54},
		{"ignored with ARP", Frame{EtherType: 0x1234, ARP: true}, 0x0806, 42},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := Build(tt.f)
			if got := be16(b, 12); got != tt.wantET {
				t.Errorf("EtherType = %#04x, want %#04x", got, tt.wantET)
			}
			if len(b) != tt.wantLen {
				t.Errorf("length = %d, want %d", len(b), tt.wantLen)
			}
			if !bytes.Equal(b[:12], mustHex(t, "020000000002020000000001")) {
				t.Errorf("default MACs = %x", b[:12])
			}
			if !bytes.Equal(b[tt.wantLen-len(tt.f.Payload):], tt.f.Payload) {
				t.Errorf("payload = %x, want suffix %x", b, tt.f.Payload)
			}
		})
	}
}

func TestLengthPadding(t *testing.T) {
	tests := []struct {
		name string
		f    Frame
		real int // length before padding
	}{
		{"IPv4 UDP to 60", Frame{IPv4: &IPv4{}, UDP: &UDP{}, Payload: []byte{1, 2}, Length: 60}, 44},
		{"IPv6 TCP to 100", Frame{IPv6: &IPv6{}, TCP: &TCP{}, Length: 100}, 74},
		{"ARP to 60", Frame{ARP: true, Length: 60}, 42},
		{"exact", Frame{EtherType: 0x1234, Length: 14}, 14},
		{"zero means none", Frame{IPv4: &IPv4{}, Length: 0}, 34},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unpadded := tt.f
			unpadded.Length = 0
			base, baseB := Build(unpadded)
			b, bounds := Build(tt.f)
			wantLen := max(tt.f.Length, tt.real)
			if len(base) != tt.real || len(b) != wantLen {
				t.Fatalf("lengths = %d/%d, want %d/%d", len(base), len(b), tt.real, wantLen)
			}
			if !bytes.Equal(b[:len(base)], base) || !allZero(b[len(base):]) {
				t.Errorf("padded frame %x is not %x plus zeros", b, base)
			}
			if !slices.Equal(bounds, baseB) {
				t.Errorf("padding changed boundaries: %v vs %v", bounds, baseB)
			}
		})
	}
	// Lengths describe the real packet, not the padding.
	b := MustBuild(Frame{IPv4: &IPv4{}, UDP: &UDP{}, Payload: []byte{9}, Length: 64})
	if got := be16(b, 14+2); got != 29 {
		t.Errorf("IPv4 total length = %d, want 29", got)
	}
	if got := be16(b, 34+4); got != 9 {
		t.Errorf("UDP length = %d, want 9", got)
	}
	b = MustBuild(Frame{IPv6: &IPv6{}, Payload: []byte{9}, Length: 80})
	if got := be16(b, 14+4); got != 1 {
		t.Errorf("IPv6 payload length = %d, want 1", got)
	}
}

func TestBoundaries(t *testing.T) {
	tests := []struct {
		name string
		f    Frame
		want []int
	}{
		{"ethernet only", Frame{Payload: []byte{1}}, []int{14}},
		{"IPv4 TCP", Frame{IPv4: &IPv4{}, TCP: &TCP{}}, []int{14, 34, 54}},
		{"IPv4 options TCP options", Frame{IPv4: &IPv4{Options: []byte{1}}, TCP: &TCP{DataOffset: 8}}, []int{14, 38, 70}},
		{"IPv4 ICMP", Frame{IPv4: &IPv4{}, ICMP: &ICMP{Type: 8}}, []int{14, 34, 42}},
		{"IPv4 SCTP", Frame{IPv4: &IPv4{}, SCTP: &SCTP{}, Payload: make([]byte, 16)}, []int{14, 34, 46}},
		{"IPv4 no L4", Frame{IPv4: &IPv4{Protocol: 47}, Payload: make([]byte, 4)}, []int{14, 34}},
		{"VLAN IPv6 ICMPv6", Frame{VLANs: []VLAN{{ID: 5}}, IPv6: &IPv6{}, ICMPv6: &ICMP{Type: 128}}, []int{14, 18, 58, 66}},
		{"IPv6 ext UDP", Frame{IPv6: &IPv6{Ext: []IPv6Ext{{Type: 60, Len: 16}}}, UDP: &UDP{}}, []int{14, 54, 70, 78}},
		{"three VLANs ARP", Frame{VLANs: []VLAN{{ID: 1}, {ID: 2}, {ID: 3}}, ARP: true}, []int{14, 18, 22, 26, 54}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, got := Build(tt.f)
			if !slices.Equal(got, tt.want) {
				t.Errorf("boundaries = %v, want %v", got, tt.want)
			}
			if last := got[len(got)-1]; last+len(tt.f.Payload) != len(b) {
				t.Errorf("last boundary %d + payload %d != frame length %d", last, len(tt.f.Payload), len(b))
			}
		})
	}
}

func TestTransportChecksums(t *testing.T) {
	v4 := func() *IPv4 {
		return &IPv4{Src: netip.MustParseAddr("198.51.100.7"), Dst: netip.MustParseAddr("203.0.113.9")}
	}
	v6 := func() *IPv6 {
		return &IPv6{Src: netip.MustParseAddr("fe80::1234:5678"), Dst: netip.MustParseAddr("ff02::1")}
	}
	tests := []struct {
		name  string
		f     Frame
		proto byte
	}{
		{"IPv4 UDP odd payload", Frame{IPv4: v4(), UDP: &UDP{SrcPort: 53, DstPort: 40000}, Payload: []byte("hello")}, 17},
		{"IPv4 UDP empty", Frame{IPv4: v4(), UDP: &UDP{SrcPort: 1, DstPort: 2}}, 17},
		{"IPv4 TCP SYN", Frame{IPv4: v4(), TCP: &TCP{SrcPort: 40000, DstPort: 443, Flags: 0x02}}, 6},
		{"IPv4 TCP options payload", Frame{IPv4: v4(), TCP: &TCP{SrcPort: 1, DstPort: 2, Flags: 0x18, DataOffset: 6}, Payload: []byte("GET /")}, 6},
		{"IPv4 ICMP echo", Frame{IPv4: v4(), ICMP: &ICMP{Type: 8, ID: 0x1234, Seq: 1}, Payload: []byte("ping!")}, 1},
		{"IPv4 with options UDP", Frame{IPv4: &IPv4{Options: []byte{0x94, 4, 0, 0}}, UDP: &UDP{SrcPort: 9, DstPort: 9}, Payload: []byte{0xff}}, 17},
		{"IPv6 UDP", Frame{IPv6: v6(), UDP: &UDP{SrcPort: 546, DstPort: 547}, Payload: []byte("dhcp6")}, 17},
		{"IPv6 TCP", Frame{IPv6: v6(), TCP: &TCP{SrcPort: 22, DstPort: 50000, Flags: 0x12}}, 6},
		{"IPv6 ICMPv6 echo", Frame{IPv6: v6(), ICMPv6: &ICMP{Type: 128, ID: 7, Seq: 9}, Payload: []byte{0xab}}, 58},
		{"IPv6 ext ICMPv6", Frame{IPv6: &IPv6{Ext: []IPv6Ext{{Type: 0}, {Type: 60, Len: 16}}}, ICMPv6: &ICMP{Type: 129}}, 58},
		{"IPv6 ext TCP padded", Frame{IPv6: &IPv6{Ext: []IPv6Ext{{Type: 43}}}, TCP: &TCP{}, Length: 128}, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, bounds := Build(tt.f)
			l4Start := bounds[len(bounds)-2]
			var end int
			var pseudo []byte
			if tt.f.IPv4 != nil {
				ip := b[14:bounds[1]]
				end = 14 + int(be16(ip, 2))
				if ip[9] != tt.proto {
					t.Errorf("protocol = %d, want %d", ip[9], tt.proto)
				}
				pseudo = append(append([]byte(nil), ip[12:20]...), 0, tt.proto)
				pseudo = binary.BigEndian.AppendUint16(pseudo, uint16(end-l4Start))
			} else {
				ip := b[14:54]
				end = 54 + int(be16(ip, 4))
				pseudo = append([]byte(nil), ip[8:40]...)
				pseudo = binary.BigEndian.AppendUint32(pseudo, uint32(end-l4Start))
				pseudo = append(pseudo, 0, 0, 0, tt.proto)
				// The upper-layer protocol is the last next-header field.
				nh := ip[6]
				if len(bounds) > 3 { // extension headers: the last one starts here
					nh = b[bounds[len(bounds)-3]]
				}
				if nh != tt.proto {
					t.Errorf("upper-layer next header = %d, want %d", nh, tt.proto)
				}
			}
			l4 := b[l4Start:end]
			if !bytes.Equal(l4[bounds[len(bounds)-1]-l4Start:], tt.f.Payload) {
				t.Errorf("payload = %x, want %x", l4[bounds[len(bounds)-1]-l4Start:], tt.f.Payload)
			}
			if tt.proto == 1 {
				pseudo = nil // ICMP has no pseudo-header
			}
			if s := onesSum(pseudo, l4); s != 0xffff {
				t.Errorf("L4 sum = %#x, want 0xffff (frame %x)", s, b)
			}
			if tt.proto == 17 && be16(l4, 4) != uint16(len(l4)) {
				t.Errorf("UDP length = %d, want %d", be16(l4, 4), len(l4))
			}
			if tt.proto == 6 {
				off := tt.f.TCP.DataOffset
				if off == 0 {
					off = 5
				}
				if l4[12]>>4 != off || l4[13] != tt.f.TCP.Flags {
					t.Errorf("TCP data offset/flags = %d/%#x, want %d/%#x", l4[12]>>4, l4[13], off, tt.f.TCP.Flags)
				}
			}
		})
	}
}

func TestICMPFields(t *testing.T) {
	b, bounds := Build(Frame{IPv4: &IPv4{}, ICMP: &ICMP{Type: 8, Code: 0, ID: 0xbeef, Seq: 0x0102}})
	want := mustHex(t, "0800") // type, code
	icmp := b[bounds[1]:]
	if !bytes.Equal(icmp[:2], want) || be16(icmp, 4) != 0xbeef || be16(icmp, 6) != 0x0102 {
		t.Errorf("ICMP header = %x", icmp)
	}
	// Hand check: ~(0x0800 + 0xbeef + 0x0102) = ~0xc7f1 = 0x380e.
	if got := be16(icmp, 2); got != 0x380e {
		t.Errorf("ICMP checksum = %#04x, want 0x380e", got)
	}
}

func TestUDPZeroChecksumIsSent(t *testing.T) {
	// A UDP checksum that computes to 0 must be transmitted as 0xffff.
	// Find a payload word that makes the sum come out as 0xffff (checksum 0).
	base := Frame{IPv4: &IPv4{}, UDP: &UDP{SrcPort: 1, DstPort: 2}, Payload: []byte{0, 0}}
	b := MustBuild(base)
	c := be16(b, 34+6) // checksum with a zero payload word
	// With payload word w = c the total sum becomes S + ~S = 0xffff, so
	// the computed checksum is 0.
	base.Payload = []byte{byte(c >> 8), byte(c)}
	b = MustBuild(base)
	if got := be16(b, 34+6); got != 0xffff {
		t.Errorf("UDP checksum = %#04x, want 0xffff", got)
	}
}

func TestSCTP(t *testing.T) {
	payload := []byte{1, 0, 0, 8, 0, 0, 0, 0} // a minimal DATA-like chunk header
	b, bounds := Build(Frame{IPv4: &IPv4{}, SCTP: &SCTP{SrcPort: 2905, DstPort: 2906}, Payload: payload})
	if b[14+9] != 132 {
		t.Errorf("protocol = %d, want 132", b[14+9])
	}
	sctp := append([]byte(nil), b[bounds[1]:]...)
	if be16(sctp, 0) != 2905 || be16(sctp, 2) != 2906 {
		t.Errorf("ports = %x", sctp[:4])
	}
	got := binary.LittleEndian.Uint32(sctp[8:])
	clear(sctp[8:12])
	if want := crc32.Checksum(sctp, crc32.MakeTable(crc32.Castagnoli)); got != want {
		t.Errorf("CRC32c = %#08x, want %#08x", got, want)
	}
	if !bytes.Equal(sctp[12:], payload) {
		t.Errorf("payload = %x", sctp[12:])
	}
}

func TestCRC32cKnownValue(t *testing.T) {
	// Standard CRC-32C check value.
	if got := crc32c([]byte("123456789")); got != 0xe3069283 {
		t.Errorf("crc32c = %#08x, want 0xe3069283", got)
	}
}

func TestChecksumHelper(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want uint16
	}{
		// RFC 1071 section 3 example: sum 0xddf2 -> checksum 0x220d.
		{"rfc1071", []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, 0x220d},
		{"empty", nil, 0xffff},
		{"odd", []byte{0x01}, 0xfeff},
		{"carry", []byte{0xff, 0xff, 0x00, 0x01}, 0xfffe},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := checksum(0, tt.data); got != tt.want {
				t.Errorf("checksum = %#04x, want %#04x", got, tt.want)
			}
		})
	}
}

func TestDefaultsAndOverrides(t *testing.T) {
	dst := [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	src := [6]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}
	b := MustBuild(Frame{Dst: dst, Src: src, IPv6: &IPv6{
		Src: netip.MustParseAddr("::1"), Dst: netip.MustParseAddr("fe80::2"), HopLimit: 255,
	}})
	if !bytes.Equal(b[0:6], dst[:]) || !bytes.Equal(b[6:12], src[:]) {
		t.Errorf("MACs = %x", b[:12])
	}
	if b[14+7] != 255 {
		t.Errorf("hop limit = %d", b[14+7])
	}
	if got := netip.AddrFrom16([16]byte(b[22:38])); got != netip.MustParseAddr("::1") {
		t.Errorf("src = %v", got)
	}
	if got := netip.AddrFrom16([16]byte(b[38:54])); got != netip.MustParseAddr("fe80::2") {
		t.Errorf("dst = %v", got)
	}
	b = MustBuild(Frame{IPv4: &IPv4{Src: netip.IPv4Unspecified()}})
	if !allZero(b[26:30]) {
		t.Errorf("explicit 0.0.0.0 replaced: %x", b[26:30])
	}
}

func TestPanics(t *testing.T) {
	tests := []struct {
		name string
		f    Frame
	}{
		{"IPv4 and IPv6", Frame{IPv4: &IPv4{}, IPv6: &IPv6{}}},
		{"ARP and IPv4", Frame{ARP: true, IPv4: &IPv4{}}},
		{"two L4", Frame{IPv4: &IPv4{}, TCP: &TCP{}, UDP: &UDP{}}},
		{"L4 without L3", Frame{UDP: &UDP{}}},
		{"L4 with ARP", Frame{ARP: true, ICMP: &ICMP{}}},
		{"options too long", Frame{IPv4: &IPv4{Options: make([]byte, 41)}}},
		{"IPv4 fragment offset", Frame{IPv4: &IPv4{FragOffset: 0x2000}}},
		{"IHL out of range", Frame{IPv4: &IPv4{IHL: 16}}},
		{"IPv6 address in IPv4", Frame{IPv4: &IPv4{Src: netip.MustParseAddr("2001:db8::1")}}},
		{"VLAN ID", Frame{VLANs: []VLAN{{ID: 4096}}}},
		{"ext len not multiple of 8", Frame{IPv6: &IPv6{Ext: []IPv6Ext{{Type: 0, Len: 12}}}}},
		{"ext len too large", Frame{IPv6: &IPv6{Ext: []IPv6Ext{{Type: 60, Len: 2056}}}}},
		{"AH len", Frame{IPv6: &IPv6{Ext: []IPv6Ext{{Type: 51, Len: 10}}}}},
		{"IPv6 fragment offset", Frame{IPv6: &IPv6{Ext: []IPv6Ext{{Type: 44, FragOffset: 0x2000}}}}},
		{"TCP data offset", Frame{IPv4: &IPv4{}, TCP: &TCP{DataOffset: 16}}},
		{"Length too short", Frame{IPv4: &IPv4{}, Length: 33}},
		{"negative Length", Frame{Length: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("Build did not panic")
				}
			}()
			Build(tt.f)
		})
	}
}

func TestBuildDoesNotModifyInput(t *testing.T) {
	opts := []byte{0x01}
	ip := &IPv4{Options: opts}
	payload := []byte{1, 2, 3}
	f := Frame{IPv4: ip, UDP: &UDP{}, Payload: payload}
	b1 := MustBuild(f)
	b2 := MustBuild(f)
	if !bytes.Equal(b1, b2) {
		t.Error("Build is not deterministic")
	}
	if len(ip.Options) != 1 || ip.Protocol != 0 || ip.TTL != 0 || !bytes.Equal(payload, []byte{1, 2, 3}) {
		t.Errorf("input modified: %+v %x", ip, payload)
	}
}
