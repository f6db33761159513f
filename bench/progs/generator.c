// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/*
 * The traffic generator: run with BPF_PROG_TEST_RUN and
 * BPF_F_TEST_XDP_LIVE_FRAMES on a veth end, it sends every frame it is given
 * out of that end (XDP_TX becomes a redirect to the ingress interface in live
 * mode), so the frames arrive at the peer as real traffic. It counts what it
 * sends per CPU: the number of runs is not Repeat x calls, since an
 * interrupted call is issued again.
 */

#include "bench.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} generator_sent SEC(".maps");

SEC("xdp")
int generator_tx(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *sent = bpf_map_lookup_elem(&generator_sent, &zero);

	if (sent)
		*sent += 1;
	return XDP_TX;
}

char __license[] SEC("license") = "Dual BSD/GPL";
