// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/*
 * packet-exporter's kernel programs: an XDP program for ingress and a tc (tcx)
 * program for egress, sharing one parser. Both count every frame, packets and
 * bytes, in a per-CPU array and always let it through.
 *
 * One instance of each program is loaded per interface with its own
 * pe_counter_base: the index of the interface's (and, for tc, the direction's)
 * block of PE_ENTRIES_PER_DIRECTION entries in pe_counters. The counters map
 * is shared by all instances. A per-CPU array lookup is inlined by the
 * verifier, so counting costs a parse and two memory increments.
 */

#include "include/base.h"
#include "include/parse.h"

/* Packets and bytes of one counter entry on one CPU. */
struct pe_value {
	__u64 packets;
	__u64 bytes;
};

/* Errors of the programs themselves: things that could not be counted. */
enum pe_error {
	PE_ERROR_NO_COUNTER = 0, /* the counter entry was out of the map's range */
	PE_ERROR_COUNT,
};

/* Counters; user space sizes max_entries to (interfaces x 2 x PE_ENTRIES_PER_DIRECTION). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct pe_value);
	__uint(max_entries, 2 * PE_ENTRIES_PER_DIRECTION);
} pe_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, PE_ERROR_COUNT);
} pe_errors SEC(".maps");

/* Index of this instance's first counter entry; set by user space at load time. */
volatile const __u32 pe_counter_base = 0;

/* Keep the enums in the object's BTF so bpf2go generates Go constants for them. */
volatile const enum pe_entry pe_btf_entry;
volatile const enum pe_direction pe_btf_direction;
volatile const enum pe_transport pe_btf_transport;
volatile const enum pe_error pe_btf_error;

_Static_assert(__builtin_offsetof(struct __sk_buff, data) == 76, "__sk_buff layout");
_Static_assert(__builtin_offsetof(struct __sk_buff, gso_segs) == 164, "__sk_buff layout");

static __always_inline void pe_count_error(__u32 error)
{
	__u64 *errors = bpf_map_lookup_elem(&pe_errors, &error);
	if (errors)
		*errors += 1;
}

static __always_inline void pe_add(__u32 entry, __u64 packets, __u64 bytes)
{
	__u32 index = pe_counter_base + entry;
	struct pe_value *value = bpf_map_lookup_elem(&pe_counters, &index);

	if (unlikely(!value)) {
		pe_count_error(PE_ERROR_NO_COUNTER);
		return;
	}
	value->packets += packets;
	value->bytes += bytes;
}

static __always_inline void pe_account(const struct pe_parsed *parsed, __u64 packets, __u64 bytes)
{
	pe_add(parsed->class, packets, bytes);
	if (unlikely(parsed->anomaly != PE_ANOMALY_NONE))
		pe_add(parsed->anomaly, packets, bytes);
}

/* Counts a received frame; bytes include the Ethernet header and any fragments. */
SEC("xdp.frags")
int pe_count_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pe_parsed parsed;

	pe_parse(ctx, PE_HOOK_XDP, data, data_end, &parsed, 0);
	pe_account(&parsed, 1, bpf_xdp_get_buff_len(ctx));
	return XDP_PASS;
}

/* Headers the tc program wants in the linear part of a non-linear skb. */
#define PE_TC_PULL_LEN 128

/*
 * Counts a frame at tc (egress, or ingress when XDP is unavailable). A GSO
 * packet counts as its segments: gso_segs packets, and its length plus the
 * headers each further segment repeats.
 */
SEC("tc")
int pe_count_tc(struct __sk_buff *skb)
{
	__u32 len = skb->len;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct pe_parsed parsed;

	/* Headers in paged data: make them readable (content is unchanged). */
	if (unlikely(data_end - data < PE_TC_PULL_LEN && data_end - data < len)) {
		bpf_skb_pull_data(skb, len < PE_TC_PULL_LEN ? len : PE_TC_PULL_LEN);
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
	}

	pe_parse(skb, PE_HOOK_TC, data, data_end, &parsed, 1);

	__u64 packets = 1;
	__u64 bytes = len;
	__u32 segs = skb->gso_segs;
	if (segs > 1) {
		packets = segs;
		bytes += (__u64)(segs - 1) * parsed.hdr_len;
	}
	pe_account(&parsed, packets, bytes);
	return TCX_NEXT;
}

char __license[] SEC("license") = "Dual BSD/GPL";
