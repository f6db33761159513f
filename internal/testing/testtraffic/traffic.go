// Package testtraffic sends traffic of exactly known frames between test
// network namespaces: UDP datagrams, TCP SYNs (answered by RSTs from a closed
// port) and ICMP echo requests (answered by replies), over IPv4 and IPv6.
// Every function returns the size of the frames it caused on the wire,
// Ethernet header included, so tests can compare counters exactly.
package testtraffic

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	tf "github.com/packet-exporter/packet-exporter/internal/testing/testframe"
)

// Header sizes on an Ethernet link without VLAN tags.
const (
	EthernetHeader = 14
	IPv4Header     = 20
	IPv6Header     = 40
	UDPHeader      = 8
	TCPHeader      = 20
	ICMPHeader     = 8
)

// UDPFrameSize returns the frame size of a UDP datagram with payload bytes.
func UDPFrameSize(dst netip.Addr, payload int) int {
	return EthernetHeader + ipHeader(dst) + UDPHeader + payload
}

func ipHeader(a netip.Addr) int {
	if a.Is4() {
		return IPv4Header
	}
	return IPv6Header
}

// UDPSink is a UDP socket in a namespace that receives and discards datagrams,
// so that datagrams sent to it draw no ICMP port-unreachable answer.
type UDPSink struct {
	conn *net.UDPConn
	// Addr is the address the sink listens on.
	Addr netip.AddrPort
}

// ListenUDP opens a sink on addr (port 0 picks one) inside ns; it is closed at
// the end of the test.
func ListenUDP(tb testingTB, ns *testenv.Netns, addr netip.Addr) *UDPSink {
	tb.Helper()
	var conn *net.UDPConn
	err := ns.Do(func() error {
		var err error
		conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
		return err
	})
	if err != nil {
		tb.Fatalf("listen udp in %s: %v", ns.Name, err)
	}
	tb.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, err := conn.Read(buf); err != nil {
				return
			}
		}
	}()
	return &UDPSink{conn: conn, Addr: conn.LocalAddr().(*net.UDPAddr).AddrPort()}
}

// SendUDP sends count datagrams of payload bytes from src (inside ns, from
// an ephemeral port) to dst. It returns the frame size of each.
func SendUDP(tb testingTB, ns *testenv.Netns, src netip.Addr, dst netip.AddrPort, count, payload int) int {
	tb.Helper()
	return SendUDPFrom(tb, ns, netip.AddrPortFrom(src, 0), dst, count, payload)
}

// SendUDPFrom is SendUDP from a given source port (0 picks one).
func SendUDPFrom(tb testingTB, ns *testenv.Netns, src, dst netip.AddrPort, count, payload int) int {
	tb.Helper()
	err := ns.Do(func() error {
		conn, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(src), net.UDPAddrFromAddrPort(dst))
		if err != nil {
			return err
		}
		defer conn.Close()
		buf := make([]byte, payload)
		for i := range count {
			if _, err := conn.Write(buf); err != nil {
				return fmt.Errorf("datagram %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("send udp from %s to %s: %v", src, dst, err)
	}
	return UDPFrameSize(dst.Addr(), payload)
}

// SendTCPSYN sends count bare TCP SYNs (no options) from src to a closed port
// of dst through a raw socket; dst's kernel answers each with one RST. Both
// frames have the size returned.
func SendTCPSYN(tb testingTB, ns *testenv.Netns, src, dst netip.Addr, port uint16, count int) int {
	tb.Helper()
	return SendTCP(tb, ns, src, dst, port, 0x02, count)
}

// SendTCP sends count bare TCP segments (no options) with flags from src to
// port of dst through a raw socket, from source ports 30000 and up. It
// returns the frame size of each.
func SendTCP(tb testingTB, ns *testenv.Netns, src, dst netip.Addr, port uint16, flags uint8, count int) int {
	tb.Helper()
	for i := range count {
		segment := l4Segment(src, dst, func(f *tf.Frame) {
			f.TCP = &tf.TCP{SrcPort: uint16(30000 + i), DstPort: port, Flags: flags}
		})
		sendRaw(tb, ns, src, dst, unix.IPPROTO_TCP, segment)
	}
	return EthernetHeader + ipHeader(dst) + TCPHeader
}

// SendEcho sends count ICMP (ICMPv6 for IPv6) echo requests with payload bytes
// from src to dst through a raw socket; dst's kernel answers each with a reply
// of the same size, returned.
func SendEcho(tb testingTB, ns *testenv.Netns, src, dst netip.Addr, count, payload int) int {
	tb.Helper()
	proto := unix.IPPROTO_ICMP
	if dst.Is6() {
		proto = unix.IPPROTO_ICMPV6
	}
	for i := range count {
		sendRaw(tb, ns, src, dst, proto, EchoRequest(src, dst, uint16(i), payload))
	}
	return EthernetHeader + ipHeader(dst) + ICMPHeader + payload
}

// EchoRequest returns an ICMP (ICMPv6 for IPv6) echo request of sequence
// number seq with payload bytes from src to dst, checksummed, without its IP
// header: what a raw socket sends.
func EchoRequest(src, dst netip.Addr, seq uint16, payload int) []byte {
	return l4Segment(src, dst, func(f *tf.Frame) {
		echo := &tf.ICMP{Type: 8, ID: 0x7065, Seq: seq}
		if dst.Is6() {
			echo.Type = 128
			f.ICMPv6 = echo
		} else {
			f.ICMP = echo
		}
		f.Payload = make([]byte, payload)
	})
}

// l4Segment builds the transport segment (header and payload, checksummed for
// src and dst) that layer sets on a frame.
func l4Segment(src, dst netip.Addr, layer func(*tf.Frame)) []byte {
	f := tf.Frame{}
	if dst.Is4() {
		f.IPv4 = &tf.IPv4{Src: src, Dst: dst}
	} else {
		f.IPv6 = &tf.IPv6{Src: src, Dst: dst}
	}
	layer(&f)
	frame, bounds := tf.Build(f)
	return frame[bounds[1]:]
}

// sendRaw sends segment from src to dst on a raw socket of protocol proto; the
// kernel adds the IP header.
func sendRaw(tb testingTB, ns *testenv.Netns, src, dst netip.Addr, proto int, segment []byte) {
	tb.Helper()
	err := ns.Do(func() error {
		var (
			family    int
			sa, local unix.Sockaddr
		)
		if dst.Is4() {
			family, sa, local = unix.AF_INET, &unix.SockaddrInet4{Addr: dst.As4()}, &unix.SockaddrInet4{Addr: src.As4()}
		} else {
			family, sa, local = unix.AF_INET6, &unix.SockaddrInet6{Addr: dst.As16()}, &unix.SockaddrInet6{Addr: src.As16()}
		}
		fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return fmt.Errorf("raw socket: %w", err)
		}
		defer unix.Close(fd)
		if proto == unix.IPPROTO_ICMPV6 {
			// The ICMPv6 checksum is ours (computed by the frame builder).
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_RAW, unix.IPV6_CHECKSUM, -1); err != nil && err != syscall.EINVAL {
				return fmt.Errorf("ipv6 checksum option: %w", err)
			}
		}
		if err := unix.Bind(fd, local); err != nil {
			return fmt.Errorf("bind %s: %w", src, err)
		}
		return unix.Sendto(fd, segment, 0, sa)
	})
	if err != nil {
		tb.Fatalf("send raw %d from %s to %s: %v", proto, src, dst, err)
	}
}
