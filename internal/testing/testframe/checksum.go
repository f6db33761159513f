package testframe

import (
	"encoding/binary"
	"hash/crc32"
)

// sum adds data to the running 32-bit ones' complement accumulator acc,
// as big-endian 16-bit words. An odd trailing byte is padded with zero, so
// only the last chunk of a checksummed region may have odd length.
func sum(acc uint32, data []byte) uint32 {
	for len(data) >= 2 {
		acc += uint32(binary.BigEndian.Uint16(data))
		data = data[2:]
	}
	if len(data) == 1 {
		acc += uint32(data[0]) << 8
	}
	return acc
}

// checksum returns the Internet checksum (RFC 1071) of data, starting
// from the accumulator acc (e.g. a pseudo-header sum).
func checksum(acc uint32, data []byte) uint16 {
	acc = sum(acc, data)
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return ^uint16(acc)
}

// pseudoIPv4 returns the IPv4 pseudo-header for a transport checksum.
func pseudoIPv4(src, dst [4]byte, proto uint8, length int) []byte {
	p := make([]byte, 0, 12)
	p = append(p, src[:]...)
	p = append(p, dst[:]...)
	p = append(p, 0, proto)
	p = binary.BigEndian.AppendUint16(p, uint16(length))
	return p
}

// pseudoIPv6 returns the IPv6 pseudo-header (RFC 8200 section 8.1) for a
// transport checksum.
func pseudoIPv6(src, dst [16]byte, nextHeader uint8, length int) []byte {
	p := make([]byte, 0, 40)
	p = append(p, src[:]...)
	p = append(p, dst[:]...)
	p = binary.BigEndian.AppendUint32(p, uint32(length))
	p = append(p, 0, 0, 0, nextHeader)
	return p
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c returns the SCTP checksum (RFC 9260 appendix A) of pkt, whose
// checksum field must be zero. It is stored little-endian in the header.
func crc32c(pkt []byte) uint32 {
	return crc32.Checksum(pkt, castagnoli)
}
