package testenv

import (
	"errors"
	"fmt"
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
	err := ns.Do(func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		if x := l.Attrs().Xdp; x != nil && x.Attached {
			return fmt.Errorf("xdp program %d still attached to %s", x.ProgId, name)
		}
		for _, attach := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
			res, err := link.QueryPrograms(link.QueryOptions{Target: l.Attrs().Index, Attach: attach})
			if errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EINVAL) {
				break // a kernel without tcx (before 6.6) has no such query
			}
			if err != nil {
				return fmt.Errorf("query %s: %w", attach, err)
			}
			if len(res.Programs) != 0 {
				return fmt.Errorf("%d programs still attached to %s at %s", len(res.Programs), name, attach)
			}
		}
		for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
			filters, err := bpfFilters(l.Attrs().Index, parent)
			if err != nil {
				return fmt.Errorf("list tc filters of %s: %w", name, err)
			}
			if len(filters) > 0 {
				return fmt.Errorf("tc filter %q (program %d) still attached to %s", filters[0].Name, filters[0].Id, name)
			}
		}
		return nil
	})
	if err != nil {
		tb.Error(err)
	}
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
