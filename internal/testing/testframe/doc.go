// Package testframe builds exact, hand-crafted Ethernet frames for tests of
// the eBPF packet parser (XDP and tc programs run with BPF_PROG_TEST_RUN).
//
// A [Frame] describes a frame from the outside in: Ethernet addresses,
// optional 802.1Q/802.1ad tags, at most one network layer (IPv4, IPv6 or
// ARP), at most one transport layer (TCP, UDP, ICMP, ICMPv6 or SCTP), a
// payload and optional Ethernet padding. [Build] encodes it and also returns
// the offset at which every header ends, so tests can truncate a frame
// exactly at each header boundary.
//
// Lengths and checksums are filled in automatically: the IPv4 header
// checksum, IPv4 total length, IPv6 payload length, UDP length, the
// TCP/UDP/ICMPv6 pseudo-header checksums, the ICMP checksum and the SCTP
// CRC32c. They always describe the real packet; bytes added by
// [Frame.Length] are Ethernet padding beyond the IP packet.
//
// These are test helpers: impossible descriptions (for example both IPv4
// and IPv6 set, IPv4 options longer than 40 bytes, or a transport layer
// without a network layer) make [Build] panic rather than return an error.
package testframe
