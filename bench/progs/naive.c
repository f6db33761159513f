// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/*
 * A naive in-kernel counter, for comparison: a per-CPU hash keyed by
 * (ifindex, protocol), read with a lookup and written back with
 * bpf_map_update_elem on every packet. It looks through up to two VLAN tags
 * and takes the IPv6 next header as it is (no extension-header walk), so it
 * parses less than packet-exporter does; what it shows is the price of a hash
 * update per packet.
 */

#include "bench.h"

struct naive_key {
	__u32 ifindex;
	__u32 proto; /* EtherType << 8 | IP protocol */
};

struct naive_value {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, struct naive_key);
	__type(value, struct naive_value);
	__uint(max_entries, 1024);
} naive_counts SEC(".maps");

SEC("xdp.frags")
int naive_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct naive_key key = {.ifindex = ctx->ingress_ifindex};
	__u8 *pos = (__u8 *)data + ETH_HLEN;

	if ((void *)pos <= data_end) {
		__u16 proto = bpf_ntohs(*(__u16 *)(pos - 2));
#pragma unroll
		for (int i = 0; i < 2; i++) {
			if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
				break;
			if ((void *)(pos + VLAN_HLEN) > data_end)
				break;
			proto = bpf_ntohs(*(__u16 *)(pos + 2));
			pos += VLAN_HLEN;
		}
		key.proto = (__u32)proto << 8;
		if (proto == ETH_P_IP && (void *)(pos + 20) <= data_end)
			key.proto |= pos[9];
		else if (proto == ETH_P_IPV6 && (void *)(pos + 40) <= data_end)
			key.proto |= pos[6];
	}

	__u64 len = bpf_xdp_get_buff_len(ctx);
	struct naive_value value = {.packets = 1, .bytes = len};
	struct naive_value *old = bpf_map_lookup_elem(&naive_counts, &key);
	if (old) {
		value.packets += old->packets;
		value.bytes += old->bytes;
	}
	bpf_map_update_elem(&naive_counts, &key, &value, BPF_ANY);
	return XDP_PASS;
}

char __license[] SEC("license") = "Dual BSD/GPL";
