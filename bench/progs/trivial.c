// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/*
 * The trivial baselines: programs that only return their pass verdict. What
 * they cost is the hook (or BPF_PROG_TEST_RUN's loop) itself; every other
 * program is measured against them in the same run. The XDP one is declared
 * multi-buffer capable (xdp.frags) like packet-exporter's, so that both attach
 * to an interface the same way.
 */

#include "bench.h"

SEC("xdp.frags")
int trivial_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("tc")
int trivial_tc(struct __sk_buff *skb)
{
	return TCX_NEXT;
}

char __license[] SEC("license") = "Dual BSD/GPL";
