package receiver

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/bpf"
)

// The legacy tc filter packet-exporter adds to an interface's clsact qdisc.
// Priority 1 runs before filters at higher numbers, so that, like the head of
// a tcx chain, it sees every frame of the hook; the program returns
// TC_ACT_UNSPEC (the value of TCX_NEXT), which hands the frame on to the next
// filter with its verdict unchanged. The name finds filters a killed
// packet-exporter left behind (legacy filters are not owned by a process).
const (
	tcFilterPriority = 1
	tcFilterHandle   = 0x70650001
	tcFilterName     = "packet-exporter"
)

// attachedProgram is what keeps a program attached to an interface: a BPF
// link (XDP, tcx) or a legacy tc filter.
type attachedProgram interface {
	// Close detaches the program.
	Close() error
	// Ifindex returns the interface the program is attached to, or 0 when
	// it is no longer attached.
	Ifindex() int
	// Update attaches prog (kernel ID id) in place of the program, at once.
	Update(prog *ebpf.Program, id uint32) error
	// Release lets go of the program, leaving it attached (persistence): a
	// pinned link stays, as does a legacy tc filter.
	Release() error
}

// bpfLink is an XDP or tcx link.
type bpfLink struct{ link.Link }

func (l bpfLink) Ifindex() int {
	info, err := l.Info()
	if err != nil {
		return 0
	}
	return infoIfindex(info)
}

// infoIfindex returns the interface of an XDP or tcx link, 0 for others.
func infoIfindex(info *link.Info) int {
	if x := info.XDP(); x != nil {
		return int(x.Ifindex)
	}
	if x := info.TCX(); x != nil {
		return int(x.Ifindex)
	}
	return 0
}

// Close detaches the program, unpinning its link first if it is pinned.
func (l bpfLink) Close() error {
	if err := l.Unpin(); err != nil {
		return fmt.Errorf("unpin link: %w", err)
	}
	return l.Link.Close()
}

// Release closes the link's descriptor: pinned, it stays attached.
func (l bpfLink) Release() error { return l.Link.Close() }

// Update swaps the link's program atomically.
func (l bpfLink) Update(prog *ebpf.Program, _ uint32) error {
	if err := l.Link.Update(prog); err != nil {
		return fmt.Errorf("update link: %w", err)
	}
	return nil
}

// tcFilter is a legacy tc filter of packet-exporter's on one interface and
// direction, managed through the receiver's netlink handle.
type tcFilter struct {
	nl        *netlink.Handle
	attrs     netlink.FilterAttrs
	programID uint32
}

// attachTCFilter attaches prog (kernel ID progID) to interface index in direction d through
// legacy tc. It creates a clsact qdisc only where the interface has none, and
// replaces (never doubles) a filter of a previous packet-exporter: the one at
// its own priority and handle atomically, others of its name by deletion. A
// filter of another name at its priority and handle is left alone: the
// attachment fails as busy.
func attachTCFilter(nl *netlink.Handle, index int, d bpf.Direction, prog *ebpf.Program, progID uint32) (*tcFilter, error) {
	if err := ensureClsact(nl, index); err != nil {
		return nil, err
	}
	attrs := netlink.FilterAttrs{
		LinkIndex: index,
		Parent:    tcParent(d),
		Handle:    tcFilterHandle,
		Priority:  tcFilterPriority,
		Protocol:  unix.ETH_P_ALL,
	}
	f := &tcFilter{nl: nl, attrs: attrs, programID: progID}
	existing, err := f.list()
	if err != nil {
		return nil, err
	}
	var leftovers []*netlink.BpfFilter
	for _, other := range existing {
		ours := other.Name == tcFilterName
		switch {
		case f.holds(other) && !ours:
			return nil, fmt.Errorf("%w: tc filter %q holds priority %d handle %#x", unix.EBUSY, other.Name, other.Priority, other.Handle)
		case ours && !f.holds(other):
			leftovers = append(leftovers, other)
		}
	}
	filter := &netlink.BpfFilter{FilterAttrs: attrs, Fd: prog.FD(), Name: tcFilterName, DirectAction: true}
	if err := nl.FilterReplace(filter); err != nil {
		return nil, fmt.Errorf("add tc filter: %w", err)
	}
	var errs []error
	for _, l := range leftovers {
		if err := nl.FilterDel(l); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("remove left-over tc filter prio %d handle %#x: %w", l.Priority, l.Handle, err))
		}
	}
	return f, errors.Join(errs...)
}

// tcParent is the clsact hook of direction d.
func tcParent(d bpf.Direction) uint32 {
	if d == bpf.Receive {
		return netlink.HANDLE_MIN_INGRESS
	}
	return netlink.HANDLE_MIN_EGRESS
}

// ensureClsact adds a clsact qdisc to interface index unless it has one.
func ensureClsact(nl *netlink.Handle, index int) error {
	qdiscs, err := nl.QdiscList(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: index}})
	if err != nil {
		return fmt.Errorf("list qdiscs: %w", err)
	}
	for _, q := range qdiscs {
		if q.Attrs().Parent == netlink.HANDLE_CLSACT {
			if q.Type() != "clsact" {
				// An ingress qdisc holds the same place and has no egress hook.
				return fmt.Errorf("%w: the interface has a %s qdisc, not clsact", unix.EBUSY, q.Type())
			}
			return nil
		}
	}
	clsact := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := nl.QdiscAdd(clsact); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add clsact qdisc: %w", err)
	}
	return nil
}

func (f *tcFilter) list() ([]*netlink.BpfFilter, error) {
	filters, err := f.nl.FilterList(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: f.attrs.LinkIndex}}, f.attrs.Parent)
	if err != nil {
		return nil, fmt.Errorf("list tc filters: %w", err)
	}
	var out []*netlink.BpfFilter
	for _, other := range filters {
		if bf, ok := other.(*netlink.BpfFilter); ok {
			out = append(out, bf)
		}
	}
	return out, nil
}

// holds reports whether other sits at f's priority and handle.
func (f *tcFilter) holds(other *netlink.BpfFilter) bool {
	return other.Priority == f.attrs.Priority && other.Handle == f.attrs.Handle
}

// Update replaces the filter with one running prog, at the same priority
// and handle (the kernel swaps it in place).
func (f *tcFilter) Update(prog *ebpf.Program, id uint32) error {
	filter := &netlink.BpfFilter{FilterAttrs: f.attrs, Fd: prog.FD(), Name: tcFilterName, DirectAction: true}
	if err := f.nl.FilterReplace(filter); err != nil {
		return fmt.Errorf("replace tc filter: %w", err)
	}
	f.programID = id
	return nil
}

// Close removes the filter if it still holds this program; a vanished
// interface has taken it along.
func (f *tcFilter) Close() error {
	if f.Ifindex() == 0 {
		return nil
	}
	if err := f.nl.FilterDel(&netlink.BpfFilter{FilterAttrs: f.attrs}); err != nil &&
		!errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("remove tc filter: %w", err)
	}
	return nil
}

// Release leaves the filter in place: legacy tc filters are not owned by a
// process, and the next run replaces it (attachTCFilter).
func (f *tcFilter) Release() error { return nil }

// Ifindex returns the filter's interface while it holds this program, else 0.
func (f *tcFilter) Ifindex() int {
	filters, err := f.list()
	if err != nil {
		return 0
	}
	for _, other := range filters {
		if f.holds(other) && uint32(other.Id) == f.programID {
			return f.attrs.LinkIndex
		}
	}
	return 0
}
