package testframe

import (
	"bytes"
	"testing"
)

// TestTunnelHeaders checks every tunnel header builder against its bytes
// written out by hand from the RFCs' layouts.
func TestTunnelHeaders(t *testing.T) {
	inner := []byte{0xaa, 0xbb}
	for _, tc := range []struct {
		name string
		got  []byte
		want []byte
	}{
		{"vxlan", VXLAN(VXLANFlagVNI, 0x123456, inner), []byte{0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0, 0xaa, 0xbb}},
		{"geneve", Geneve{Protocol: EtherTypeTEB, VNI: 7}.Encapsulate(inner), []byte{0, 0, 0x65, 0x58, 0, 0, 7, 0, 0xaa, 0xbb}},
		{"geneve options padded", Geneve{Version: 1, Protocol: EtherTypeIPv6, VNI: 1, Options: []byte{1, 2, 3, 4, 5}}.Encapsulate(inner),
			[]byte{0x42, 0, 0x86, 0xdd, 0, 0, 1, 0, 1, 2, 3, 4, 5, 0, 0, 0, 0xaa, 0xbb}},
		{"gre", GRE{Protocol: EtherTypeIPv4}.Encapsulate(inner), []byte{0, 0, 0x08, 0x00, 0xaa, 0xbb}},
		{"gre checksum key sequence", GRE{Protocol: EtherTypeTEB, Checksum: true, Key: true, Seq: true}.Encapsulate(inner),
			[]byte{0xb0, 0, 0x65, 0x58, 0, 0, 0, 0, 0, 0, 0x2a, 0x2a, 0, 0, 0, 1, 0xaa, 0xbb}},
		{"gre routing version 1", GRE{Protocol: 0x880b, Routing: true, Version: 1}.Encapsulate(nil), []byte{0x40, 1, 0x88, 0x0b}},
		{"packet", Packet(Frame{VLANs: []VLAN{{ID: 5}}, IPv4: &IPv4{Protocol: 253}}), MustBuild(Frame{IPv4: &IPv4{Protocol: 253}})[ethHdrLen:]},
	} {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("%s: % x, want % x", tc.name, tc.got, tc.want)
		}
	}
}
