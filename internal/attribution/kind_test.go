package attribution

import (
	"testing"

	"github.com/vishvananda/netlink"
)

func TestKind(t *testing.T) {
	tests := []struct {
		link netlink.Link
		want string
	}{
		{&netlink.Device{LinkAttrs: netlink.LinkAttrs{EncapType: "ether"}}, KindDevice},
		{&netlink.Device{LinkAttrs: netlink.LinkAttrs{EncapType: "loopback"}}, KindOther},
		{&netlink.Veth{}, KindVeth},
		{&netlink.Bridge{}, KindBridge},
		{&netlink.Bond{}, KindBond},
		{&netlink.Vlan{}, KindVLAN},
		{&netlink.Vxlan{}, KindVXLAN},
		{&netlink.Macvlan{}, KindMacvlan},
		{&netlink.Macvtap{}, KindMacvlan},
		{&netlink.IPVlan{}, KindIPvlan},
		{&netlink.IPVtap{}, KindIPvlan},
		{&netlink.Geneve{}, KindGeneve},
		{&netlink.Wireguard{}, KindWireguard},
		{&netlink.Tuntap{}, KindTun},
		{&netlink.Dummy{}, KindDummy},
		{&netlink.Gretap{}, KindOther},
		{&netlink.Vrf{}, KindOther},
		{&netlink.GenericLink{LinkType: "netkit"}, KindOther},
	}
	for _, tt := range tests {
		if got := Kind(tt.link); got != tt.want {
			t.Errorf("Kind(%s) = %s, want %s", tt.link.Type(), got, tt.want)
		}
	}
}
