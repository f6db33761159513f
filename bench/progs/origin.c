// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/*
 * The original tool's design, rebuilt for comparison (shared/docs/ORIGIN.md):
 * one record per packet - IPv4 addresses and ports, IP protocol, ingress
 * ifindex and frame length - sent to user space with bpf_perf_event_output,
 * where a perf reader decodes it. Like the original it reads every frame as
 * IPv4 whatever its EtherType. Unlike it, it never drops a frame (the
 * original returned XDP_DROP for short frames): the benchmark frames are all
 * long enough, and the cost measured is the same.
 */

#include "bench.h"

/* The record: 24 bytes, no implicit padding (the original's Go decoder misread a padded one). */
struct origin_record {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u32 ifindex;
	__u32 len;
	__u8 proto;
	__u8 pad[3];
};

_Static_assert(sizeof(struct origin_record) == 24, "origin_record layout");

/* One perf ring per CPU; user space sizes it to the possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} origin_events SEC(".maps");

/* Keep the record in the object's BTF so bpf2go generates its Go type. */
volatile const struct origin_record origin_btf_record;

SEC("xdp")
int origin_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *ip = (__u8 *)data + ETH_HLEN;
	struct origin_record r = {};

	if ((void *)(ip + 20) > data_end)
		return XDP_PASS;
	r.saddr = *(__u32 *)(ip + 12);
	r.daddr = *(__u32 *)(ip + 16);
	r.proto = ip[9];
	__u8 *l4 = ip + ((ip[0] & 0x0f) << 2);
	if ((r.proto == IPPROTO_TCP || r.proto == IPPROTO_UDP) && (void *)(l4 + 4) <= data_end) {
		r.sport = bpf_ntohs(*(__u16 *)l4);
		r.dport = bpf_ntohs(*(__u16 *)(l4 + 2));
	}
	r.ifindex = ctx->ingress_ifindex;
	r.len = data_end - data;
	bpf_perf_event_output(ctx, &origin_events, BPF_F_CURRENT_CPU, &r, sizeof(r));
	return XDP_PASS;
}

char __license[] SEC("license") = "Dual BSD/GPL";
