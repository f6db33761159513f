/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The frame parser shared by every packet-exporter program. It reads headers
 * only, never writes, and classifies a frame into one of PE_CLASS_COUNT
 * traffic classes (network type x transport), plus an optional anomaly when the
 * headers are truncated, malformed or nested deeper than the parser walks.
 */
#ifndef PE_PARSE_H
#define PE_PARSE_H

#include "base.h"

/* Direction of a counted frame, as seen by the interface. */
enum pe_direction {
	PE_DIRECTION_RECEIVE = 0,
	PE_DIRECTION_TRANSMIT = 1,
	PE_DIRECTION_COUNT = 2,
};

/*
 * The transports a network type's traffic is split into, one line each:
 * X(NAME, IP protocol number, length of the fixed header checked for
 * truncation (0: not checked), whether the header starts with the ports). A
 * new transport is one line here: its network.transport value is NAME in
 * lower case, which user space reads from the object's BTF (enum
 * pe_transport), and every frame of another protocol counts as OTHER.
 */
#define PE_TRANSPORTS(X)                   \
	X(TCP, PE_IPPROTO_TCP, 20, 1)      \
	X(UDP, PE_IPPROTO_UDP, 8, 1)       \
	X(ICMP, PE_IPPROTO_ICMP, 8, 0)     \
	X(ICMPV6, PE_IPPROTO_ICMPV6, 4, 0) \
	X(SCTP, PE_IPPROTO_SCTP, 12, 1)

/* Transport offsets inside a network type's block of classes. */
enum pe_transport {
/* clang-format off: the expansion ends in a comma clang-format cannot see */
#define PE_TRANSPORT_ENUM(name, proto, hlen, ports) PE_TRANSPORT_##name,
	PE_TRANSPORTS(PE_TRANSPORT_ENUM)
#undef PE_TRANSPORT_ENUM
	/* clang-format on */
	PE_TRANSPORT_OTHER,
	PE_TRANSPORT_COUNT,
};

/*
 * Traffic classes (network type x transport) and parse anomalies: the entry
 * of a frame's counter in one (interface, direction) block of the counters
 * map, and the values of pe_event.class and pe_event.anomaly. User space
 * names an anomaly after its enumerator (PE_ANOMALY_TOO_DEEP: too_deep).
 */
enum pe_entry {
	PE_CLASS_IPV4 = 0,                     /* + enum pe_transport */
	PE_CLASS_IPV6 = PE_TRANSPORT_COUNT,    /* + enum pe_transport */
	PE_CLASS_ARP = 2 * PE_TRANSPORT_COUNT, /* network.type arp, transport none */
	PE_CLASS_OTHER,                        /* network.type other, transport none */
	PE_CLASS_COUNT,
	/* Anomalies: counted in addition to the frame's class. */
	PE_ANOMALY_NONE = 0,
	PE_ANOMALY_TRUNCATED = PE_CLASS_COUNT, /* the frame ends inside a header */
	PE_ANOMALY_MALFORMED,                  /* a header field makes no sense (IP version, IHL) */
	PE_ANOMALY_TOO_DEEP,                   /* more VLAN tags or IPv6 extension headers than walked */
	PE_ANOMALY_END,
	PE_ANOMALY_COUNT = PE_ANOMALY_END - PE_ANOMALY_TRUNCATED,
};

/*
 * Upper bounds (inclusive, bytes) of the packet-size buckets but the last,
 * which has none: frames of at most 64, 128, 256, 512, 1024, 1518, 9000
 * bytes, larger. User space reads them from the object's BTF.
 */
enum pe_bucket_bound {
	PE_BOUND_0 = 64,
	PE_BOUND_1 = 128,
	PE_BOUND_2 = 256,
	PE_BOUND_3 = 512,
	PE_BOUND_4 = 1024,
	PE_BOUND_5 = 1518,
	PE_BOUND_6 = 9000,
};

#define PE_BUCKET_COUNT 8

#define PE_MAX_VLAN_TAGS 2
#define PE_MAX_IPV6_EXT_HEADERS 6

#define PE_ETH_HLEN 14
#define PE_VLAN_HLEN 4
#define PE_IPV4_HLEN 20
#define PE_IPV6_HLEN 40

#define PE_ETH_P_IP 0x0800
#define PE_ETH_P_ARP 0x0806
#define PE_ETH_P_8021Q 0x8100
#define PE_ETH_P_8021AD 0x88A8
#define PE_ETH_P_IPV6 0x86DD

#define PE_IPPROTO_HOPOPTS 0
#define PE_IPPROTO_ICMP 1
#define PE_IPPROTO_TCP 6
#define PE_IPPROTO_UDP 17
#define PE_IPPROTO_ROUTING 43
#define PE_IPPROTO_FRAGMENT 44
#define PE_IPPROTO_AH 51
#define PE_IPPROTO_ICMPV6 58
#define PE_IPPROTO_DSTOPTS 60
#define PE_IPPROTO_SCTP 132

/* What pe_parse records beyond the class and anomaly (compile-time flags). */
#define PE_WANT_HDR_LEN 1 /* hdr_len, for GSO byte accounting */
#define PE_WANT_DETAILS 2 /* l3_off, l4_off, vlan, for event records */
#define PE_WANT_TUNNEL 4  /* l4_off and proto, for finding tunnels (tunnel.h) */

/* The result of parsing one frame. */
struct pe_parsed {
	__u32 class;   /* enum pe_entry, < PE_CLASS_COUNT */
	__u32 anomaly; /* PE_ANOMALY_NONE or an anomaly entry */
	__u32 hdr_len; /* PE_WANT_HDR_LEN: bytes up to the end of the TCP/UDP header; 0 when unknown */
	__u16 l3_off;  /* PE_WANT_DETAILS: offset of the IP header */
	__u16 l4_off;  /* PE_WANT_DETAILS or _TUNNEL: offset of a complete transport header, or 0 */
	__u16 vlan;    /* PE_WANT_DETAILS: VLAN id of the outer tag, 0 when untagged */
	__u8 proto;    /* PE_WANT_TUNNEL: IP protocol of the transport header at l4_off */
};

static __always_inline __u32 pe_transport_of(__u8 proto)
{
	switch (proto) {
#define PE_TRANSPORT_OF(name, proto, hlen, ports) \
	case proto:                               \
		return PE_TRANSPORT_##name;
		PE_TRANSPORTS(PE_TRANSPORT_OF)
#undef PE_TRANSPORT_OF
	default:
		return PE_TRANSPORT_OTHER;
	}
}

/* Fixed header length of a transport, 0 for transports not checked. */
static __always_inline __u32 pe_l4_min_len(__u8 proto)
{
	switch (proto) {
#define PE_L4_MIN_LEN(name, proto, hlen, ports) \
	case proto:                             \
		return hlen;
		PE_TRANSPORTS(PE_L4_MIN_LEN)
#undef PE_L4_MIN_LEN
	default:
		return 0;
	}
}

/* Whether the header of transport (enum pe_transport) starts with the ports. */
static __always_inline int pe_has_ports(__u32 transport)
{
	switch (transport) {
#define PE_HAS_PORTS(name, proto, hlen, ports) \
	case PE_TRANSPORT_##name:              \
		return ports;
		PE_TRANSPORTS(PE_HAS_PORTS)
#undef PE_HAS_PORTS
	default:
		return 0;
	}
}

/*
 * Checks that the transport header starting at l4 is complete. With
 * PE_WANT_HDR_LEN (tc programs, for GSO byte accounting) it also records where
 * the TCP or UDP header ends; with PE_WANT_DETAILS where the header starts.
 */
static __always_inline void pe_check_l4(__u8 *l4, __u8 proto, void *data, void *data_end,
					struct pe_parsed *out, const int want)
{
	__u32 min_len = pe_l4_min_len(proto);

	if ((void *)(l4 + min_len) > data_end) {
		out->anomaly = PE_ANOMALY_TRUNCATED;
		return;
	}
	if (want & (PE_WANT_DETAILS | PE_WANT_TUNNEL))
		out->l4_off = (void *)l4 - data;
	if (want & PE_WANT_TUNNEL)
		out->proto = proto;
	if (!(want & PE_WANT_HDR_LEN))
		return;
	/* Checked again with a constant: the verifier cannot tie min_len to proto. */
	if (proto == PE_IPPROTO_TCP && (void *)(l4 + 20) <= data_end)
		out->hdr_len = (__u32)((void *)l4 - data) + ((l4[12] >> 4) << 2);
	else if (proto == PE_IPPROTO_UDP)
		out->hdr_len = (__u32)((void *)l4 - data) + 8;
}

static __always_inline void pe_parse_ipv4(__u8 *ip, void *data, void *data_end, struct pe_parsed *out,
					  const int want)
{
	out->class = PE_CLASS_IPV4 + PE_TRANSPORT_OTHER;
	if ((void *)(ip + PE_IPV4_HLEN) > data_end) {
		out->anomaly = PE_ANOMALY_TRUNCATED;
		return;
	}
	__u8 version_ihl = ip[0];
	__u32 ihl = (version_ihl & 0x0f) << 2;
	if ((version_ihl >> 4) != 4 || ihl < PE_IPV4_HLEN) {
		out->anomaly = PE_ANOMALY_MALFORMED;
		return;
	}
	__u8 proto = ip[9];
	out->class = PE_CLASS_IPV4 + pe_transport_of(proto);
	__u8 *l4 = ip + ihl;
	if ((void *)l4 > data_end) {
		out->anomaly = PE_ANOMALY_TRUNCATED;
		return;
	}
	/* A non-first fragment carries no transport header. */
	__u16 frag_off = *(__u16 *)(ip + 6);
	if (frag_off & bpf_htons(0x1fff))
		return;
	pe_check_l4(l4, proto, data, data_end, out, want);
}

static __always_inline int pe_is_ipv6_ext(__u8 next)
{
	return next == PE_IPPROTO_HOPOPTS || next == PE_IPPROTO_ROUTING || next == PE_IPPROTO_DSTOPTS ||
	       next == PE_IPPROTO_FRAGMENT || next == PE_IPPROTO_AH;
}

/*
 * The result of walking IPv6 extension headers, packed in a scalar so that it
 * can leave a global function: the upper-layer protocol (bits 0-7), the offset
 * of its header from the start of the frame (bits 8-23), whether this is a
 * first fragment (bit 24) and an anomaly code (bits 25-26).
 */
#define PE_EXT_TRUNCATED 1u
#define PE_EXT_TOO_DEEP 2u
#define PE_EXT_PACK(next, off, first, anomaly) \
	((__u32)(next) | ((__u32)(off) << 8) | ((__u32)(first) << 24) | ((__u32)(anomaly) << 25))
#define PE_EXT_NEXT(r) ((r) & 0xff)
#define PE_EXT_OFF(r) (((r) >> 8) & 0xffff)
#define PE_EXT_FIRST(r) (((r) >> 24) & 1)
#define PE_EXT_ANOMALY(r) ((r) >> 25)
/*
 * Where an extension header chain can start: in a frame, after Ethernet, two
 * VLAN tags and IPv6; in a tunnel's inner packet (tunnel.h), anywhere up to
 * this bound, which keeps every offset the walk reaches within what the
 * verifier accepts of a packet pointer (0xffff).
 */
#define PE_EXT_MAX_START 0x3fff
/*
 * Offsets the walk returns are below this bound: PE_EXT_MAX_START plus six
 * headers of at most 2048 bytes.
 */
#define PE_EXT_OFF_MASK 0x7fff

/*
 * Walks the IPv6 extension headers starting at offset off with type next. It
 * runs in a global function (below), which the verifier checks once on its
 * own: inlined, every path through the walk multiplied the paths verified
 * after it, and loading took tens of milliseconds per interface.
 */
static __always_inline __u32 pe_walk_ipv6_ext(void *data, void *data_end, __u32 off, __u8 next)
{
	__u32 first_fragment = 1;

	if (off > PE_EXT_MAX_START)
		return PE_EXT_PACK(255, 0, 0, PE_EXT_TRUNCATED);
	__u8 *pos = (__u8 *)data + off;

#pragma unroll
	for (int i = 0; i < PE_MAX_IPV6_EXT_HEADERS; i++) {
		if (!pe_is_ipv6_ext(next))
			return PE_EXT_PACK(next, (void *)pos - data, first_fragment, 0);
		/* Every extension header starts with next header and a length. */
		if ((void *)(pos + 8) > data_end)
			return PE_EXT_PACK(255, 0, 0, PE_EXT_TRUNCATED);
		__u8 len = pos[1];
		if (next == PE_IPPROTO_FRAGMENT) {
			if (*(__u16 *)(pos + 2) & bpf_htons(0xfff8))
				first_fragment = 0;
			next = pos[0];
			pos += 8;
		} else if (next == PE_IPPROTO_AH) {
			next = pos[0];
			pos += ((__u32)len + 2) << 2;
		} else {
			next = pos[0];
			pos += ((__u32)len + 1) << 3;
		}
	}
	if (pe_is_ipv6_ext(next))
		return PE_EXT_PACK(255, 0, 0, PE_EXT_TOO_DEEP);
	return PE_EXT_PACK(next, (void *)pos - data, first_fragment, 0);
}

__attribute__((noinline)) __u32 pe_ipv6_ext_xdp(struct xdp_md *ctx, __u32 off, __u32 next)
{
	return pe_walk_ipv6_ext((void *)(long)ctx->data, (void *)(long)ctx->data_end, off, next);
}

__attribute__((noinline)) __u32 pe_ipv6_ext_tc(struct __sk_buff *ctx, __u32 off, __u32 next)
{
	return pe_walk_ipv6_ext((void *)(long)ctx->data, (void *)(long)ctx->data_end, off, next);
}

/* Where a frame is parsed: selects the extension-header walker for the context type. */
enum pe_hook_kind {
	PE_HOOK_XDP,
	PE_HOOK_TC,
};

static __always_inline void pe_parse_ipv6(void *ctx, const enum pe_hook_kind hook, __u8 *ip, void *data,
					  void *data_end, struct pe_parsed *out, const int want)
{
	out->class = PE_CLASS_IPV6 + PE_TRANSPORT_OTHER;
	if ((void *)(ip + PE_IPV6_HLEN) > data_end) {
		out->anomaly = PE_ANOMALY_TRUNCATED;
		return;
	}
	if ((ip[0] >> 4) != 6) {
		out->anomaly = PE_ANOMALY_MALFORMED;
		return;
	}
	__u8 next = ip[6];
	__u8 *l4 = ip + PE_IPV6_HLEN;

	if (unlikely(pe_is_ipv6_ext(next))) {
		__u32 off = (void *)l4 - data;
		__u32 walked = hook == PE_HOOK_XDP ? pe_ipv6_ext_xdp(ctx, off, next)
						   : pe_ipv6_ext_tc(ctx, off, next);
		switch (PE_EXT_ANOMALY(walked)) {
		case PE_EXT_TRUNCATED:
			out->anomaly = PE_ANOMALY_TRUNCATED;
			return;
		case PE_EXT_TOO_DEEP:
			out->anomaly = PE_ANOMALY_TOO_DEEP;
			return;
		}
		next = PE_EXT_NEXT(walked);
		out->class = PE_CLASS_IPV6 + pe_transport_of(next);
		l4 = (__u8 *)data + (PE_EXT_OFF(walked) & PE_EXT_OFF_MASK);
		if ((void *)l4 > data_end) {
			out->anomaly = PE_ANOMALY_TRUNCATED;
			return;
		}
		if (!PE_EXT_FIRST(walked))
			return; /* a non-first fragment carries no transport header */
	}
	out->class = PE_CLASS_IPV6 + pe_transport_of(next);
	pe_check_l4(l4, next, data, data_end, out, want);
}

/*
 * Classifies the packet of EtherType proto (network order) at pos, after the
 * link-layer headers, in the frame that starts at data.
 */
static __always_inline void pe_parse_l3(void *ctx, const enum pe_hook_kind hook, __u16 proto, __u8 *pos,
					void *data, void *data_end, struct pe_parsed *out, const int want)
{
	switch (proto) {
	case bpf_htons(PE_ETH_P_IP):
		pe_parse_ipv4(pos, data, data_end, out, want);
		return;
	case bpf_htons(PE_ETH_P_IPV6):
		pe_parse_ipv6(ctx, hook, pos, data, data_end, out, want);
		return;
	case bpf_htons(PE_ETH_P_ARP):
		out->class = PE_CLASS_ARP;
		/* The fixed ARP header: hardware and protocol types, sizes, operation. */
		if ((void *)(pos + 8) > data_end)
			out->anomaly = PE_ANOMALY_TRUNCATED;
		return;
	case bpf_htons(PE_ETH_P_8021Q):
	case bpf_htons(PE_ETH_P_8021AD):
		out->anomaly = PE_ANOMALY_TOO_DEEP;
		return;
	default:
		return;
	}
}

/* Sets the fields of out for a frame not parsed yet: class other, no anomaly. */
static __always_inline void pe_parse_init(struct pe_parsed *out, const int want)
{
	out->class = PE_CLASS_OTHER;
	out->anomaly = PE_ANOMALY_NONE;
	out->hdr_len = 0;
	if (want & (PE_WANT_DETAILS | PE_WANT_TUNNEL))
		out->l4_off = 0;
	if (want & PE_WANT_TUNNEL)
		out->proto = 0;
	if (want & PE_WANT_DETAILS) {
		out->l3_off = 0;
		out->vlan = 0;
	}
}

/*
 * Parses the Ethernet frame at pos in [data, data_end), as pe_parse does, with
 * offsets from data: a frame, or the frame a tunnel carries (tunnel.h).
 */
static __always_inline void pe_parse_at(void *ctx, const enum pe_hook_kind hook, void *data, __u8 *pos,
					void *data_end, struct pe_parsed *out, const int want,
					__u32 outer_tags)
{
	if ((void *)(pos + PE_ETH_HLEN) > data_end) {
		out->anomaly = PE_ANOMALY_TRUNCATED;
		return;
	}
	__u16 proto = *(__u16 *)(pos + 12);
	pos += PE_ETH_HLEN;

#pragma unroll
	for (int i = 0; i < PE_MAX_VLAN_TAGS; i++) {
		if (i + outer_tags >= PE_MAX_VLAN_TAGS)
			break; /* a tag left here is one too many (pe_parse_l3) */
		if (proto != bpf_htons(PE_ETH_P_8021Q) && proto != bpf_htons(PE_ETH_P_8021AD))
			break;
		if ((void *)(pos + PE_VLAN_HLEN) > data_end) {
			out->anomaly = PE_ANOMALY_TRUNCATED;
			return;
		}
		if ((want & PE_WANT_DETAILS) && i == 0)
			out->vlan = bpf_ntohs(*(__u16 *)pos) & 0x0fff;
		proto = *(__u16 *)(pos + 2);
		pos += PE_VLAN_HLEN;
	}
	if (want & PE_WANT_DETAILS)
		out->l3_off = (void *)pos - data;
	pe_parse_l3(ctx, hook, proto, pos, data, data_end, out, want);
}

/*
 * Parses the frame in [data, data_end) of context ctx. hook and want (a set
 * of PE_WANT_* flags) are compile-time constants: a program pays only for
 * what it asks for. outer_tags (0 or 1) is the number of VLAN tags the kernel
 * has already taken out of the frame into the socket buffer's metadata: they
 * count against PE_MAX_VLAN_TAGS, so a frame parses the same on every hook.
 */
static __always_inline void pe_parse(void *ctx, const enum pe_hook_kind hook, void *data, void *data_end,
				     struct pe_parsed *out, const int want, __u32 outer_tags)
{
	pe_parse_init(out, want);
	pe_parse_at(ctx, hook, data, data, data_end, out, want, outer_tags);
}

#endif /* PE_PARSE_H */
