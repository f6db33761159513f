package bpf_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	tf "github.com/packet-exporter/packet-exporter/internal/testing/testframe"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// TestEventVLANFromMetadata sends tagged frames into a veth end whose tc
// program counts at tcx ingress (legacy tc's before Linux 6.6), where the kernel has already moved the outer
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
		// Before Linux 6.6 (no tcx): a cls_bpf filter on a clsact qdisc's
		// ingress, where the tag is in the metadata too.
		attachLegacyIngress(t, a, pair.IndexA, rx)
	} else if err != nil {
		t.Fatal(err)
	} else {
		defer l.Close()
	}

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

// attachLegacyIngress attaches prog to interface index of ns as a direct-action
// cls_bpf filter on the ingress of a clsact qdisc (legacy tc), which go with
// the namespace.
func attachLegacyIngress(t *testing.T, ns *testenv.Netns, index int, prog *ebpf.Program) {
	t.Helper()
	if err := ns.Do(func() error {
		qdisc := &netlink.GenericQdisc{QdiscType: "clsact",
			QdiscAttrs: netlink.QdiscAttrs{LinkIndex: index, Parent: netlink.HANDLE_CLSACT, Handle: netlink.MakeHandle(0xffff, 0)}}
		if err := netlink.QdiscAdd(qdisc); err != nil {
			return fmt.Errorf("clsact qdisc: %w", err)
		}
		filter := &netlink.BpfFilter{FilterAttrs: netlink.FilterAttrs{LinkIndex: index, Parent: netlink.HANDLE_MIN_INGRESS,
			Handle: 1, Priority: 1, Protocol: unix.ETH_P_ALL}, Fd: prog.FD(), Name: "pe-test", DirectAction: true}
		if err := netlink.FilterAdd(filter); err != nil {
			return fmt.Errorf("cls_bpf filter: %w", err)
		}
		return nil
	}); err != nil {
		t.Fatalf("legacy tc ingress: %v", err)
	}
}
