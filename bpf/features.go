package bpf

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
)

// Kernel features the programs and their attachment depend on, the names
// of packet_exporter.kernel.features.
const (
	// FeatureTCX: tcx links (Linux 6.6); without them tc hooks use legacy tc.
	FeatureTCX = "tcx"
	// FeatureXDPFrags: XDP multi-buffer programs (5.18); without it the XDP
	// program is loaded without frags support.
	FeatureXDPFrags = "xdp_frags"
	// FeatureRingBuf: BPF ring buffers (5.8), for the event stream.
	FeatureRingBuf = "ringbuf"
	// FeatureBatchOps: batch map operations on arrays (5.6); without them
	// counters are read one element at a time.
	FeatureBatchOps = "batch_ops"
	// FeatureLinks: BPF links for XDP (5.9), needed by ingress.hook xdp.
	FeatureLinks = "bpf_links"
	// FeatureBTF: the kernel's own BTF (/sys/kernel/btf/vmlinux).
	FeatureBTF = "btf"
)

// Feature is the result of probing one kernel feature.
type Feature struct {
	// Name is one of the Feature* constants.
	Name string
	// Err is nil when the kernel has the feature.
	Err error
}

// Available reports whether the kernel has the feature.
func (f Feature) Available() bool { return f.Err == nil }

// Features are the results of ProbeFeatures.
type Features []Feature

// Has reports whether the kernel has the feature of that name.
func (fs Features) Has(name string) bool {
	return slices.ContainsFunc(fs, func(f Feature) bool { return f.Name == name && f.Available() })
}

// ProbeFeatures asks the running kernel for each feature, in a fixed order. A
// probe failing for another reason (e.g. no permission) reports that error.
func ProbeFeatures() Features {
	return Features{
		{FeatureTCX, probeLink(ebpf.SchedCLS, -1, func(prog *ebpf.Program) (link.Link, error) {
			return link.AttachTCX(link.TCXOptions{Program: prog, Attach: ebpf.AttachTCXIngress, Interface: 0})
		})},
		{FeatureXDPFrags, xdpFragsErr()},
		{FeatureRingBuf, features.HaveMapType(ebpf.RingBuf)},
		{FeatureBatchOps, probeBatchOps()},
		{FeatureLinks, probeLink(ebpf.XDP, 2, func(prog *ebpf.Program) (link.Link, error) {
			return link.AttachXDP(link.XDPOptions{Program: prog, Interface: 0})
		})},
		{FeatureBTF, probeBTF()},
	}
}

// probeLink attaches a trivial program of type t, returning ret, to
// interface 0 with attach, which cannot succeed: the library then tells a
// missing link type (ErrNotSupported) from the missing interface.
func probeLink(t ebpf.ProgramType, ret int32, attach func(*ebpf.Program) (link.Link, error)) error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         t,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, ret), asm.Return()},
	})
	if err != nil {
		return fmt.Errorf("load probe: %w", err)
	}
	defer prog.Close()
	l, err := attach(prog)
	if errors.Is(err, ebpf.ErrNotSupported) {
		return err
	}
	if err == nil {
		l.Close()
	}
	return nil
}

// probeBatchOps updates a one-element array in a batch.
func probeBatchOps() error {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		return fmt.Errorf("create probe map: %w", err)
	}
	defer m.Close()
	_, err = m.BatchUpdate([]uint32{0}, []uint32{1}, nil)
	return err
}

func probeBTF() error {
	_, err := btf.LoadKernelSpec()
	return err
}
