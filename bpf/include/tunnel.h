/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Tunnels: finding the encapsulated packet of a frame the parser (parse.h)
 * classified by its outer headers, and classifying that packet as the parser
 * classifies a frame. One level deep: a tunnel inside a tunnel is its first
 * level's payload, classified by its own outer headers.
 */
#ifndef PE_TUNNEL_H
#define PE_TUNNEL_H

#include "base.h"
#include "parse.h"

/*
 * The tunnel types recognised. User space names a type after its enumerator
 * (PE_TUNNEL_VXLAN: vxlan), read from the object's BTF.
 */
enum pe_tunnel {
	PE_TUNNEL_VXLAN = 0, /* UDP to a VXLAN port; an Ethernet frame inside */
	PE_TUNNEL_GENEVE,    /* UDP to a Geneve port; what its protocol type says inside */
	PE_TUNNEL_GRE,       /* IP protocol 47; what its protocol type says inside */
	PE_TUNNEL_IPIP,      /* IP protocol 4 (IPv4 inside) or 41 (IPv6 inside) */
	PE_TUNNEL_COUNT,
};

#define PE_IPPROTO_IPIP 4
#define PE_IPPROTO_IPV6 41
#define PE_IPPROTO_GRE 47

#define PE_ETH_P_TEB 0x6558 /* transparent Ethernet bridging: an Ethernet frame */

#define PE_UDP_HLEN 8
#define PE_VXLAN_HLEN 8
#define PE_GENEVE_HLEN 8
#define PE_GRE_HLEN 4

#define PE_VXLAN_FLAG_VNI 0x08 /* the I flag, set in every valid VXLAN header */
/* GRE's flags, in the first byte of its header, and version, in the second. */
#define PE_GRE_CSUM 0x80
#define PE_GRE_ROUTING 0x40
#define PE_GRE_KEY 0x20
#define PE_GRE_SEQ 0x10
#define PE_GRE_VERSION 0x07

/*
 * What a frame carries, when it carries a tunnel: its type (bits 0-7), the
 * offset of the tunnel header (bits 8-23: the UDP payload, GRE's header,
 * IP-in-IP's inner packet) and, for IP-in-IP, whether the inner packet is
 * IPv6 (bit 24). PE_NO_TUNNEL for a frame without one.
 */
#define PE_NO_TUNNEL 0xffffffffu
#define PE_TUNNEL_PACK(type, off, ipv6) ((__u32)(type) | ((__u32)(off) << 8) | ((__u32)(ipv6) << 24))
#define PE_TUNNEL_TYPE(t) ((t) & 0xff)
#define PE_TUNNEL_OFF(t) (((t) >> 8) & 0xffff)
#define PE_TUNNEL_IPV6(t) (((t) >> 24) & 1)

/*
 * Where a tunnel header may start for the inner parse to run: beyond it the
 * walk of an inner packet's IPv6 extension headers could reach offsets the
 * verifier refuses (PE_EXT_MAX_START leaves room for the tunnel header and
 * inner link-layer headers). A frame's outer headers end well before.
 */
#define PE_TUNNEL_MAX_OFF (PE_EXT_MAX_START - 512)

/*
 * Returns what the frame parsed into p (with PE_WANT_TUNNEL) carries: a
 * tunnel found by its IP protocol, or by its UDP destination port in
 * udp_ports, a pe_tunnel + 1 by port, 0 for none, indexed by the port as a
 * 16-bit load reads it from the frame (network order on a little-endian
 * machine: no byte swap, and an index the verifier knows is in range).
 * PE_NO_TUNNEL for a frame without a complete transport header (a non-first
 * fragment, say): its proto is 0.
 */
static __always_inline __u32 pe_find_tunnel(const struct pe_parsed *p, const __u8 *udp_ports, void *data,
					    void *data_end)
{
	switch (p->proto) {
	case PE_IPPROTO_UDP: {
		__u32 l4_off = p->l4_off & PE_EXT_OFF_MASK;
		__u8 *udp = (__u8 *)data + l4_off;
		/* Checked again for the verifier: parse.h checked the header's length. */
		if ((void *)(udp + PE_UDP_HLEN) > data_end)
			return PE_NO_TUNNEL;
		__u32 type = udp_ports[*(__u16 *)(udp + 2)];
		if (likely(type == 0))
			return PE_NO_TUNNEL;
		return PE_TUNNEL_PACK(type - 1, l4_off + PE_UDP_HLEN, 0);
	}
	case PE_IPPROTO_GRE:
		return PE_TUNNEL_PACK(PE_TUNNEL_GRE, p->l4_off, 0);
	case PE_IPPROTO_IPIP:
		return PE_TUNNEL_PACK(PE_TUNNEL_IPIP, p->l4_off, 0);
	case PE_IPPROTO_IPV6:
		return PE_TUNNEL_PACK(PE_TUNNEL_IPIP, p->l4_off, 1);
	default:
		return PE_NO_TUNNEL;
	}
}

/*
 * The result of parsing a tunnel's inner packet, packed in a scalar so that
 * it can leave a global function: its class (bits 0-7), an anomaly (bits
 * 8-15, PE_ANOMALY_NONE or an anomaly entry) and with PE_WANT_HDR_LEN the
 * offset where its TCP or UDP header ends (bits 16-31, 0 when unknown).
 */
#define PE_INNER_PACK(class, anomaly, hdr_len) \
	((__u32)(class) | ((__u32)(anomaly) << 8) | ((__u32)(hdr_len) << 16))
#define PE_INNER_CLASS(r) ((r) & 0xff)
#define PE_INNER_ANOMALY(r) (((r) >> 8) & 0xff)
#define PE_INNER_HDR_LEN(r) ((r) >> 16)

/*
 * Classifies the packet the tunnel t (pe_find_tunnel) carries in the frame
 * [data, data_end). A tunnel header cut short or that makes no sense is the
 * inner packet's anomaly; an inner packet with an anomaly, or of a protocol
 * the tunnel header names but the parser does not know, is of class other.
 */
static __always_inline __u32 pe_parse_inner(void *ctx, const enum pe_hook_kind hook, void *data,
					    void *data_end, __u32 t, const int want)
{
	struct pe_parsed inner;
	__u32 off = PE_TUNNEL_OFF(t);
	__u16 proto; /* EtherType of the payload, network order */

	if (off > PE_TUNNEL_MAX_OFF)
		return PE_INNER_PACK(PE_CLASS_OTHER, PE_ANOMALY_TOO_DEEP, 0);
	__u8 *pos = (__u8 *)data + off;

	switch (PE_TUNNEL_TYPE(t)) {
	case PE_TUNNEL_VXLAN:
		if ((void *)(pos + PE_VXLAN_HLEN) > data_end)
			return PE_INNER_PACK(PE_CLASS_OTHER, PE_ANOMALY_TRUNCATED, 0);
		if (!(pos[0] & PE_VXLAN_FLAG_VNI))
			return PE_INNER_PACK(PE_CLASS_OTHER, PE_ANOMALY_MALFORMED, 0);
		proto = bpf_htons(PE_ETH_P_TEB);
		pos += PE_VXLAN_HLEN;
		break;
	case PE_TUNNEL_GENEVE:
		if ((void *)(pos + PE_GENEVE_HLEN) > data_end)
			return PE_INNER_PACK(PE_CLASS_OTHER, PE_ANOMALY_TRUNCATED, 0);
		if (pos[0] >> 6) /* version 0 is the only one */
			return PE_INNER_PACK(PE_CLASS_OTHER, PE_ANOMALY_MALFORMED, 0);
		proto = *(__u16 *)(pos + 2);
		/* Options: their length in 4-byte words. */
		pos += PE_GENEVE_HLEN + ((pos[0] & 0x3f) << 2);
		break;
	case PE_TUNNEL_GRE: {
		if ((void *)(pos + PE_GRE_HLEN) > data_end)
			return PE_INNER_PACK(PE_CLASS_OTHER, PE_ANOMALY_TRUNCATED, 0);
		/*
		 * The flags byte by byte: the verifier knows a byte's range, not
		 * (before 6.3 or so) a byte swap's.
		 */
		__u8 flags = pos[0];
		/* Version 1 is PPTP's enhanced GRE, with PPP inside: not parsed. */
		if (pos[1] & PE_GRE_VERSION)
			return PE_INNER_PACK(PE_CLASS_OTHER, PE_ANOMALY_NONE, 0);
		/* Source routing, which RFC 2784 removed and Linux refuses. */
		if (flags & PE_GRE_ROUTING)
			return PE_INNER_PACK(PE_CLASS_OTHER, PE_ANOMALY_MALFORMED, 0);
		proto = *(__u16 *)(pos + 2);
		/* Checksum (with a reserved half), key and sequence number: 4 bytes each. */
		pos += PE_GRE_HLEN +
		       (!!(flags & PE_GRE_CSUM) + !!(flags & PE_GRE_KEY) + !!(flags & PE_GRE_SEQ)) * 4;
		break;
	}
	default:
		proto = PE_TUNNEL_IPV6(t) ? bpf_htons(PE_ETH_P_IPV6) : bpf_htons(PE_ETH_P_IP);
		break;
	}
	if ((void *)pos > data_end)
		return PE_INNER_PACK(PE_CLASS_OTHER, PE_ANOMALY_TRUNCATED, 0);

	pe_parse_init(&inner, want);
	switch (proto) {
	case bpf_htons(PE_ETH_P_TEB):
		pe_parse_at(ctx, hook, data, pos, data_end, &inner, want, 0);
		break;
	case bpf_htons(PE_ETH_P_IP):
	case bpf_htons(PE_ETH_P_IPV6):
		pe_parse_l3(ctx, hook, proto, pos, data, data_end, &inner, want);
		break;
	default:
		return PE_INNER_PACK(PE_CLASS_OTHER, PE_ANOMALY_NONE, 0);
	}
	if (inner.anomaly != PE_ANOMALY_NONE)
		return PE_INNER_PACK(PE_CLASS_OTHER, inner.anomaly, 0);
	return PE_INNER_PACK(inner.class, PE_ANOMALY_NONE, inner.hdr_len);
}

/*
 * pe_parse_inner for each context type, in global functions the verifier
 * checks once on their own: inlined, the inner parse would multiply the paths
 * verified after it, as the extension-header walk did (parse.h).
 */
__attribute__((noinline)) __u32 pe_inner_xdp(struct xdp_md *ctx, __u32 t)
{
	return pe_parse_inner(ctx, PE_HOOK_XDP, (void *)(long)ctx->data, (void *)(long)ctx->data_end, t, 0);
}

/*
 * Bytes after a tunnel header the tc program wants in the linear part of a
 * non-linear skb: the inner packet's headers, up to a TCP header with options
 * behind two VLAN tags and IPv6 with a few extension headers.
 */
#define PE_TC_TUNNEL_PULL_LEN 256

/*
 * The tc variant first makes inner headers in paged data readable (content is
 * unchanged): the caller's packet pointers are stale after it.
 */
__attribute__((noinline)) __u32 pe_inner_tc(struct __sk_buff *ctx, __u32 t)
{
	__u32 want_len = PE_TUNNEL_OFF(t) + PE_TC_TUNNEL_PULL_LEN;
	__u32 len = ctx->len;
	__u32 linear = ctx->data_end - ctx->data;

	if (linear < want_len && linear < len)
		bpf_skb_pull_data(ctx, len < want_len ? len : want_len);
	return pe_parse_inner(ctx, PE_HOOK_TC, (void *)(long)ctx->data, (void *)(long)ctx->data_end, t,
			      PE_WANT_HDR_LEN);
}

#endif /* PE_TUNNEL_H */
