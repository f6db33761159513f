package receiver_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// TestAuditOnVeths: packet_exporter.audit.difference stays 0 on a veth
// under mixed traffic (TCP through GSO, or GRO-merged, UDP both ways, pings)
// through every hook, and goes up by exactly N when N frames pass while the
// program is detached by hand.
func TestAuditOnVeths(t *testing.T) {
	testenv.RequireRoot(t)
	// The programs' runs, the evidence below, are reported while the kernel
	// collects BPF statistics.
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		testenv.Skip(t, "kernel BPF statistics: %v", err)
	}
	defer stats.Close()
	for _, tc := range []struct {
		name   string
		hook   string
		gro    bool
		detach bool // detach the ingress program by hand and send frames
	}{
		{name: "tcx", hook: config.HookTCX, detach: true},
		{name: "tc", hook: config.HookTC, detach: true},
		{name: "xdp", hook: config.HookXDP},
		{name: "gro", hook: config.HookAuto, gro: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.hook == config.HookTCX {
				requireTCX(t)
			}
			a, b := testenv.NewNetns(t), testenv.NewNetns(t)
			pair := testenv.NewVethPair(t, a, b, testenv.VethOptions{Quiet: true})
			if tc.gro {
				// As in testTCPTransfer: B segments, A's GRO merges.
				testenv.SetOffload(t, b, pair.NameB, unix.ETHTOOL_STSO, false)
				testenv.SetOffload(t, b, pair.NameB, unix.ETHTOOL_SGSO, false)
				testenv.SetOffload(t, a, pair.NameA, unix.ETHTOOL_SGRO, true)
			}
			if tc.hook == config.HookXDP {
				fifo(t, b, pair.NameB)
			}
			recv := startCounting(t, a, pair.NameA, func(c *config.Config) {
				c.Ingress.Hook = tc.hook
				if tc.hook == config.HookTC {
					c.Egress.Hook = config.HookTC
				}
				c.XDP.Mode = config.XDPModeNative
				c.Egress.Enabled = true
			})
			rx := fmt.Sprintf("network.interface.name=%s,network.io.direction=receive", pair.NameA)
			tx := fmt.Sprintf("network.interface.name=%s,network.io.direction=transmit", pair.NameA)
			audit := func() map[string]int64 { return collect(t, recv)[metricdef.AuditDifference.Name] }
			testenv.CompareMaps(t, "the audit's first window", audit(), map[string]int64{rx: 0, tx: 0})

			transferTCP(t, b, a, pair.IPv4A.Addr(), 8<<20)
			sinkA := testtraffic.ListenUDP(t, a, pair.IPv4A.Addr())
			sinkB := testtraffic.ListenUDP(t, b, pair.IPv4B.Addr())
			testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), sinkA.Addr, 50, 100)
			testtraffic.SendUDP(t, a, pair.IPv4A.Addr(), sinkB.Addr, 50, 1400)
			testtraffic.SendEcho(t, a, pair.IPv6A.Addr(), pair.IPv6B.Addr(), 20, 56)
			time.Sleep(200 * time.Millisecond) // the connection's last segments
			points := collectKeys(t, recv, allKeys)
			testenv.CompareMaps(t, "the audit after mixed traffic", points[metricdef.AuditDifference.Name], map[string]int64{rx: 0, tx: 0})
			// Evidence that both sides of the audit's range were met: the
			// ingress program ran once for packets of several segments (GSO
			// packets, or GRO-merged ones), and the device counted socket
			// buffers (veth) or, before GRO, the segments.
			var counted, runs int64
			for key, v := range points[metricdef.NetworkPackets.Name] {
				if strings.Contains(key, "network.io.direction=receive") {
					counted += v
				}
			}
			for key, v := range points[metricdef.ProgramRuns.Name] {
				if strings.Contains(key, "network.io.direction=receive") {
					runs += v
				}
			}
			device := points[metricdef.SystemNetworkPacketCount.Name]["network.io.direction=receive,system.device="+pair.NameA]
			t.Logf("A received %d packets counted in %d runs, %d by the device", counted, runs, device)
			switch {
			case tc.hook == config.HookXDP:
				if runs != counted || device != counted {
					t.Errorf("XDP ran %d times for %d packets, the device counted %d: want all equal", runs, counted, device)
				}
			case runs >= counted:
				t.Errorf("the ingress program ran %d times for %d packets: no packet of several segments", runs, counted)
			case tc.gro && device != counted:
				t.Errorf("the device counted %d packets received, want the %d segments it received before GRO", device, counted)
			case !tc.gro && device != runs:
				t.Errorf("the device counted %d packets received, want the %d socket buffers the program ran for", device, runs)
			}

			if !tc.detach {
				return
			}
			detachByHand(t, a, pair.NameA, pair.IndexA, tc.hook)
			const missed = 40
			testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), sinkA.Addr, missed, 100)
			time.Sleep(100 * time.Millisecond)
			testenv.CompareMaps(t, "the audit after frames passed the detached hook", audit(), map[string]int64{rx: missed, tx: 0})
		})
	}
}

// detachByHand removes the ingress program of interface name (index) in ns
// as an operator would (bpftool link detach, tc filter del), behind the
// exporter's back.
func detachByHand(t *testing.T, ns *testenv.Netns, name string, index int, hook string) {
	t.Helper()
	if hook == config.HookTC {
		if out, err := ns.Exec("tc", "filter", "del", "dev", name, "ingress"); err != nil {
			t.Fatalf("tc filter del: %v\n%s", err, out)
		}
		return
	}
	err := ns.Do(func() error {
		res, err := link.QueryPrograms(link.QueryOptions{Target: index, Attach: ebpf.AttachTCXIngress})
		if err != nil {
			return err
		}
		for _, p := range res.Programs {
			id, ok := p.LinkID()
			if !ok {
				continue
			}
			l, err := link.NewFromID(id)
			if err != nil {
				return err
			}
			err = l.Detach()
			l.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("detach tcx ingress: %v", err)
	}
}
