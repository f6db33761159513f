/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Definitions for the benchmark's own BPF programs (the baselines and the
 * traffic generator): the types, macros, contexts and helpers of
 * bpf/include/base.h, shared with packet-exporter's programs, and the few
 * header constants the baselines parse frames with. Like base.h, nothing
 * comes from the build host's headers, so the generated objects are the same
 * wherever they are built.
 */
#ifndef BENCH_H
#define BENCH_H

#include "../../bpf/include/base.h"

#define ETH_HLEN 14
#define VLAN_HLEN 4
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

#endif /* BENCH_H */
