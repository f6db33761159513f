package bpf

import (
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
)

// TestDropReasonsOf names drop reasons from enums shaped like the kernel's
// before and after SKB_CONSUMED appeared (6.2), and refuses one without
// SKB_NOT_DROPPED_YET.
func TestDropReasonsOf(t *testing.T) {
	enum := func(names ...string) *btf.Enum {
		e := &btf.Enum{Name: "skb_drop_reason", Size: 4}
		for i, n := range names {
			e.Values = append(e.Values, btf.EnumValue{Name: n, Value: uint64(i)})
		}
		return e
	}
	for _, tc := range []struct {
		name     string
		enum     *btf.Enum
		notDrops [2]uint32
		noSocket uint32
		names    map[uint32]string
		err      bool
	}{
		{
			name:     "with SKB_CONSUMED",
			enum:     enum("SKB_NOT_DROPPED_YET", "SKB_CONSUMED", "SKB_DROP_REASON_NOT_SPECIFIED", "SKB_DROP_REASON_NO_SOCKET", "SKB_DROP_REASON_MAX"),
			notDrops: [2]uint32{0, 1},
			noSocket: 3,
			names:    map[uint32]string{2: "not_specified", 3: "no_socket", 4: "unknown_4", 99: "unknown_99"},
		},
		{
			name:     "before SKB_CONSUMED",
			enum:     enum("SKB_NOT_DROPPED_YET", "SKB_DROP_REASON_NOT_SPECIFIED", "SKB_DROP_REASON_NO_SOCKET", "SKB_DROP_REASON_IP_CSUM"),
			notDrops: [2]uint32{0, 0},
			noSocket: 2,
			names:    map[uint32]string{1: "not_specified", 2: "no_socket", 3: "ip_csum"},
		},
		{
			name:     "without NO_SOCKET",
			enum:     enum("SKB_NOT_DROPPED_YET", "SKB_DROP_REASON_NOT_SPECIFIED"),
			notDrops: [2]uint32{0, 0},
			noSocket: 0, // SKB_NOT_DROPPED_YET: never counted
			names:    map[uint32]string{1: "not_specified"},
		},
		{
			name: "no SKB_NOT_DROPPED_YET",
			enum: enum("SKB_DROP_REASON_NOT_SPECIFIED"),
			err:  true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := dropReasonsOf(tc.enum)
			if tc.err {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.notDrops != tc.notDrops {
				t.Errorf("not drops %v, want %v", r.notDrops, tc.notDrops)
			}
			if r.noSocket != tc.noSocket {
				t.Errorf("no_socket %d, want %d", r.noSocket, tc.noSocket)
			}
			for v, want := range tc.names {
				if got := r.Name(v); got != want {
					t.Errorf("Name(%d) = %q, want %q", v, got, want)
				}
			}
		})
	}
}

// TestKernelDropReasons reads the running kernel's reasons: the four the
// drop tests rely on are named, and consumed packets are not drops.
func TestKernelDropReasons(t *testing.T) {
	r, err := LoadDropReasons()
	if err != nil {
		testenv.Skip(t, "kernel without drop reasons: %v", err)
	}
	named := map[string]bool{}
	for _, n := range r.names {
		named[n] = true
	}
	for _, n := range []string{"no_socket", "netfilter_drop", "otherhost", "ip_csum"} {
		if !named[n] {
			t.Errorf("reason %s not named", n)
		}
	}
	if named["consumed"] || named["not_dropped_yet"] {
		t.Error("a free that is not a drop is named as a reason")
	}
}
