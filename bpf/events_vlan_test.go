package bpf_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	tf "github.com/packet-exporter/packet-exporter/internal/testing/testframe"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// TestEventVLANFromMetadata sends tagged frames into a veth end whose tc
// program counts at tcx ingress, where the kernel has already moved the outer
// tag into the socket buffer's metadata: each record carries that tag's id,
// the frame's class and its whole length, tags included.
func TestEventVLANFromMetadata(t *testing.T) {
	f := newEventFixture(t, bpf.EventOptions{SampleRate: 1, RingSize: 1 << 16})
	rx, err := f.maps.TC(bpf.Receive)
	if err != nil {
		t.Fatal(err)
	}
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true})
	if err := f.maps.MapInterface(pair.IndexA, testSlot); err != nil {
		t.Fatal(err)
	}
	var l link.Link
	if err := a.Do(func() error {
		l, err = link.AttachTCX(link.TCXOptions{Interface: pair.IndexA, Program: rx, Attach: ebpf.AttachTCXIngress})
		return err
	}); errors.Is(err, ebpf.ErrNotSupported) {
		t.Skip("the kernel has no tcx (Linux 6.6); the receiver's tests cover tagged frames through legacy tc")
	} else if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	other := [6]byte{0x02, 0, 0, 0, 0, 0x99} // not A's address: A drops them after the hook
	cases := []struct {
		name  string
		frame tf.Frame
		vlan  uint16
	}{
		{"802.1Q ipv4 udp", tf.Frame{Dst: other, VLANs: []tf.VLAN{q(42)}, IPv4: &tf.IPv4{}, UDP: udpDNS}, 42},
		{"802.1ad and 802.1Q ipv6 tcp", tf.Frame{Dst: other, VLANs: []tf.VLAN{ad(7), q(99)}, IPv6: &tf.IPv6{}, TCP: tcpSYN}, 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frame := tf.MustBuild(tc.frame)
			class := classOfFrame(t, nil, frame)
			f.drain(t)
			testtraffic.SendFrames(t, b, pair.IndexB, frame)
			var got []bpf.Event
			for range 100 { // the peer's backlog delivers the frame asynchronously
				if got = append(got, f.drain(t)...); len(got) > 0 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if len(got) != 1 {
				t.Fatalf("%d records, want 1: %+v", len(got), got)
			}
			e := got[0]
			if e.VLAN != tc.vlan || e.Bytes != uint32(len(frame)) || e.Packets != 1 || e.Class != class ||
				e.Slot != testSlot || e.Direction != bpf.Receive {
				t.Errorf("record %+v, want VLAN %d, %d bytes, 1 packet, class %d, slot %d receive", e, tc.vlan, len(frame), class, testSlot)
			}
		})
	}
}
