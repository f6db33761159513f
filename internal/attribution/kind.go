// Package attribution tells what is behind a network interface from the
// host's own kernel state and files, without an API server: the interface's
// kind and master, and, for a veth whose peer lives in another network
// namespace, the container and Kubernetes pod found in that namespace.
package attribution

import (
	"cmp"

	"github.com/vishvananda/netlink"
)

// Interface kinds, the values of packet_exporter.interface.kind.
const (
	// KindDevice is an interface backed by a device driver: hardware, or a
	// virtual NIC such as virtio or ena (no link kind in netlink).
	KindDevice    = "device"
	KindVeth      = "veth"
	KindBridge    = "bridge"
	KindBond      = "bond"
	KindVLAN      = "vlan"
	KindVXLAN     = "vxlan"
	KindMacvlan   = "macvlan"
	KindIPvlan    = "ipvlan"
	KindGeneve    = "geneve"
	KindWireguard = "wireguard"
	KindTun       = "tun"
	KindDummy     = "dummy"
	KindOther     = "other"
)

// kindByLinkType maps netlink link types (the kernel's IFLA_INFO_KIND, as the
// netlink package names them; "device" for none) to kinds. The tap variants
// count as their base kind; every type not listed is KindOther.
var kindByLinkType = map[string]string{
	"device":    KindDevice,
	"veth":      KindVeth,
	"bridge":    KindBridge,
	"bond":      KindBond,
	"vlan":      KindVLAN,
	"vxlan":     KindVXLAN,
	"macvlan":   KindMacvlan,
	"macvtap":   KindMacvlan,
	"ipvlan":    KindIPvlan,
	"ipvtap":    KindIPvlan,
	"geneve":    KindGeneve,
	"wireguard": KindWireguard,
	"tuntap":    KindTun,
	"dummy":     KindDummy,
}

// Kind returns the kind of link. A link without a link kind is a device,
// except the loopback interface, which is other.
func Kind(link netlink.Link) string {
	if link.Type() == "device" && link.Attrs().EncapType == "loopback" {
		return KindOther
	}
	return cmp.Or(kindByLinkType[link.Type()], KindOther)
}
