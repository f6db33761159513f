package testenv

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// AssertNothingAttached checks that interface name in ns has no XDP program,
// no tcx program and no legacy tc BPF filter on either side.
func AssertNothingAttached(tb testing.TB, ns *Netns, name string) {
	tb.Helper()
	if attached := Attached(tb, ns, name); len(attached) > 0 {
		tb.Errorf("still attached to %s: %s", name, strings.Join(attached, ", "))
	}
}

// Attached describes the BPF programs attached to interface name in ns: its
// XDP program, its tcx programs and its legacy tc BPF filters, one entry
// each ("xdp program 12", "tcx_ingress program 13", "tc filter NAME
// (program 14)").
func Attached(tb testing.TB, ns *Netns, name string) []string {
	tb.Helper()
	var out []string
	err := ns.Do(func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		if x := l.Attrs().Xdp; x != nil && x.Attached {
			out = append(out, fmt.Sprintf("xdp program %d", x.ProgId))
		}
		for _, attach := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
			res, err := link.QueryPrograms(link.QueryOptions{Target: l.Attrs().Index, Attach: attach})
			if errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EINVAL) {
				break // a kernel without tcx (before 6.6) has no such query
			}
			if err != nil {
				return fmt.Errorf("query %s: %w", attach, err)
			}
			for _, p := range res.Programs {
				out = append(out, fmt.Sprintf("%s program %d", attach, p.ID))
			}
		}
		for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
			filters, err := bpfFilters(l.Attrs().Index, parent)
			if err != nil {
				return fmt.Errorf("list tc filters of %s: %w", name, err)
			}
			for _, f := range filters {
				out = append(out, fmt.Sprintf("tc filter %q (program %d)", f.Name, f.Id))
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("testenv: programs attached to %s in %s: %v", name, ns.Name, err)
	}
	return out
}

// BPFFilters lists the BPF filters of interface index in ns at clsact parent
// (netlink.HANDLE_MIN_INGRESS or HANDLE_MIN_EGRESS).
func BPFFilters(tb testing.TB, ns *Netns, index int, parent uint32) []*netlink.BpfFilter {
	tb.Helper()
	var out []*netlink.BpfFilter
	if err := ns.Do(func() error {
		var err error
		out, err = bpfFilters(index, parent)
		return err
	}); err != nil {
		tb.Fatalf("list tc filters of interface %d in %s: %v", index, ns.Name, err)
	}
	return out
}

// bpfFilters is BPFFilters in the calling thread's namespace.
func bpfFilters(index int, parent uint32) ([]*netlink.BpfFilter, error) {
	filters, err := netlink.FilterList(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: index}}, parent)
	if err != nil {
		return nil, err
	}
	var out []*netlink.BpfFilter
	for _, f := range filters {
		if bf, ok := f.(*netlink.BpfFilter); ok {
			out = append(out, bf)
		}
	}
	return out, nil
}
