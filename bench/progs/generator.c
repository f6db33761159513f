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

/*
 * The paced generator's interval: nanoseconds between two frames sent by one
 * CPU, written by user space. 0 sends every run's frame.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} generator_interval SEC(".maps");

/* Per CPU: the time (bpf_ktime_get_ns) the next frame is due. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} generator_due SEC(".maps");

/* How many intervals a CPU that fell behind may catch up at once. */
#define GENERATOR_BACKLOG 64

/*
 * The paced generator: sends one frame every generator_interval ns per CPU
 * and drops the others (a dropped live frame is recycled at once, without
 * leaving the test run). The offered rate is then fixed by the clock, not by
 * how fast the receiver is, up to the rate one CPU can reach. A CPU that fell
 * behind (the receive path ran, the call ended) sends at most
 * GENERATOR_BACKLOG frames to catch up, then starts over from now: no bursts.
 * Only the frames sent are counted.
 */
SEC("xdp")
int generator_paced(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *interval = bpf_map_lookup_elem(&generator_interval, &zero);
	__u64 *due = bpf_map_lookup_elem(&generator_due, &zero);
	__u64 *sent = bpf_map_lookup_elem(&generator_sent, &zero);

	if (!interval || !due || !sent)
		return XDP_DROP;
	__u64 now = bpf_ktime_get_ns();
	if (now < *due)
		return XDP_DROP;
	if (now - *due > GENERATOR_BACKLOG * *interval)
		*due = now;
	*due += *interval;
	*sent += 1;
	return XDP_TX;
}

char __license[] SEC("license") = "Dual BSD/GPL";
