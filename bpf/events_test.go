package bpf_test

import (
	"errors"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	tf "github.com/packet-exporter/packet-exporter/internal/testing/testframe"
)

// eventFixture loads both programs with the event stream on.
type eventFixture struct {
	maps    *bpf.Maps
	xdp, tc *ebpf.Program
	ring    *ringbuf.Reader
	reader  *bpf.Reader
}

func newEventFixture(tb testing.TB, opts bpf.EventOptions) *eventFixture {
	tb.Helper()
	testenv.RequireRoot(tb)
	opts.Enabled = true
	maps, err := bpf.NewMaps(fixtureSlots, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { maps.Close() })
	f := &eventFixture{maps: maps}
	if err := maps.MapInterface(loopback, testSlot); err != nil {
		tb.Fatal(err)
	}
	if f.xdp, err = maps.XDP(); err != nil {
		tb.Fatal(err)
	}
	if f.tc, err = maps.TC(bpf.Transmit); err != nil {
		tb.Fatal(err)
	}
	if f.ring, err = ringbuf.NewReader(maps.Events); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.ring.Close() })
	if f.reader, err = bpf.NewReader(maps); err != nil {
		tb.Fatal(err)
	}
	return f
}

// drain returns every record in the ring, decoded.
func (f *eventFixture) drain(tb testing.TB) []bpf.Event {
	tb.Helper()
	var out []bpf.Event
	f.ring.SetDeadline(time.Now())
	for {
		rec, err := f.ring.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
		var e bpf.Event
		if err := bpf.DecodeEvent(rec.RawSample, &e); err != nil {
			tb.Fatal(err)
		}
		out = append(out, e)
	}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestEventRecords checks every field of the records both programs write.
func TestEventRecords(t *testing.T) {
	f := newEventFixture(t, bpf.EventOptions{SampleRate: 1, RingSize: 1 << 16})
	v4 := func(src, dst string) *tf.IPv4 { return &tf.IPv4{Src: addr(src), Dst: addr(dst)} }
	v6 := func(src, dst string) *tf.IPv6 { return &tf.IPv6{Src: addr(src), Dst: addr(dst)} }
	tcp := &tf.TCP{SrcPort: 40001, DstPort: 443, Flags: 0x02}
	cases := []struct {
		name  string
		frame tf.Frame
		cut   int // if > 0, truncate the frame to this length
		want  bpf.Event
	}{
		{"ipv4 udp", tf.Frame{IPv4: v4("192.0.2.10", "198.51.100.20"), UDP: &tf.UDP{SrcPort: 5353, DstPort: 53}, Payload: payload}, 0,
			bpf.Event{Src: addr("192.0.2.10"), Dst: addr("198.51.100.20"), SrcPort: 5353, DstPort: 53, HasPorts: true}},
		{"ipv4 tcp vlan", tf.Frame{VLANs: []tf.VLAN{q(42)}, IPv4: v4("10.0.0.1", "10.0.0.2"), TCP: tcp}, 0,
			bpf.Event{VLAN: 42, Src: addr("10.0.0.1"), Dst: addr("10.0.0.2"), SrcPort: 40001, DstPort: 443, HasPorts: true}},
		{"qinq ipv6 sctp", tf.Frame{VLANs: []tf.VLAN{ad(7), q(99)}, IPv6: v6("2001:db8::a", "2001:db8::b"), SCTP: &tf.SCTP{SrcPort: 36412, DstPort: 36412}}, 0,
			bpf.Event{VLAN: 7, Src: addr("2001:db8::a"), Dst: addr("2001:db8::b"), SrcPort: 36412, DstPort: 36412, HasPorts: true}},
		{"ipv6 extension headers tcp", tf.Frame{IPv6: &tf.IPv6{Src: addr("fd00::1"), Dst: addr("fd00::2"), Ext: []tf.IPv6Ext{{Type: 0, Len: 8}, {Type: 60, Len: 16}}}, TCP: tcp}, 0,
			bpf.Event{Src: addr("fd00::1"), Dst: addr("fd00::2"), SrcPort: 40001, DstPort: 443, HasPorts: true}},
		{"icmp has no ports", tf.Frame{IPv4: v4("192.0.2.1", "192.0.2.2"), ICMP: icmpEcho}, 0,
			bpf.Event{Src: addr("192.0.2.1"), Dst: addr("192.0.2.2")}},
		{"ipv4 later fragment has no ports", tf.Frame{IPv4: &tf.IPv4{Src: addr("192.0.2.1"), Dst: addr("192.0.2.2"), Protocol: 17, FragOffset: 10}, Payload: payload}, 0,
			bpf.Event{Src: addr("192.0.2.1"), Dst: addr("192.0.2.2")}},
		{"truncated udp header", tf.Frame{IPv4: v4("192.0.2.1", "192.0.2.2"), UDP: &tf.UDP{SrcPort: 1, DstPort: 2}}, 14 + 20 + 4, // ports present, header cut
			bpf.Event{Src: addr("192.0.2.1"), Dst: addr("192.0.2.2"), Anomaly: bpf.AnomalyTruncated}},
		{"truncated ipv6 header", tf.Frame{IPv6: v6("2001:db8::1", "2001:db8::2"), UDP: &tf.UDP{}}, 14 + 30,
			bpf.Event{Anomaly: bpf.AnomalyTruncated}},
		{"arp", tf.Frame{ARP: true}, 0, bpf.Event{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frame := tf.MustBuild(tc.frame)
			if tc.cut > 0 {
				frame = frame[:tc.cut]
			}
			class := classOfFrame(t, f, frame)
			for _, prog := range []struct {
				p    *ebpf.Program
				slot int
				dir  bpf.Direction
			}{{f.xdp, testSlot, bpf.Receive}, {f.tc, testSlot, bpf.Transmit}} {
				if prog.dir == bpf.Transmit && refusedSKB(frame) {
					continue
				}
				if _, err := prog.p.Run(&ebpf.RunOptions{Data: frame}); err != nil {
					t.Fatal(err)
				}
				got := f.drain(t)
				if len(got) != 1 {
					t.Fatalf("%s: %d records, want 1", prog.dir, len(got))
				}
				want := tc.want
				want.Bytes, want.Packets = uint32(len(frame)), 1
				want.Slot, want.Direction, want.Class = prog.slot, prog.dir, class
				if got[0] != want {
					t.Errorf("%s:\n got %+v\nwant %+v", prog.dir, got[0], want)
				}
			}
		})
	}
}

// classOfFrame counts frame once through a separate counting-only fixture and
// returns the class it landed in: the record must carry the same.
func classOfFrame(t *testing.T, _ *eventFixture, frame []byte) int {
	t.Helper()
	c := newFixture(t)
	c.reset(t)
	if _, err := c.xdp.Run(&ebpf.RunOptions{Data: frame}); err != nil {
		t.Fatal(err)
	}
	base := blockBase(testSlot, bpf.Receive)
	for entry, v := range c.counters(t) {
		if e := int(entry - base); e >= 0 && e < bpf.ClassCount && v.Packets == 1 {
			return e
		}
	}
	t.Fatal("frame not counted in any class")
	return 0
}

// pinCPU keeps the calling goroutine on one CPU, so that per-CPU state (the
// sampling countdown) is one CPU's.
func pinCPU(t *testing.T) {
	t.Helper()
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	var set unix.CPUSet
	set.Set(0)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
}

// TestEventSampling runs 1000 frames at 1-in-N and expects exactly 1000/N records.
func TestEventSampling(t *testing.T) {
	for _, n := range []uint32{1, 7, 100} {
		f := newEventFixture(t, bpf.EventOptions{SampleRate: n, RingSize: 1 << 20})
		pinCPU(t)
		frame := tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{}, UDP: udpDNS})
		const runs = 1000
		if _, err := f.xdp.Run(&ebpf.RunOptions{Data: frame, Repeat: runs}); err != nil {
			t.Fatal(err)
		}
		want := (runs + int(n) - 1) / int(n) // the first frame is sampled
		if got := len(f.drain(t)); got != want {
			t.Errorf("sample rate %d: %d records from %d frames, want %d", n, got, runs, want)
		}
		stats, err := f.reader.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if stats[bpf.StatEventsEmitted] != uint64(want) || stats[bpf.StatEventsLost] != 0 {
			t.Errorf("sample rate %d: emitted %d lost %d, want %d and 0", n, stats[bpf.StatEventsEmitted], stats[bpf.StatEventsLost], want)
		}
	}
}

// TestEventOverload writes far more records than a one-page ring holds:
// delivered + lost must equal emitted, exactly, and the counters stay exact.
func TestEventOverload(t *testing.T) {
	f := newEventFixture(t, bpf.EventOptions{SampleRate: 1, RingSize: os.Getpagesize()})
	frame := tf.MustBuild(tf.Frame{IPv6: &tf.IPv6{}, TCP: tcpSYN})
	const runs = 5000
	if _, err := f.tc.Run(&ebpf.RunOptions{Data: frame, Repeat: runs}); err != nil {
		t.Fatal(err)
	}
	delivered := uint64(len(f.drain(t)))
	stats, err := f.reader.Stats()
	if err != nil {
		t.Fatal(err)
	}
	emitted, lost := stats[bpf.StatEventsEmitted], stats[bpf.StatEventsLost]
	t.Logf("emitted %d, delivered %d, lost %d", emitted, delivered, lost)
	if emitted != runs || lost == 0 || delivered+lost != emitted {
		t.Errorf("emitted %d, delivered %d, lost %d: want emitted = %d = delivered + lost, with losses", emitted, delivered, lost, runs)
	}
	var counted uint64
	if err := f.reader.Counters(fixtureSlots, func(blocks []bpf.Block) error {
		class, _ := bpf.ClassEntry("ipv6", "tcp")
		counted = blocks[bpf.BlockIndex(testSlot, bpf.Transmit)].Classes[class].Packets
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if counted != runs {
		t.Errorf("counted %d packets with the ring full, want %d", counted, runs)
	}
}
