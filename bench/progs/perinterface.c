// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/*
 * The design one program for every interface replaced, rebuilt from
 * packet-exporter's own source for side-by-side measurement: an instance per
 * interface (and direction) with its counter block baked in as a read-only
 * constant, found without any lookup, and no run counting (the kernel's
 * statistics were per instance, so per interface). Everything else, the
 * parser and the counting, is the product's code.
 */

volatile const unsigned int pe_fixed_block = 0;

#define PE_BLOCK_OF(ifindex, dir) pe_fixed_block
#define PE_RUN_START() 0
#define PE_RUN_END(block, start) ((void)(start))

#include "../../bpf/counter.c"
