// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/*
 * packet-exporter's drop counter: a program on the kernel's drop tracepoint
 * (skb:kfree_skb, attached as a BTF-enabled tracepoint), which runs only when
 * a packet is dropped. It counts, per CPU, every drop by (interface, reason,
 * traffic class) for the network namespace user space names (pe_netns_inum),
 * classifying the packet from its network header with the traffic counters'
 * classes. Reasons are the kernel's enum skb_drop_reason values: user space
 * names them from the running kernel's BTF, since their numbers change
 * between versions.
 */

#include "include/base.h"
#include "include/parse.h"

/*
 * The parts of the kernel's structures the program reads, relocated by
 * CO-RE against the running kernel's BTF: their layout is not assumed.
 */
#define PE_CORE __attribute__((preserve_access_index))

struct ns_common {
	unsigned int inum;
} PE_CORE;

struct net {
	struct ns_common ns;
} PE_CORE;

typedef struct {
	struct net *net;
} PE_CORE possible_net_t;

struct net_device {
	int ifindex;
	possible_net_t nd_net;
} PE_CORE;

struct sock_common {
	possible_net_t skc_net;
} PE_CORE;

struct sock {
	struct sock_common __sk_common;
} PE_CORE;

struct sk_buff {
	struct net_device *dev;
	struct sock *sk;
	unsigned char *head;
	__u16 transport_header;
	__u16 network_header;
	__u16 protocol;
	__u8 cloned : 1;
} PE_CORE;

/* The kinds of __builtin_preserve_field_info used to read a bitfield. */
enum pe_field_info {
	PE_FIELD_BYTE_OFFSET = 0,
	PE_FIELD_BYTE_SIZE = 1,
	PE_FIELD_LSHIFT_U64 = 4,
	PE_FIELD_RSHIFT_U64 = 5,
};

/*
 * Reads the unsigned bitfield field of *s, wherever the running kernel
 * puts it (CO-RE field relocations; little-endian only, like the objects).
 */
#define PE_READ_BITFIELD(s, field)                                                                      \
	({                                                                                              \
		__u64 val = 0;                                                                          \
		bpf_probe_read_kernel(                                                                  \
			&val, __builtin_preserve_field_info((s)->field, PE_FIELD_BYTE_SIZE),            \
			(void *)(s) + __builtin_preserve_field_info((s)->field, PE_FIELD_BYTE_OFFSET)); \
		val <<= __builtin_preserve_field_info((s)->field, PE_FIELD_LSHIFT_U64);                 \
		val >>= __builtin_preserve_field_info((s)->field, PE_FIELD_RSHIFT_U64);                 \
		val;                                                                                    \
	})

/*
 * What the program knows of a no_socket drop beyond its reason, for user space
 * to tell a loss from what is not one.
 */
enum pe_drop_note {
	PE_DROP_NOTE_NONE = 0,
	/*
	 * An ICMP or ICMPv6 echo reply no ping socket wanted, of which a copy
	 * was made (the packet is cloned): a raw socket, such as ping's, got
	 * the copy. A packet socket (a capture) clones every packet too.
	 */
	PE_DROP_NOTE_ECHO_REPLY_COPIED,
	/*
	 * A TCP segment without SYN: it belongs to a connection that has ended
	 * here (closed, reset), not to one being opened to a closed port.
	 */
	PE_DROP_NOTE_TCP_NOT_SYN,
};

/* What one drop is counted by. */
struct pe_drop_key {
	__u32 ifindex; /* the packet's device, 0 when it had none */
	__u32 reason;  /* enum skb_drop_reason (or a subsystem's reason) */
	__u32 class;   /* enum pe_entry traffic class */
	__u32 note;    /* enum pe_drop_note */
};

/* Statistics of the drop program itself. */
enum pe_drop_stat {
	PE_DROP_STAT_TABLE_FULL = 0, /* drops not counted: pe_drops had no room for their key */
	PE_DROP_STAT_COUNT,
};

/* Drops by key; user space sizes it. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, struct pe_drop_key);
	__type(value, __u64);
	__uint(max_entries, 1);
} pe_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, PE_DROP_STAT_COUNT);
} pe_drop_stats SEC(".maps");

/* Set by user space at load time. */
volatile const __u32 pe_netns_inum = 0;        /* the namespace counted: its inode number */
volatile const __u32 pe_count_unowned = 0;     /* count drops with neither device nor socket */
volatile const __u32 pe_reason_not_drop_0 = 0; /* SKB_NOT_DROPPED_YET: a free, not a drop */
volatile const __u32 pe_reason_not_drop_1 = 0; /* SKB_CONSUMED where the kernel has it, else the same */
volatile const __u32 pe_reason_no_socket = 0;  /* SKB_DROP_REASON_NO_SOCKET */

/* Keep these types in the object's BTF so bpf2go generates Go for them. */
volatile const struct pe_drop_key pe_btf_drop_key;
volatile const enum pe_drop_stat pe_btf_drop_stat;
volatile const enum pe_drop_note pe_btf_drop_note;

#define PE_HEADER_UNSET 0xffff
#define PE_ICMP_ECHOREPLY 0
#define PE_ICMPV6_ECHO_REPLY 129
#define PE_TCP_FLAGS_OFFSET 13
#define PE_TCP_SYN 0x02

/* The traffic class of a dropped packet, from its network header. */
static __always_inline __u32 pe_drop_class(struct sk_buff *skb)
{
	__u16 proto = bpf_ntohs(skb->protocol);
	__u16 nh = skb->network_header;
	unsigned char *head = skb->head;

	if (proto == PE_ETH_P_ARP)
		return PE_CLASS_ARP;
	if ((proto != PE_ETH_P_IP && proto != PE_ETH_P_IPV6) || nh == PE_HEADER_UNSET || !head)
		return PE_CLASS_OTHER;
	__u8 ip[8];
	if (bpf_probe_read_kernel(ip, sizeof(ip), head + nh))
		return PE_CLASS_OTHER;
	if (proto == PE_ETH_P_IP) {
		if ((ip[0] >> 4) != 4)
			return PE_CLASS_OTHER;
		/* Bytes 8 and 9: TTL and protocol. */
		__u8 p[2];
		if (bpf_probe_read_kernel(p, sizeof(p), head + nh + 8))
			return PE_CLASS_OTHER;
		return PE_CLASS_IPV4 + pe_transport_of(p[1]);
	}
	if ((ip[0] >> 4) != 6)
		return PE_CLASS_OTHER;
	/* The next header, past up to PE_MAX_IPV6_EXT_HEADERS extension headers. */
	__u8 next = ip[6];
	__u32 off = nh + PE_IPV6_HLEN;
	for (int i = 0; i < PE_MAX_IPV6_EXT_HEADERS; i++) {
		if (next != PE_IPPROTO_HOPOPTS && next != PE_IPPROTO_ROUTING && next != PE_IPPROTO_DSTOPTS &&
		    next != PE_IPPROTO_FRAGMENT && next != PE_IPPROTO_AH)
			return PE_CLASS_IPV6 + pe_transport_of(next);
		__u8 ext[2];
		if (bpf_probe_read_kernel(ext, sizeof(ext), head + off))
			return PE_CLASS_IPV6 + PE_TRANSPORT_OTHER;
		if (next == PE_IPPROTO_FRAGMENT)
			off += 8;
		else if (next == PE_IPPROTO_AH)
			off += ((__u32)ext[1] + 2) * 4;
		else
			off += ((__u32)ext[1] + 1) * 8;
		next = ext[0];
	}
	return PE_CLASS_IPV6 + PE_TRANSPORT_OTHER;
}

/*
 * The note of a no_socket drop of class: the first byte of interest of its
 * transport header (ICMP type, TCP flags), read where the stack left it.
 */
static __always_inline __u32 pe_no_socket_note(struct sk_buff *skb, __u32 class)
{
	__u16 th = skb->transport_header;
	unsigned char *head = skb->head;
	__u8 b;

	if (th == PE_HEADER_UNSET || !head)
		return PE_DROP_NOTE_NONE;
	if (class == PE_CLASS_IPV4 + PE_TRANSPORT_TCP || class == PE_CLASS_IPV6 + PE_TRANSPORT_TCP) {
		if (bpf_probe_read_kernel(&b, 1, head + th + PE_TCP_FLAGS_OFFSET) || (b & PE_TCP_SYN))
			return PE_DROP_NOTE_NONE;
		return PE_DROP_NOTE_TCP_NOT_SYN;
	}
	__u8 reply;
	if (class == PE_CLASS_IPV4 + PE_TRANSPORT_ICMP)
		reply = PE_ICMP_ECHOREPLY;
	else if (class == PE_CLASS_IPV6 + PE_TRANSPORT_ICMPV6)
		reply = PE_ICMPV6_ECHO_REPLY;
	else
		return PE_DROP_NOTE_NONE;
	if (bpf_probe_read_kernel(&b, 1, head + th) || b != reply || !PE_READ_BITFIELD(skb, cloned))
		return PE_DROP_NOTE_NONE;
	return PE_DROP_NOTE_ECHO_REPLY_COPIED;
}

/* The inode number of a network namespace, 0 when unknown. */
static __always_inline __u32 pe_netns_of(struct net *net)
{
	return net ? net->ns.inum : 0;
}

/*
 * Counts one drop. Arguments of the tracepoint (since 5.17): the packet, the
 * place it was dropped, the reason, and on later kernels the receiving socket.
 */
SEC("tp_btf/kfree_skb")
int pe_count_drop(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	__u32 reason = (__u32)ctx[2];

	if (reason == pe_reason_not_drop_0 || reason == pe_reason_not_drop_1 || !skb)
		return 0;
	struct net_device *dev = skb->dev;
	struct pe_drop_key key = {.reason = reason};
	if (dev) {
		if (pe_netns_of(dev->nd_net.net) != pe_netns_inum)
			return 0;
		key.ifindex = dev->ifindex;
	} else {
		struct sock *sk = skb->sk;
		if (sk) {
			if (pe_netns_of(sk->__sk_common.skc_net.net) != pe_netns_inum)
				return 0;
		} else if (!pe_count_unowned) {
			return 0;
		}
	}
	key.class = pe_drop_class(skb);
	if (reason == pe_reason_no_socket)
		key.note = pe_no_socket_note(skb, key.class);

	__u64 *count = bpf_map_lookup_elem(&pe_drops, &key);
	if (likely(count)) {
		*count += 1;
		return 0;
	}
	__u64 one = 1;
	if (bpf_map_update_elem(&pe_drops, &key, &one, BPF_NOEXIST) == 0)
		return 0;
	/* Another CPU may have added the key meanwhile. */
	count = bpf_map_lookup_elem(&pe_drops, &key);
	if (count) {
		*count += 1;
		return 0;
	}
	__u32 stat = PE_DROP_STAT_TABLE_FULL;
	__u64 *full = bpf_map_lookup_elem(&pe_drop_stats, &stat);
	if (full)
		*full += 1;
	return 0;
}

char __license[] SEC("license") = "Dual BSD/GPL";
