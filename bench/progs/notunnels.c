// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/*
 * packet-exporter's programs without the tunnel code, rebuilt from its own
 * source for side-by-side measurement: what finding tunnels costs frames
 * that carry none, against the programs before it existed.
 */

#define PE_TUNNELS 0

#include "../../bpf/counter.c"
