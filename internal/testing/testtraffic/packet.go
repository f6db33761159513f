package testtraffic

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
)

// htons converts a 16-bit value to network byte order, as sockaddr_ll and
// socket(AF_PACKET, ...) take their protocol.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// SendFrames sends each frame as it is, from its Ethernet header on, out of
// the interface ifindex of ns through an AF_PACKET socket (SOCK_RAW): VLAN
// tags in a frame's data stay in its data, and the kernel adds nothing. Sent
// on a VLAN device, a frame gets the device's tag from the device.
func SendFrames(tb testingTB, ns *testenv.Netns, ifindex int, frames ...[]byte) {
	tb.Helper()
	err := ns.Do(func() error {
		// Protocol 0: the socket sends only, it receives nothing.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		defer unix.Close(fd)
		for i, frame := range frames {
			if len(frame) < EthernetHeader {
				return fmt.Errorf("frame %d: %d bytes, shorter than an Ethernet header", i, len(frame))
			}
			// The outermost EtherType in the data becomes skb->protocol.
			to := &unix.SockaddrLinklayer{Ifindex: ifindex, Protocol: htons(binary.BigEndian.Uint16(frame[12:]))}
			if err := unix.Sendto(fd, frame, 0, to); err != nil {
				return fmt.Errorf("frame %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("send frames on ifindex %d in %s: %v", ifindex, ns.Name, err)
	}
}

// Captured is one frame seen by a Capture.
type Captured struct {
	// Frame is the frame as it is on the wire: a VLAN tag that the kernel held
	// in the socket buffer's metadata is put back after the MAC addresses.
	Frame []byte
	// TagInMetadata reports that the frame's outermost VLAN tag was in the
	// socket buffer's metadata (skb->vlan_present, TP_STATUS_VLAN_VALID), not
	// in its data, where the capture saw it.
	TagInMetadata bool
	// Outgoing reports a frame the interface sent (PACKET_OUTGOING); the others
	// were received.
	Outgoing bool
}

// Capture receives a copy of every frame that one interface sends or
// receives, through an AF_PACKET socket with PACKET_AUXDATA, so that it also
// learns of VLAN tags held in metadata. On receive it sees a frame after the
// kernel has taken its outer tag into metadata (where tc ingress sees it too),
// on transmit just before the driver.
type Capture struct {
	fd   int
	name string
}

// NewCapture starts capturing on the interface ifindex of ns; the socket is
// closed at the end of the test.
func NewCapture(tb testingTB, ns *testenv.Netns, ifindex int) *Capture {
	tb.Helper()
	c := &Capture{fd: -1, name: fmt.Sprintf("ifindex %d in %s", ifindex, ns.Name)}
	err := ns.Do(func() error {
		// Protocol 0 until bind: a socket made with ETH_P_ALL would receive
		// the frames of every interface until then.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		c.fd = fd
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			return fmt.Errorf("PACKET_AUXDATA: %w", err)
		}
		// Room for thousands of small frames, so that none is dropped before
		// the test reads them (Read checks the socket's drop counter).
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20); err != nil {
			return fmt.Errorf("SO_RCVBUFFORCE: %w", err)
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex})
	})
	if c.fd >= 0 {
		tb.Cleanup(func() { unix.Close(c.fd) })
	}
	if err != nil {
		tb.Fatalf("capture on %s: %v", c.name, err)
	}
	return c
}

// Read returns the frames captured since the last Read, without waiting. It
// fails the test if the socket dropped any.
func (c *Capture) Read(tb testingTB) []Captured {
	tb.Helper()
	var out []Captured
	buf := make([]byte, 65536)
	oob := make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.TpacketAuxdata{}))))
	for {
		n, oobn, flags, from, err := unix.Recvmsg(c.fd, buf, oob, unix.MSG_DONTWAIT|unix.MSG_TRUNC)
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if err != nil {
			tb.Fatalf("capture on %s: recvmsg: %v", c.name, err)
		}
		if n > len(buf) || flags&unix.MSG_TRUNC != 0 {
			tb.Fatalf("capture on %s: frame of %d bytes truncated", c.name, n)
		}
		aux, err := auxdata(oob[:oobn])
		if err != nil {
			tb.Fatalf("capture on %s: %v", c.name, err)
		}
		f := Captured{Frame: append([]byte(nil), buf[:n]...)}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok {
			f.Outgoing = ll.Pkttype == unix.PACKET_OUTGOING
		}
		if aux.Status&unix.TP_STATUS_VLAN_VALID != 0 {
			tpid := uint16(0x8100) // what the kernel reports without a TPID
			if aux.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
				tpid = aux.Vlan_tpid
			}
			if n < 12 {
				tb.Fatalf("capture on %s: %d-byte frame with a tag in metadata", c.name, n)
			}
			tagged := make([]byte, 0, n+4)
			tagged = append(tagged, f.Frame[:12]...)
			tagged = binary.BigEndian.AppendUint16(tagged, tpid)
			tagged = binary.BigEndian.AppendUint16(tagged, aux.Vlan_tci)
			f.Frame = append(tagged, f.Frame[12:]...)
			f.TagInMetadata = true
		}
		out = append(out, f)
	}
	stats, err := unix.GetsockoptTpacketStats(c.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		tb.Fatalf("capture on %s: PACKET_STATISTICS: %v", c.name, err)
	}
	if stats.Drops != 0 {
		tb.Fatalf("capture on %s: the socket dropped %d frames", c.name, stats.Drops)
	}
	return out
}

// auxdata finds the PACKET_AUXDATA control message of a received frame.
func auxdata(oob []byte) (unix.TpacketAuxdata, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return unix.TpacketAuxdata{}, fmt.Errorf("control messages: %w", err)
	}
	for _, m := range msgs {
		d := m.Data
		if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA &&
			len(d) >= int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
			// struct tpacket_auxdata, in host byte order.
			return unix.TpacketAuxdata{
				Status: binary.NativeEndian.Uint32(d[0:]), Len: binary.NativeEndian.Uint32(d[4:]),
				Snaplen: binary.NativeEndian.Uint32(d[8:]), Mac: binary.NativeEndian.Uint16(d[12:]),
				Net: binary.NativeEndian.Uint16(d[14:]), Vlan_tci: binary.NativeEndian.Uint16(d[16:]),
				Vlan_tpid: binary.NativeEndian.Uint16(d[18:]),
			}, nil
		}
	}
	return unix.TpacketAuxdata{}, errors.New("no PACKET_AUXDATA control message")
}
