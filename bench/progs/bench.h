/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Minimal definitions for the benchmark's own BPF programs (the baselines and
 * the traffic generator): fixed-width types, the UAPI context structs, section
 * and map macros, and the helpers used, by their fixed UAPI numbers. Like
 * bpf/include/base.h, nothing comes from the build host's headers, so the
 * generated objects are the same wherever they are built.
 */
#ifndef BENCH_H
#define BENCH_H

typedef __UINT8_TYPE__ __u8;
typedef __UINT16_TYPE__ __u16;
typedef __UINT32_TYPE__ __u32;
typedef __UINT64_TYPE__ __u64;

#define SEC(name) __attribute__((section(name), used))
#define __always_inline inline __attribute__((always_inline))
#define __uint(name, val) int(*name)[val]
#define __type(name, val) typeof(val) *name

#define bpf_ntohs(x) __builtin_bswap16(x)

/* Map types, flags and verdicts (include/uapi/linux/bpf.h). */
#define BPF_MAP_TYPE_ARRAY 2
#define BPF_MAP_TYPE_PERF_EVENT_ARRAY 4
#define BPF_MAP_TYPE_PERCPU_HASH 5
#define BPF_MAP_TYPE_PERCPU_ARRAY 6
#define BPF_ANY 0
#define BPF_F_CURRENT_CPU 0xffffffffULL
#define XDP_DROP 1
#define XDP_PASS 2
#define XDP_TX 3
#define TCX_NEXT (-1)

#define ETH_HLEN 14
#define VLAN_HLEN 4
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

/* Context of XDP programs: UAPI struct xdp_md. */
struct xdp_md {
	__u32 data;
	__u32 data_end;
	__u32 data_meta;
	__u32 ingress_ifindex;
	__u32 rx_queue_index;
	__u32 egress_ifindex;
};

/* Context of tc programs: only passed through, never read. */
struct __sk_buff;

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) = (void *)2;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)5;
static long (*bpf_perf_event_output)(void *ctx, void *map, __u64 flags, void *data, __u64 size) = (void *)25;
static __u64 (*bpf_xdp_get_buff_len)(struct xdp_md *xdp_md) = (void *)188;

#endif /* BENCH_H */
