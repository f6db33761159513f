package testenv

import (
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// AssertNothingAttached checks that interface name in ns has no XDP program
// and no tcx program on either side.
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
			if err != nil {
				return fmt.Errorf("query %s: %w", attach, err)
			}
			if len(res.Programs) != 0 {
				return fmt.Errorf("%d programs still attached to %s at %s", len(res.Programs), name, attach)
			}
		}
		return nil
	})
	if err != nil {
		tb.Error(err)
	}
}
