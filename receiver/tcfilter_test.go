package receiver_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// legacyTC makes a receiver count both directions through legacy tc.
func legacyTC(c *config.Config) {
	c.Ingress.Hook, c.Egress.Hook = config.HookTC, config.HookTC
}

// tcProgram loads a SchedCLS program that returns verdict.
func tcProgram(t *testing.T, verdict int32) *ebpf.Program {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SchedCLS, License: "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, verdict), asm.Return()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	return prog
}

// addClsact gives interface index in ns a clsact qdisc.
func addClsact(t *testing.T, ns *testenv.Netns, index int) {
	t.Helper()
	if err := ns.Do(func() error {
		return netlink.QdiscAdd(&netlink.GenericQdisc{QdiscType: "clsact", QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}})
	}); err != nil {
		t.Fatal(err)
	}
}

// addFilter adds a direct-action BPF filter running prog to the clsact
// parent of interface index in ns.
func addFilter(t *testing.T, ns *testenv.Netns, index int, parent uint32, prio uint16, handle uint32, name string, prog *ebpf.Program) {
	t.Helper()
	if err := ns.Do(func() error {
		return netlink.FilterAdd(&netlink.BpfFilter{FilterAttrs: netlink.FilterAttrs{LinkIndex: index, Parent: parent,
			Priority: prio, Handle: handle, Protocol: unix.ETH_P_ALL}, Fd: prog.FD(), Name: name, DirectAction: true})
	}); err != nil {
		t.Fatalf("add filter %s prio %d: %v", name, prio, err)
	}
}

// hasClsact reports whether interface index in ns has a clsact qdisc.
func hasClsact(t *testing.T, ns *testenv.Netns, index int) bool {
	t.Helper()
	found := false
	if err := ns.Do(func() error {
		qdiscs, err := netlink.QdiscList(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: index}})
		for _, q := range qdiscs {
			found = found || q.Type() == "clsact"
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return found
}

// TestLegacyTCForeignFilterKeepsVerdict puts a filter that drops every frame
// on the clsact qdisc before the receiver starts, at a priority after
// packet-exporter's and at the same one: the receiver counts the frames, the
// other filter still drops them, and after the receiver is closed the other
// filter and the qdisc, which the receiver did not create, are still there.
func TestLegacyTCForeignFilterKeepsVerdict(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tc := range []struct {
		name   string
		prio   uint16
		handle uint32
	}{{"after", 2, 1}, {"same priority", 1, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			a, _, pair := testenv.NewNetnsPair(t, testenv.VethOptions{DisableOffloads: true, Quiet: true})
			addClsact(t, a, pair.IndexA)
			addFilter(t, a, pair.IndexA, netlink.HANDLE_MIN_INGRESS, tc.prio, tc.handle, "foreign-drop", tcProgram(t, 2 /* TC_ACT_SHOT */))
			recv := startIn(t, a, legacyTC)

			assertCountedButDropped(t, recv, pair)

			if err := recv.Close(); err != nil {
				t.Fatal(err)
			}
			left := testenv.BPFFilters(t, a, pair.IndexA, netlink.HANDLE_MIN_INGRESS)
			if len(left) != 1 || left[0].Name != "foreign-drop" || left[0].Priority != tc.prio {
				t.Errorf("filters after close: %+v, want only the foreign one", left)
			}
			if !hasClsact(t, a, pair.IndexA) {
				t.Error("the clsact qdisc the receiver did not create is gone")
			}
		})
	}
}

// TestLegacyTCReplacesLeftovers starts a receiver where a killed
// packet-exporter left its filters (at packet-exporter's priority and handle,
// and at another priority): each hook then holds exactly one packet-exporter
// filter, the new receiver's, and traffic counts once. Close removes it.
func TestLegacyTCReplacesLeftovers(t *testing.T) {
	testenv.RequireRoot(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{DisableOffloads: true, Quiet: true})
	addClsact(t, a, pair.IndexA)
	stale := tcProgram(t, -1 /* TC_ACT_UNSPEC */)
	parents := []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS}
	for _, parent := range parents {
		addFilter(t, a, pair.IndexA, parent, 1, 0x70650001, "packet-exporter", stale)
		addFilter(t, a, pair.IndexA, parent, 7, 0x70650001, "packet-exporter", stale)
	}
	recv := startIn(t, a, legacyTC)

	attached := collect(t, recv)[metricdef.InterfaceAttached.Name]
	for _, parent := range parents {
		filters := testenv.BPFFilters(t, a, pair.IndexA, parent)
		if len(filters) != 1 {
			t.Fatalf("parent %#x: %d filters, want 1: %+v", parent, len(filters), filters)
		}
		f := filters[0]
		if f.Name != "packet-exporter" || f.Priority != 1 || f.Handle != 0x70650001 || !f.DirectAction {
			t.Errorf("parent %#x: filter %+v", parent, f)
		}
		if info, err := stale.Info(); err == nil {
			if id, _ := info.ID(); uint32(id) == uint32(f.Id) {
				t.Errorf("parent %#x still runs the left-over program %d", parent, f.Id)
			}
		}
	}
	for _, d := range []string{"receive", "transmit"} {
		if key := fmt.Sprintf("hook=tc,network.interface.name=%s,network.io.direction=%s", pair.NameA, d); attached[key] != 1 {
			t.Errorf("attached %v lacks %s", attached, key)
		}
	}

	sink := testtraffic.ListenUDP(t, a, pair.IPv4A.Addr())
	testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), sink.Addr, 9, 30)
	waitFor(t, 2*time.Second, "9 datagrams counted", func() bool { n, _ := udpReceived(t, recv, pair.NameA); return n == 9 })
	time.Sleep(100 * time.Millisecond)
	if n, _ := udpReceived(t, recv, pair.NameA); n != 9 {
		t.Errorf("%d datagrams counted, want 9", n)
	}

	if err := recv.Close(); err != nil {
		t.Fatal(err)
	}
	testenv.AssertNothingAttached(t, a, pair.NameA)
	if !hasClsact(t, a, pair.IndexA) {
		t.Error("the clsact qdisc the receiver did not create is gone")
	}
}

// TestLegacyTCCreatesClsact checks that the receiver adds a clsact qdisc to an
// interface that has none, and leaves nothing of its own attached on close.
func TestLegacyTCCreatesClsact(t *testing.T) {
	testenv.RequireRoot(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{DisableOffloads: true, Quiet: true})
	if hasClsact(t, a, pair.IndexA) {
		t.Fatal("a new veth already has a clsact qdisc")
	}
	recv := startIn(t, a, legacyTC)
	if !hasClsact(t, a, pair.IndexA) {
		t.Error("no clsact qdisc after attaching through legacy tc")
	}
	sink := testtraffic.ListenUDP(t, a, pair.IPv4A.Addr())
	testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), sink.Addr, 4, 30)
	waitFor(t, 2*time.Second, "4 datagrams counted", func() bool { n, _ := udpReceived(t, recv, pair.NameA); return n == 4 })
	if err := recv.Close(); err != nil {
		t.Fatal(err)
	}
	testenv.AssertNothingAttached(t, a, pair.NameA)
}

// TestLegacyTCForeignFilterAtOurHandle puts another program's filter at the
// priority and handle packet-exporter uses: the receiver leaves it in place
// and skips the interface as busy instead of replacing it.
func TestLegacyTCForeignFilterAtOurHandle(t *testing.T) {
	testenv.RequireRoot(t)
	a, _, pair := testenv.NewNetnsPair(t, testenv.VethOptions{DisableOffloads: true, Quiet: true})
	addClsact(t, a, pair.IndexA)
	addFilter(t, a, pair.IndexA, netlink.HANDLE_MIN_INGRESS, 1, 0x70650001, "someone-else", tcProgram(t, -1))
	recv := startIn(t, a, legacyTC)

	points := collect(t, recv)
	skip := fmt.Sprintf("error.type=hook_busy,network.interface.name=%s", pair.NameA)
	if points[metricdef.InterfaceSkipped.Name][skip] != 1 {
		t.Errorf("skipped %v, want %s", points[metricdef.InterfaceSkipped.Name], skip)
	}
	if recv.Ready() {
		t.Error("ready with a selected interface not counted")
	}
	left := testenv.BPFFilters(t, a, pair.IndexA, netlink.HANDLE_MIN_INGRESS)
	if len(left) != 1 || left[0].Name != "someone-else" {
		t.Errorf("ingress filters %+v, want only the other program's", left)
	}
}
