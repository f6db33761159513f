// Package dropcategory tells what a kernel drop reason means for the user:
// a loss on the network path, the host's stack refusing a packet, or an
// application's socket discarding data it had been given. Every reason of
// the kernels with drop reasons (5.17 to today) is in one table, by the name
// packet-exporter gives it (bpf.DropReasons.Name), and two no_socket drops
// the drop program notes (bpf.DropNote) are told apart from the rest.
package dropcategory

import (
	"strings"

	"github.com/packet-exporter/packet-exporter/bpf"
)

// The categories, the values of packet_exporter.drop.category.
const (
	// Network is a drop on the packet's path: a device, a queue, a filter
	// (netfilter, tc, XDP, BPF), routing, a neighbour, a tunnel, a bridge.
	Network = "network"
	// Host is the host's stack refusing a packet: no socket for it, a bad
	// checksum or header, another host's, a protocol's rules (TCP's
	// sequence checks...), no memory.
	Host = "host"
	// Socket is an application's socket discarding data it had been given:
	// closed with unread data, its queue purged, its receive buffer or
	// backlog full, its accept queue full; and a connection's end (a reset
	// processed, then freed; a TCP segment other than a SYN arriving after
	// its connection ended here, which TCP answers with a reset).
	Socket = "socket"
	// Delivered is a packet the kernel frees as unwanted after a copy of it
	// reached a socket: an ICMP echo reply with no ping socket for it, of
	// which a raw socket (ping's) got a copy.
	Delivered = "delivered"
	// Unclassified is a reason the table does not know (a newer kernel's,
	// a subsystem's own), or the kernel's own "not specified".
	Unclassified = "unclassified"
)

// Of returns the category of a drop of reason name with note: a no_socket
// drop of an echo reply copied to a raw socket is Delivered, and of a TCP
// segment without SYN (a connection that ended here) Socket; every other
// drop is its reason's.
func Of(reason string, note bpf.DropNote) string {
	switch note {
	case bpf.DropNoteEchoReplyCopied:
		return Delivered
	case bpf.DropNoteTCPNotSYN:
		return Socket
	}
	if c, ok := categories[reason]; ok {
		return c
	}
	return Unclassified
}

// IsLoss reports whether drops of category are losses (Network, Host): what
// the default alert, the dashboard and the live view show by default.
func IsLoss(category string) bool {
	return category == Network || category == Host
}

// Known reports whether the table classifies reason.
func Known(reason string) bool {
	_, ok := categories[reason]
	return ok
}

// categories classifies every reason by name. Older kernels' names that
// were renamed since are kept: ptype_absent (unhandled_proto since 6.4),
// qdisc_egress (qdisc_drop).
var categories = func() map[string]string {
	m := map[string]string{}
	for category, names := range map[string]string{
		Network: `netfilter_drop ip_rpfilter xfrm_policy ip_outnoroutes bpf_cgroup_egress
			neigh_createfail neigh_failed neigh_queuefull neigh_dead neigh_hh_fillfail
			tc_egress tc_ingress qdisc_drop qdisc_egress qdisc_overlimit qdisc_congested cake_flood
			fq_band_limit fq_horizon_limit fq_flow_limit dualpi2_step_drop cpu_backlog xdp
			skb_gso_seg dev_hdr dev_ready full_ring hdr_trunc tap_filter tap_txfilter ip_innoroutes
			pkt_too_big tc_cookie_error tc_chain_notfound tc_reclassify_loop
			vxlan_invalid_hdr vxlan_vni_not_found vxlan_entry_exists mac_invalid_source no_tx_target
			ip_tunnel_ecn tunnel_txinfo local_mac arp_pvlan_disable mac_ieee_mac_control
			bridge_ingress_stp_state can_rx_invalid_frame canfd_rx_invalid_frame canxl_rx_invalid_frame
			psp_input psp_output recursion_limit skb_rx_headroom`,
		Host: `no_socket pkt_too_small tcp_csum udp_csum otherhost ip_csum ip_inhdr
			unicast_in_l2_multicast ip_noproto proto_mem tcp_auth_hdr tcp_md5notfound
			tcp_md5unexpected tcp_md5failure tcp_aonotfound tcp_aounexpected tcp_aokeynotfound
			tcp_aofailure tcp_flags tcp_old_data tcp_overwindow tcp_ofomerge tcp_rfc7323_paws
			tcp_rfc7323_paws_ack tcp_rfc7323_tw_paws tcp_rfc7323_tsecr tcp_old_sequence
			tcp_invalid_sequence tcp_invalid_end_sequence tcp_invalid_ack_sequence
			tcp_invalid_syn tcp_fastopen tcp_old_ack tcp_too_old_ack tcp_ack_unsent_data
			ipv6disabled security_hook unhandled_proto ptype_absent skb_csum nomem icmp_csum
			invalid_proto ip_inaddrerrors ip_local_source ip_invalid_source ip_localnet
			ip_invalid_dest dup_frag frag_reasm_timeout frag_too_far tcp_minttl ipv6_bad_exthdr ipv6_too_many_exthdrs
			ipv6_ndisc_frag ipv6_ndisc_hop_limit ipv6_ndisc_bad_code ipv6_ndisc_bad_options
			ipv6_ndisc_ns_otherhost pfmemalloc`,
		// tcp_reset: a peer's reset, processed, then freed: a connection's end.
		Socket: `tcp_reset socket_close socket_filter socket_rcvbuff unix_disconnect unix_skip_oob
			socket_backlog tcp_abort_on_data tcp_zerowindow tcp_listen_overflow tcp_close
			tcp_ofo_queue_prune tcp_ofo_drop skb_ucopy_fault queue_purge packet_sock_error`,
		// subsys_mask is a mask of the enum, never a reason.
		Unclassified: `not_specified subsys_mask`,
	} {
		for _, name := range strings.Fields(names) {
			if _, twice := m[name]; twice {
				panic("dropcategory: reason " + name + " in two categories")
			}
			m[name] = category
		}
	}
	return m
}()
