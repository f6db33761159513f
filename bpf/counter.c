// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/*
 * packet-exporter's kernel programs: a tc program for both directions (tcx or
 * legacy tc) and an XDP program for ingress when chosen, sharing one parser.
 * They count every frame, packets and bytes, in a per-CPU array and always let
 * it through. When the event stream
 * is on they also write a sampled per-packet record into a ring buffer.
 *
 * Each program is loaded once and attached to every counted interface. It
 * finds the interface's counter block from the ifindex the kernel gives it
 * (pe_block_of): a direct-mapped array from ifindex to slot, whose lookup the
 * verifier inlines into a bounds check and a load, with a hash map for the
 * rare ifindexes beyond the array. Counting costs a parse, two inlined array
 * lookups and a few increments. Measured against the alternatives
 * (BenchmarkKernelCost, BENCHMARKS.md): an instance per interface with its
 * block baked in as a constant, which made every interface cost a
 * verification (~20 s to start with 1000 interfaces), is 1 ns cheaper per
 * packet in test runs (1.5 at tc with IPv6 extension headers; 1 to 2 ns on
 * live traffic); the hash lookup on every frame costs 7 ns more than the array. XDP looks the slot up after the parse (one value fewer to keep
 * across it), tc before it (see pe_count_tc).
 * The event code sits behind read-only constants: with the stream off, the
 * verifier removes it and the program is as cheap as without it.
 */

#include "include/base.h"
#include "include/parse.h"
#include "include/tunnel.h"

/*
 * Benchmarks rebuild this file without the tunnel code (0), to measure what
 * it costs frames that carry no tunnel.
 */
#ifndef PE_TUNNELS
#define PE_TUNNELS 1
#endif

/* Packets and bytes of one counter entry on one CPU. */
struct pe_value {
	__u64 packets;
	__u64 bytes;
};

/*
 * What tells the runs of the program for one (interface, direction) on one
 * CPU: the kernel's own run statistics are per program, and one program
 * serves every interface. A run counts one packet, or the segments of a GSO
 * packet: the runs are the packets counted less the further segments. Their
 * time is measured by the timed variant of the programs (pe_timed).
 */
struct pe_runs {
	__u64 more_segments; /* packets counted beyond one per run */
	__u64 ns;            /* time of the timed runs */
};

/*
 * The counters of one (interface, direction) on one CPU: packets and bytes of
 * each traffic class, packets of each anomaly (indexed by enum pe_entry less
 * PE_ANOMALY_TRUNCATED) and of each packet-size bucket, and the runs.
 */
struct pe_block {
	struct pe_value classes[PE_CLASS_COUNT];
#ifdef PE_LAYOUT_VARIANT
	/*
	 * A second layout of the same counters, for the tests of upgrades and
	 * downgrades between builds whose pinned maps differ (the Go build tag
	 * layoutvariant embeds it).
	 */
	__u64 buckets[PE_BUCKET_COUNT];
	__u64 anomalies[PE_ANOMALY_COUNT];
#else
	__u64 anomalies[PE_ANOMALY_COUNT];
	__u64 buckets[PE_BUCKET_COUNT];
#endif
	struct pe_runs runs;
};

/* Statistics of the programs themselves, summed over CPUs by user space. */
enum pe_stat {
	PE_STAT_NO_COUNTER = 0, /* frames not counted: the block was out of the map's range */
	PE_STAT_UNMAPPED,       /* frames not counted: their interface had no slot in pe_slots */
	PE_STAT_EVENTS_EMITTED, /* event records the programs tried to write (after sampling) */
	PE_STAT_EVENTS_LOST,    /* ... of which the ring buffer had no room for */
	/* Frames counted in their class but not their tunnel's: no tunnel counters were free. */
	PE_STAT_NO_TUNNEL_COUNTER,
	PE_STAT_COUNT,
};

/*
 * One sampled frame, as written to the ring buffer. Addresses are in network
 * order (IPv4 in the first 4 bytes), ports in host order, 0 when absent.
 */
struct pe_event {
	__u32 bytes;   /* bytes counted for the frame */
	__u32 block;   /* counter block: interface slot * 2 + direction */
	__u16 packets; /* packets counted for the frame (GSO segments) */
	__u16 vlan;    /* outer VLAN id, 0 when untagged */
	__u16 sport;
	__u16 dport;
	__u8 class;   /* enum pe_entry traffic class */
	__u8 anomaly; /* enum pe_entry anomaly, 0 for none */
	__u8 flags;   /* PE_EVENT_ADDRESSES, PE_EVENT_PORTS */
	__u8 pad[5];
	__u8 saddr[16];
	__u8 daddr[16];
};

_Static_assert(sizeof(struct pe_event) == 56, "pe_event layout");

/* pe_event.flags: which optional fields the record carries. */
enum pe_event_flag {
	PE_EVENT_ADDRESSES = 1,
	PE_EVENT_PORTS = 2,
};

/*
 * Interface slots by ifindex: the value is the index of the slot's receive
 * block (slot x 2) + 1, 0 for an interface not counted. Direct-mapped, sized by user space (NewMaps): the verifier inlines
 * a lookup in an array, which a hash map lookup never is.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} pe_slots SEC(".maps");

/* The same for the interfaces whose ifindex is beyond pe_slots. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} pe_slots_overflow SEC(".maps");

/* Counters; user space sizes max_entries to (interfaces x 2). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct pe_block);
	__uint(max_entries, 2);
} pe_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, PE_STAT_COUNT);
} pe_stats SEC(".maps");

/*
 * The packets and bytes of the frames that carry a tunnel, by tunnel type and
 * class of the packet inside, of one (interface, direction) on one CPU.
 */
struct pe_tunnel_counts {
	struct pe_value classes[PE_TUNNEL_COUNT][PE_CLASS_COUNT];
};

/*
 * The tunnel counters of a block: taken from pe_tunnel_free by the programs
 * on the block's first tunnel frame, given back by user space when it zeroes
 * the block's slot. Few interfaces carry tunnels, and counters for every
 * block would take more memory than the traffic counters.
 */
struct pe_tunnel_slot {
	struct bpf_spin_lock lock; /* held while the programs set index */
	__u32 index;               /* pe_tunnels index + 1, 0 for none */
};

/* Tunnel slots by block index; user space sizes it as pe_counters. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct pe_tunnel_slot);
	__uint(max_entries, 2);
} pe_tunnel_slots SEC(".maps");

/* Tunnel counters; user space sizes it from tunnels.max_interfaces. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct pe_tunnel_counts);
	__uint(max_entries, 2);
} pe_tunnels SEC(".maps");

/* The indexes of pe_tunnels not taken: user space fills it. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__type(value, __u32);
	__uint(max_entries, 2);
} pe_tunnel_free SEC(".maps");

/* Event records; user space sizes it from the configuration. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} pe_events SEC(".maps");

/* Per-CPU countdown to the next sampled frame. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} pe_sampler SEC(".maps");

/* Set by user space at load time. */
volatile const __u32 pe_direction = 0;      /* enum pe_direction of the tc instance's hook */
volatile const __u32 pe_events_enabled = 0; /* write event records */
volatile const __u32 pe_sample_rate = 1;    /* one record per pe_sample_rate frames per CPU */
/*
 * Time each run: user space attaches a timed variant of the programs while
 * the kernel collects BPF statistics. Untimed, the verifier removes the
 * clock reads, and the runs cost nothing to time.
 */
volatile const __u32 pe_timed = 0;
/* Find tunnels and count the packets inside (pe_tunnels). */
volatile const __u32 pe_tunnels_enabled = 0;
/*
 * The UDP destination ports of tunnels: a pe_tunnel + 1 by port (in network
 * order, pe_find_tunnel), 0 for none, set by user space at load time. One
 * load finds a UDP frame's tunnel, whatever the number of ports;
 * zero-filled, it takes no room in the object.
 */
__u8 pe_tunnel_ports[65536];

/* Keep these types in the object's BTF so bpf2go generates Go for them. */
volatile const enum pe_entry pe_btf_entry;
volatile const enum pe_direction pe_btf_direction;
volatile const enum pe_transport pe_btf_transport;
volatile const enum pe_bucket_bound pe_btf_bucket_bound;
volatile const enum pe_stat pe_btf_stat;
volatile const enum pe_event_flag pe_btf_event_flag;
volatile const struct pe_event pe_btf_event;
volatile const enum pe_tunnel pe_btf_tunnel;

_Static_assert(__builtin_offsetof(struct __sk_buff, data) == 76, "__sk_buff layout");
_Static_assert(__builtin_offsetof(struct __sk_buff, gso_segs) == 164, "__sk_buff layout");

static __always_inline void pe_stat_add(__u32 stat)
{
	__u64 *value = bpf_map_lookup_elem(&pe_stats, &stat);
	if (value)
		*value += 1;
}

/* Index of the packet-size bucket of a frame of len bytes (a search tree). */
static __always_inline __u32 pe_size_bucket(__u64 len)
{
	if (len <= PE_BOUND_2)
		return len <= PE_BOUND_0 ? 0 : len <= PE_BOUND_1 ? 1 : 2;
	if (len <= PE_BOUND_5)
		return len <= PE_BOUND_3 ? 3 : len <= PE_BOUND_4 ? 4 : 5;
	return len <= PE_BOUND_6 ? 6 : 7;
}

/* pe_block_of's answer for an interface with no slot. */
#define PE_NO_BLOCK 0xffffffff

/*
 * Returns the counter block of direction dir of interface ifindex, or
 * PE_NO_BLOCK (counted as unmapped) when the interface has no slot.
 */
static __always_inline __u32 pe_block_of(__u32 ifindex, __u32 dir)
{
	__u32 *slot = bpf_map_lookup_elem(&pe_slots, &ifindex);

	if (unlikely(!slot))
		slot = bpf_map_lookup_elem(&pe_slots_overflow, &ifindex);
	if (unlikely(!slot || *slot == 0)) {
		pe_stat_add(PE_STAT_UNMAPPED);
		return PE_NO_BLOCK;
	}
	return *slot - 1 + dir;
}

/*
 * Benchmarks rebuild this file with the design it replaced (an instance per
 * interface, its block a constant, no run counting) through these.
 */
#ifndef PE_BLOCK_OF
#define PE_BLOCK_OF pe_block_of
#define PE_RUN_START pe_run_start
#define PE_RUN_END pe_run_end
#endif

/* Returns the start time of a run to be timed, 0 when runs are not timed. */
static __always_inline __u64 pe_run_start(void)
{
	return pe_timed ? bpf_ktime_get_ns() : 0;
}

/* Adds the time of a timed run (start not 0) on block index. */
static __always_inline void pe_run_end(__u32 index, __u64 start)
{
	if (!pe_timed)
		return;
	struct pe_block *block = bpf_map_lookup_elem(&pe_counters, &index);
	if (block)
		block->runs.ns += bpf_ktime_get_ns() - start;
}

/*
 * Adds a frame to its class, its anomaly if any, and its size bucket
 * (seg_len: the size of each of its packets). Buckets count packets only: the
 * histogram's sum is the bytes of the classes.
 */
static __always_inline void pe_account(__u32 index, const struct pe_parsed *parsed, __u64 packets,
				       __u64 bytes, __u64 seg_len)
{
	struct pe_block *block = bpf_map_lookup_elem(&pe_counters, &index);

	if (unlikely(!block)) {
		pe_stat_add(PE_STAT_NO_COUNTER);
		return;
	}
	__u32 class = parsed->class;
	block->classes[class].packets += packets;
	block->classes[class].bytes += bytes;
	if (packets > 1)
		block->runs.more_segments += packets - 1;

	block->buckets[pe_size_bucket(seg_len)] += packets;

	__u32 anomaly = parsed->anomaly - PE_ANOMALY_TRUNCATED;
	if (unlikely(anomaly < PE_ANOMALY_COUNT))
		block->anomalies[anomaly] += packets;
}

/*
 * Takes free tunnel counters for the tunnel slot ts, unless another CPU just
 * did: returns the slot's index (pe_tunnels index + 1), 0 when none is free.
 * Runs once per (interface, direction) that carries tunnels.
 */
static __attribute__((noinline)) __u32 pe_take_tunnel_slot(struct pe_tunnel_slot *ts)
{
	__u32 free, index;

	if (bpf_map_pop_elem(&pe_tunnel_free, &free))
		return 0;
	bpf_spin_lock(&ts->lock);
	index = ts->index;
	if (index == 0)
		ts->index = index = free + 1;
	bpf_spin_unlock(&ts->lock);
	if (index != free + 1)
		bpf_map_push_elem(&pe_tunnel_free, &free, 0); /* another CPU took some first */
	return index;
}

/*
 * Adds a frame that carries a tunnel to the tunnel counters of its block
 * index, by the result of its inner parse (PE_INNER_PACK). A global
 * function, verified once on its own: inlined, its paths multiplied those of
 * the event code after it beyond what older verifiers explore (6.1).
 */
__attribute__((noinline)) int pe_account_tunnel(__u32 index, __u32 tunnel, __u32 inner, __u64 packets,
						__u64 bytes)
{
	struct pe_tunnel_slot *ts = bpf_map_lookup_elem(&pe_tunnel_slots, &index);
	if (unlikely(!ts)) {
		pe_stat_add(PE_STAT_NO_TUNNEL_COUNTER);
		return 0;
	}
	__u32 slot = ts->index;
	if (unlikely(slot == 0)) {
		slot = pe_take_tunnel_slot(ts);
		if (slot == 0) {
			pe_stat_add(PE_STAT_NO_TUNNEL_COUNTER);
			return 0;
		}
	}
	slot -= 1;
	struct pe_tunnel_counts *counts = bpf_map_lookup_elem(&pe_tunnels, &slot);
	if (unlikely(!counts)) {
		pe_stat_add(PE_STAT_NO_TUNNEL_COUNTER);
		return 0;
	}
	__u32 class = PE_INNER_CLASS(inner);
	if (class >= PE_CLASS_COUNT)
		class = PE_CLASS_OTHER;
	if (tunnel >= PE_TUNNEL_COUNT)
		return 0;
	counts->classes[tunnel][class].packets += packets;
	counts->classes[tunnel][class].bytes += bytes;
	return 0;
}

/*
 * Finds the tunnel a frame parsed into parsed carries, and parses its inner
 * packet: the packed result (PE_INNER_PACK), or PE_NO_TUNNEL. The inner
 * packet's anomaly becomes the frame's (its outer headers have none: a
 * tunnel is found only behind complete ones), and with PE_WANT_HDR_LEN the
 * end of its TCP or UDP header the frame's header length, which every GSO
 * segment repeats.
 */
static __always_inline __u32 pe_tunnel_of(void *ctx, const enum pe_hook_kind hook, void *data, void *data_end,
					  struct pe_parsed *parsed, __u32 *tunnel)
{
	__u32 t = pe_find_tunnel(parsed, pe_tunnel_ports, data, data_end);

	if (likely(t == PE_NO_TUNNEL))
		return PE_NO_TUNNEL;
	*tunnel = PE_TUNNEL_TYPE(t);
	__u32 inner = hook == PE_HOOK_XDP ? pe_inner_xdp(ctx, t) : pe_inner_tc(ctx, t);
	parsed->anomaly = PE_INNER_ANOMALY(inner);
	if (PE_INNER_HDR_LEN(inner))
		parsed->hdr_len = PE_INNER_HDR_LEN(inner);
	return inner;
}

/* Copies n bytes (n a constant) from src to dst. */
static __always_inline void pe_copy(__u8 *dst, const __u8 *src, const int n)
{
#pragma unroll
	for (int i = 0; i < n; i++)
		dst[i] = src[i];
}

/* Fills the addresses and ports of event e from the frame's headers. */
static __always_inline void pe_event_addresses(struct pe_event *e, void *data, void *data_end,
					       const struct pe_parsed *parsed)
{
	__u8 *ip = (__u8 *)data + (parsed->l3_off & 0x3f);
	__u32 class = parsed->class;

	if (class >= PE_CLASS_IPV4 && class < PE_CLASS_IPV4 + PE_TRANSPORT_COUNT) {
		if ((void *)(ip + PE_IPV4_HLEN) > data_end)
			return;
		pe_copy(e->saddr, ip + 12, 4);
		pe_copy(e->daddr, ip + 16, 4);
		e->flags = PE_EVENT_ADDRESSES;
	} else if (class >= PE_CLASS_IPV6 && class < PE_CLASS_IPV6 + PE_TRANSPORT_COUNT) {
		if ((void *)(ip + PE_IPV6_HLEN) > data_end)
			return;
		pe_copy(e->saddr, ip + 8, 16);
		pe_copy(e->daddr, ip + 24, 16);
		e->flags = PE_EVENT_ADDRESSES;
	} else {
		return;
	}
	if (parsed->l4_off == 0 || !pe_has_ports((class - PE_CLASS_IPV4) % PE_TRANSPORT_COUNT))
		return;
	__u8 *l4 = (__u8 *)data + (parsed->l4_off & 0x3fff);
	if ((void *)(l4 + 4) > data_end)
		return;
	e->sport = bpf_ntohs(*(__u16 *)l4);
	e->dport = bpf_ntohs(*(__u16 *)(l4 + 2));
	e->flags |= PE_EVENT_PORTS;
}

/*
 * Writes a record of the frame to the ring buffer, one in pe_sample_rate per
 * CPU. It parses the frame again, for the details the counting path does not
 * keep: keeping them would cost the counting path spills across its calls.
 */
static __always_inline void pe_emit(void *ctx, const enum pe_hook_kind hook, void *data, void *data_end,
				    __u32 block, __u64 packets, __u64 bytes, __u32 outer_tags,
				    __u16 outer_vlan)
{
	if (pe_sample_rate > 1) {
		__u32 zero = 0;
		__u32 *countdown = bpf_map_lookup_elem(&pe_sampler, &zero);
		if (!countdown)
			return;
		if (*countdown > 1) {
			*countdown -= 1;
			return;
		}
		*countdown = pe_sample_rate;
	}
	pe_stat_add(PE_STAT_EVENTS_EMITTED);
	struct pe_event *e = bpf_ringbuf_reserve(&pe_events, sizeof(*e), 0);
	if (!e) {
		pe_stat_add(PE_STAT_EVENTS_LOST);
		return;
	}
	struct pe_parsed parsed;
	pe_parse(ctx, hook, data, data_end, &parsed, PE_WANT_DETAILS, outer_tags);
	__builtin_memset(e, 0, sizeof(*e));
	e->bytes = bytes;
	e->packets = packets;
	e->block = block;
	e->vlan = outer_tags ? outer_vlan : parsed.vlan;
	e->class = parsed.class;
	e->anomaly = parsed.anomaly;
	pe_event_addresses(e, data, data_end, &parsed);
	/* No wake-up: the reader drains on a timer (a wake-up costs microseconds). */
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

/*
 * Counts a received frame at XDP; bytes include the Ethernet header and, with
 * frags, any fragments.
 */
static __always_inline int pe_count_xdp_frame(struct xdp_md *ctx, const int frags)
{
	struct pe_parsed parsed;
	__u64 start = PE_RUN_START();
	/* Before the parse: the call clobbers the argument registers, not its result. */
	__u64 len = frags ? bpf_xdp_get_buff_len(ctx) : ctx->data_end - ctx->data;

	pe_parse(ctx, PE_HOOK_XDP, (void *)(long)ctx->data, (void *)(long)ctx->data_end, &parsed,
		 PE_TUNNELS ? PE_WANT_TUNNEL : 0, 0);
	/* After the parse: one value fewer to keep across it. */
	__u32 block = PE_BLOCK_OF(ctx->ingress_ifindex, PE_DIRECTION_RECEIVE);
	if (unlikely(block == PE_NO_BLOCK))
		return XDP_PASS;
	if (PE_TUNNELS && pe_tunnels_enabled) {
		__u32 tunnel = 0;
		__u32 inner = pe_tunnel_of(ctx, PE_HOOK_XDP, (void *)(long)ctx->data,
					   (void *)(long)ctx->data_end, &parsed, &tunnel);
		if (unlikely(inner != PE_NO_TUNNEL))
			pe_account_tunnel(block, tunnel, inner, 1, len);
	}
	pe_account(block, &parsed, 1, len, len);
	if (pe_events_enabled)
		pe_emit(ctx, PE_HOOK_XDP, (void *)(long)ctx->data, (void *)(long)ctx->data_end, block, 1, len,
			0, 0);
	PE_RUN_END(block, start);
	return XDP_PASS;
}

/* Counts a received frame, which may have fragments (XDP multi-buffer). */
SEC("xdp.frags")
int pe_count_xdp(struct xdp_md *ctx)
{
	return pe_count_xdp_frame(ctx, 1);
}

/*
 * pe_count_xdp for kernels without XDP multi-buffer (before 5.18), where
 * every frame is linear.
 */
SEC("xdp")
int pe_count_xdp_linear(struct xdp_md *ctx)
{
	return pe_count_xdp_frame(ctx, 0);
}

/*
 * The ifindex of the interface the tc program runs on. At ingress it is the
 * one the frame arrived on, which the kernel sets in the socket buffer just
 * before the hook (skb_iif): one load from a line the hook has just read,
 * where the device's own ifindex takes two, and ~2 ns on live traffic. The
 * two reads are kept apart: a load from either offset of the context would
 * be a modified context pointer, which the verifier refuses.
 */
static __always_inline __u32 pe_tc_ifindex(struct __sk_buff *skb)
{
	__u32 ifindex;

	if (pe_direction == PE_DIRECTION_RECEIVE) {
		ifindex = skb->ingress_ifindex;
		asm volatile("" : "+r"(ifindex));
	} else {
		ifindex = skb->ifindex;
		asm volatile("" : "+r"(ifindex));
	}
	return ifindex;
}

/* Headers the tc program wants in the linear part of a non-linear skb. */
#define PE_TC_PULL_LEN 128

/*
 * Counts a frame at tc (ingress or egress). A GSO packet counts as its
 * segments: gso_segs packets, and its length plus the headers each further
 * segment repeats. A VLAN tag the kernel holds in the socket buffer's metadata
 * (taken out on receive, or not yet written on transmit by a VLAN device) is
 * on the wire in front of the frame's EtherType: every segment counts its 4
 * bytes, and the parser counts it as the outer tag.
 */
SEC("tc")
int pe_count_tc(struct __sk_buff *skb)
{
	__u32 len = skb->len;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct pe_parsed parsed;
	__u64 start = PE_RUN_START();

	/* Headers in paged data: make them readable (content is unchanged). */
	if (unlikely(data_end - data < PE_TC_PULL_LEN && data_end - data < len)) {
		bpf_skb_pull_data(skb, len < PE_TC_PULL_LEN ? len : PE_TC_PULL_LEN);
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
	}

	/*
	 * Before the parse, unlike XDP: on live traffic the slot's line is often
	 * out of the first-level cache by the time the hook runs, and the parse
	 * then overlaps its load (~2.5 ns less per packet than after it; no
	 * difference in test runs, where every line is hot).
	 */
	__u32 block = PE_BLOCK_OF(pe_tc_ifindex(skb), pe_direction);
	if (unlikely(block == PE_NO_BLOCK))
		return TCX_NEXT;
	__u32 outer_tags = skb->vlan_present ? 1 : 0;
	pe_parse(skb, PE_HOOK_TC, data, data_end, &parsed,
		 PE_WANT_HDR_LEN | (PE_TUNNELS ? PE_WANT_TUNNEL : 0), outer_tags);
	__u32 tunnel = 0, inner = PE_NO_TUNNEL;
	if (PE_TUNNELS && pe_tunnels_enabled)
		inner = pe_tunnel_of(skb, PE_HOOK_TC, data, data_end, &parsed, &tunnel);

	__u64 packets = 1;
	__u64 seg_len = len + outer_tags * PE_VLAN_HLEN;
	__u64 bytes = seg_len;
	__u32 segs = skb->gso_segs;
	if (segs > 1) {
		packets = segs;
		bytes += (__u64)(segs - 1) * (parsed.hdr_len + outer_tags * PE_VLAN_HLEN);
		seg_len = bytes / segs;
	}
	if (unlikely(inner != PE_NO_TUNNEL))
		pe_account_tunnel(block, tunnel, inner, packets, bytes);
	pe_account(block, &parsed, packets, bytes, seg_len);
	if (pe_events_enabled)
		pe_emit(skb, PE_HOOK_TC, (void *)(long)skb->data, (void *)(long)skb->data_end, block, packets,
			bytes, outer_tags, skb->vlan_tci & 0x0fff);
	PE_RUN_END(block, start);
	return TCX_NEXT;
}

char __license[] SEC("license") = "Dual BSD/GPL";
