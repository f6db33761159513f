package bench

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	dto "github.com/prometheus/client_model/go"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
	tf "github.com/packet-exporter/packet-exporter/internal/testing/testframe"
)

// trafficFrame is what the generator sends: IPv4/UDP, 64 bytes, to a MAC
// address that is not the receiver's, so that the stack above the hook drops
// it at once (PACKET_OTHERHOST) and sends nothing back.
var trafficFrame = tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{}, UDP: &tf.UDP{SrcPort: 40000, DstPort: 9}, Length: 64})

// xdpMD is the UAPI struct xdp_md, the context of an XDP test run.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// generator sends frames out of a veth end with BPF_F_TEST_XDP_LIVE_FRAMES.
type generator struct {
	objs    GeneratorObjects
	ns      *testenv.Netns
	ifindex int
	frame   []byte
	prog    *ebpf.Program // generator_tx, or generator_paced (see pace)
}

// newGenerator loads the generator for the veth end ifindex of namespace ns.
func newGenerator(tb testing.TB, ns *testenv.Netns, ifindex int, frame []byte) *generator {
	tb.Helper()
	g := &generator{ns: ns, ifindex: ifindex, frame: frame}
	if err := LoadGeneratorObjects(&g.objs, nil); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { g.objs.Close() })
	g.prog = g.objs.GeneratorTx
	return g
}

// pace makes each CPU of the next sends send perCPU frames per second
// (generator_paced: one frame per interval, the other runs dropped), or as
// many as it can with 0 (generator_tx). It returns the rate per CPU the
// interval, a whole number of nanoseconds, stands for.
func (g *generator) pace(tb testing.TB, perCPU float64) float64 {
	tb.Helper()
	if perCPU <= 0 {
		g.prog = g.objs.GeneratorTx
		return 0
	}
	interval := uint64(math.Round(1e9 / perCPU))
	if interval == 0 {
		interval = 1
	}
	if err := g.objs.GeneratorInterval.Put(uint32(0), interval); err != nil {
		tb.Fatalf("set the generator's interval: %v", err)
	}
	g.prog = g.objs.GeneratorPaced
	return 1e9 / float64(interval)
}

// sent returns the frames the generator has sent so far, summed over CPUs.
func (g *generator) sent(tb testing.TB) uint64 {
	tb.Helper()
	var perCPU []uint64
	if err := g.objs.GeneratorSent.Lookup(uint32(0), &perCPU); err != nil {
		tb.Fatal(err)
	}
	var n uint64
	for _, v := range perCPU {
		n += v
	}
	return n
}

// send runs the generator on each of cpus at once, repeat frames per call,
// calling again on each CPU until until (if not zero) has passed. It returns
// the frames sent (counted by the generator itself) and the wall time.
func (g *generator) send(tb testing.TB, cpus []int, repeat uint32, until time.Time) (uint64, time.Duration) {
	tb.Helper()
	before := g.sent(tb)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(cpus))
	for i, cpu := range cpus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The test run must happen in the veth's namespace (the context's
			// ifindex is resolved there), on one CPU.
			errs[i] = g.ns.Do(func() error {
				return withThreadOnCPU(cpu, func() error {
					for {
						_, err := g.prog.Run(&ebpf.RunOptions{
							Data:      g.frame,
							Repeat:    repeat,
							Flags:     unix.BPF_F_TEST_XDP_LIVE_FRAMES,
							BatchSize: 64,
							Context:   xdpMD{DataEnd: uint32(len(g.frame)), IngressIfindex: uint32(g.ifindex)},
						})
						if err != nil || until.IsZero() || time.Now().After(until) {
							return err
						}
					}
				})
			})
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		tb.Fatalf("generator: %v", err)
	}
	return g.sent(tb) - before, elapsed
}

// linkStats returns the kernel's counters of link name in ns.
func linkStats(tb testing.TB, ns *testenv.Netns, name string) netlink.LinkStatistics {
	tb.Helper()
	var s netlink.LinkStatistics
	err := ns.Do(func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		if l.Attrs().Statistics == nil {
			return fmt.Errorf("no statistics for %s", name)
		}
		s = *l.Attrs().Statistics
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// waitRxSettled waits until the rx_packets counter of link name in ns stops
// moving (the receiving side may still be processing the last frames sent),
// at most one second.
func waitRxSettled(tb testing.TB, ns *testenv.Netns, name string) netlink.LinkStatistics {
	tb.Helper()
	last := linkStats(tb, ns, name)
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		s := linkStats(tb, ns, name)
		if s.RxPackets == last.RxPackets {
			return s
		}
		last = s
	}
	return last
}

// tcxIngressProgramOf returns the one program attached at tcx ingress of
// interface ifindex in ns, or nil if there is none.
func tcxIngressProgramOf(tb testing.TB, ns *testenv.Netns, ifindex int) *ebpf.Program {
	tb.Helper()
	var res *link.QueryResult
	err := ns.Do(func() error {
		var err error
		res, err = link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: ebpf.AttachTCXIngress})
		return err
	})
	if err != nil {
		tb.Fatalf("query tcx ingress: %v", err)
	}
	switch len(res.Programs) {
	case 0:
		return nil
	case 1:
	default:
		tb.Fatalf("%d programs at tcx ingress, want one", len(res.Programs))
	}
	prog, err := ebpf.NewProgramFromID(res.Programs[0].ID)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { prog.Close() })
	return prog
}

// programStats returns the kernel's run count and run time of prog.
func programStats(tb testing.TB, prog *ebpf.Program) (runs uint64, runtime time.Duration) {
	tb.Helper()
	s, err := prog.Stats()
	if err != nil {
		tb.Fatal(err)
	}
	return s.RunCount, s.Runtime
}

// setGRO turns generic receive offload of link name in ns on or off. A veth
// end accepts frames redirected to it by XDP only with NAPI on, which it
// turns on for an XDP program or for GRO: the no-program baseline needs GRO.
func setGRO(tb testing.TB, ns *testenv.Netns, name string, on bool) {
	tb.Helper()
	var data uint32
	if on {
		data = 1
	}
	if _, err := ethtool(ns, name, unix.ETHTOOL_SGRO, data); err != nil {
		tb.Fatalf("ethtool set gro=%v on %s: %v", on, name, err)
	}
}

// offloadOn returns whether the offload feature that the ethtool get command
// cmd (unix.ETHTOOL_GTSO, ETHTOOL_GGSO, ETHTOOL_GGRO...) reads is on for link
// name in ns.
func offloadOn(tb testing.TB, ns *testenv.Netns, name string, cmd uint32) bool {
	tb.Helper()
	v, err := ethtool(ns, name, cmd, 0)
	if err != nil {
		tb.Fatalf("ethtool command %#x on %s: %v", cmd, name, err)
	}
	return v != 0
}

// ethtool issues one legacy ethtool request with a struct ethtool_value
// argument (cmd and data) for link name in ns, and returns the data the
// kernel leaves in it.
func ethtool(ns *testenv.Netns, name string, cmd, data uint32) (uint32, error) {
	value := struct{ cmd, data uint32 }{cmd: cmd, data: data}
	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		// struct ifreq: the name, then a pointer to the ethtool request.
		var ifr struct {
			name [unix.IFNAMSIZ]byte
			data unsafe.Pointer
			_    [24 - unsafe.Sizeof(uintptr(0))]byte
		}
		copy(ifr.name[:], name)
		ifr.data = unsafe.Pointer(&value)
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
		runtime.KeepAlive(&value)
		if errno != 0 {
			return errno
		}
		return nil
	})
	return value.data, err
}

// counted is what an exporter reports for one interface and direction.
type counted struct {
	packets, bytes         uint64
	tcp4Packets, tcp4Bytes uint64 // the series of network_type ipv4, network_transport tcp
	// hook and mode are the labels of the direction's
	// packet_exporter_interface_attached series whose value is 1: "xdp" and
	// "native" or "generic", "tcx" and "" (tcx has no mode); both "" when
	// nothing is attached.
	hook, mode string
}

// attachment names a hook and mode as the report shows them: "xdp-native",
// "xdp-generic", "tcx", or "none".
func (c counted) attachment() string {
	switch {
	case c.hook == "":
		return "none"
	case c.mode == "":
		return c.hook
	default:
		return c.hook + "-" + c.mode
	}
}

// parseCounts sums the packets and bytes series of interface iface and
// direction in a Prometheus text exposition.
func parseCounts(tb testing.TB, body io.Reader, iface, direction string) counted {
	tb.Helper()
	return countsOf(parseFamilies(tb, body), iface, direction)
}

// parseFamilies parses a Prometheus text exposition.
func parseFamilies(tb testing.TB, body io.Reader) []*dto.MetricFamily {
	tb.Helper()
	families, err := testexporter.Parse(body)
	if err != nil {
		tb.Fatal(err)
	}
	return slices.Collect(maps.Values(families))
}

// countsOf sums the packets and bytes series of interface iface and
// direction in gathered metric families.
func countsOf(families []*dto.MetricFamily, iface, direction string) counted {
	var c counted
	for _, family := range families {
		name := family.GetName()
		for _, m := range family.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["network_interface_name"] != iface || labels["network_io_direction"] != direction {
				continue
			}
			tcp4 := labels["network_type"] == "ipv4" && labels["network_transport"] == "tcp"
			switch name {
			case "packet_exporter_network_packets_total":
				v := uint64(m.GetCounter().GetValue())
				c.packets += v
				if tcp4 {
					c.tcp4Packets += v
				}
			case "packet_exporter_network_io_bytes_total":
				v := uint64(m.GetCounter().GetValue())
				c.bytes += v
				if tcp4 {
					c.tcp4Bytes += v
				}
			case "packet_exporter_interface_attached":
				if m.GetGauge().GetValue() == 1 {
					c.hook, c.mode = labels["hook"], labels["mode"]
				}
			}
		}
	}
	return c
}
