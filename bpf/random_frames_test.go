package bpf_test

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/bpf"
	tf "github.com/packet-exporter/packet-exporter/internal/testing/testframe"
)

// maxRandomLength is the longest frame of the random and mutated sets.
const maxRandomLength = 1600

// envRandomSeed overrides the seed of TestRandomFrames, to reproduce a run.
const envRandomSeed = "PE_RANDOM_FRAMES_SEED"

// frameRun tallies the test runs of one program.
type frameRun struct {
	accepted, refused, bytes uint64
}

// TestRandomFrames sends tens of thousands of malformed frames through both
// kernel programs, tunnels on, with BPF_PROG_TEST_RUN: random bytes of every
// length from 0 to 1600, random bytes behind every Ethernet type the parser
// looks at and behind every tunnel header, every truncation of well-formed
// frames and tunnel frames, well-formed frames and tunnel frames with random
// bytes changed, IPv4 headers with every IHL and version, IPv6 extension
// chains with random types and absurd lengths, and VLAN towers deeper than
// the parser walks. Every run the kernel accepts must return XDP_PASS or
// TCX_NEXT, the packets counted over all classes must equal the runs
// accepted, the bytes counted must equal the bytes of those frames, and no
// frame may be uncountable. The kernel refuses some runs by itself (XDP
// under 14 bytes; skb under 14 bytes or with an IP EtherType and an
// incomplete IP header); those count for nothing, and any other error fails.
func TestRandomFrames(t *testing.T) {
	f := newFixture(t, bpf.WithTunnels(tunnelOptions))
	f.reset(t)
	seed := uint64(0x7065)
	if s := os.Getenv(envRandomSeed); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 0, 64); err != nil {
			t.Fatalf("%s: %v", envRandomSeed, err)
		}
	}
	t.Logf("seed %#x (set %s to reproduce another)", seed, envRandomSeed)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))

	var xdp, tc frameRun
	failed := 0
	run := func(frame []byte) {
		if failed > 10 {
			return
		}
		for _, p := range []struct {
			prog    *ebpf.Program
			tally   *frameRun
			verdict uint32
			name    string
		}{{f.xdp, &xdp, xdpPass, "xdp"}, {f.tc, &tc, tcxNext, "tc"}} {
			ret, err := p.prog.Run(&ebpf.RunOptions{Data: frame})
			switch {
			case errors.Is(err, unix.EINVAL):
				if p.name == "xdp" && len(frame) >= 14 {
					failed++
					t.Errorf("xdp run of %d bytes refused: %x", len(frame), frame)
				}
				p.tally.refused++
			case err != nil:
				failed++
				t.Errorf("%s run of %d bytes: %v (frame %x)", p.name, len(frame), err, frame)
			case ret != p.verdict:
				failed++
				t.Errorf("%s verdict %d for %d bytes, want %d (frame %x)", p.name, int32(ret), len(frame), int32(p.verdict), frame)
			default:
				p.tally.accepted++
				p.tally.bytes += uint64(len(frame))
			}
		}
	}
	randomBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}

	// Random bytes of every length.
	for n := 0; n <= maxRandomLength; n++ {
		run(randomBytes(n))
	}
	// Random bytes behind each EtherType the parser looks at, every length.
	for _, etherType := range []uint16{0x0800, 0x86dd, 0x0806, 0x8100, 0x88a8, 0x9100, 0x0000, 0x05dc, 0xffff} {
		for n := 14; n <= maxRandomLength; n += 1 + rng.IntN(7) {
			frame := randomBytes(n)
			binary.BigEndian.PutUint16(frame[12:], etherType)
			run(frame)
		}
	}
	// Every truncation of well-formed frames and of one tunnel frame in
	// seven, and random bytes changed in them.
	wellFormed := make([][]byte, 0, len(frameCases))
	for _, tc := range frameCases {
		wellFormed = append(wellFormed, tf.MustBuild(tc.frame))
	}
	for i, tc := range tunnelCases() {
		if i%7 == 0 {
			wellFormed = append(wellFormed, tc.frame)
		}
	}
	for _, frame := range wellFormed {
		if len(frame) > maxRandomLength {
			frame = frame[:maxRandomLength]
		}
		for n := 0; n <= len(frame); n++ {
			run(frame[:n])
		}
		for range 500 {
			mutated := append([]byte(nil), frame...)
			for range 1 + rng.IntN(8) {
				mutated[rng.IntN(len(mutated))] = byte(rng.Uint32())
			}
			if rng.IntN(4) == 0 {
				mutated = mutated[:rng.IntN(len(mutated)+1)]
			}
			run(mutated)
		}
	}
	// Random bytes behind every tunnel header, over IPv4 and IPv6.
	for range 2000 {
		body := randomBytes(rng.IntN(300))
		var inner tf.Frame
		switch rng.IntN(5) {
		case 0:
			inner = tf.Frame{UDP: &tf.UDP{SrcPort: 1, DstPort: vxlanPort}, Payload: tf.VXLAN(byte(rng.Uint32()), 1, body)}
		case 1:
			inner = tf.Frame{UDP: &tf.UDP{SrcPort: 1, DstPort: genevePort}, Payload: body}
		case 2:
			inner = tf.Frame{Payload: body}
			inner.IPv4 = &tf.IPv4{Protocol: tf.ProtoGRE}
		case 3:
			inner = tf.Frame{Payload: tf.GRE{Protocol: []uint16{tf.EtherTypeIPv4, tf.EtherTypeIPv6, tf.EtherTypeTEB}[rng.IntN(3)], Key: rng.IntN(2) == 0, Checksum: rng.IntN(2) == 0}.Encapsulate(body)}
			inner.IPv4 = &tf.IPv4{Protocol: tf.ProtoGRE}
		default:
			inner = tf.Frame{Payload: body}
			inner.IPv4 = &tf.IPv4{Protocol: []uint8{tf.ProtoIPIP, tf.ProtoIPv6}[rng.IntN(2)]}
		}
		if inner.IPv4 == nil {
			inner.IPv4 = &tf.IPv4{}
		}
		if rng.IntN(2) == 0 {
			inner.IPv6 = &tf.IPv6{NextHeader: inner.IPv4.Protocol}
			inner.IPv4 = nil
		}
		run(tf.MustBuild(inner))
	}
	// IPv4 with every version and IHL, and random options and lengths.
	for version := range uint8(16) {
		for ihl := range uint8(16) {
			frame := tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{Version: version, IHL: ihl, Options: randomBytes(4 * rng.IntN(11))}, UDP: udpDNS, Payload: randomBytes(rng.IntN(64))})
			binary.BigEndian.PutUint16(frame[16:], uint16(rng.Uint32())) // total length
			for _, n := range []int{len(frame), 14 + 20 + rng.IntN(len(frame)-33)} {
				run(frame[:n])
			}
		}
	}
	// IPv6 extension chains with random types and absurd lengths.
	extTypes := []uint8{0, 43, 44, 51, 60, 6, 17, 58, 59, 135, 139, 140, 253, 255}
	for range 5000 {
		frame := tf.MustBuild(tf.Frame{IPv6: &tf.IPv6{NextHeader: 17}, Payload: randomBytes(rng.IntN(maxRandomLength - 54))})
		frame[14+6] = extTypes[rng.IntN(len(extTypes))]
		for off := 14 + 40; off+2 <= len(frame); off += 8 * (1 + rng.IntN(4)) {
			frame[off] = extTypes[rng.IntN(len(extTypes))] // next header
			frame[off+1] = byte(rng.Uint32())              // header extension length, up to 2 kB
		}
		run(frame)
	}
	// VLAN towers up to 40 tags deep, with IPv4/UDP or IPv6/TCP inside.
	for depth := 0; depth <= 40; depth++ {
		for _, inner := range []tf.Frame{{IPv4: &tf.IPv4{}, UDP: udpDNS}, {IPv6: &tf.IPv6{}, TCP: tcpSYN}, {ARP: true}} {
			var tags []tf.VLAN
			for i := range depth {
				tpid := uint16(0x8100)
				if i%2 == 0 {
					tpid = 0x88a8
				}
				tags = append(tags, tf.VLAN{TPID: tpid, ID: uint16(i)})
			}
			inner.VLANs = tags
			frame := tf.MustBuild(inner)
			run(frame)
			run(frame[:rng.IntN(len(frame)+1)])
		}
	}

	counted := f.counters(t)
	for _, p := range []struct {
		name  string
		base  uint32
		tally frameRun
	}{{"xdp", blockBase(testSlot, bpf.Receive), xdp}, {"tc", blockBase(testSlot, bpf.Transmit), tc}} {
		var packets, bytes uint64
		for entry := range uint32(bpf.ClassCount) {
			packets += counted[p.base+entry].Packets
			bytes += counted[p.base+entry].Bytes
		}
		t.Logf("%s: %d runs accepted (%d bytes), %d refused by the kernel; counted %d packets, %d bytes",
			p.name, p.tally.accepted, p.tally.bytes, p.tally.refused, packets, bytes)
		if packets != p.tally.accepted || bytes != p.tally.bytes {
			t.Errorf("%s counted %d packets and %d bytes, want one per accepted run: %d packets, %d bytes",
				p.name, packets, bytes, p.tally.accepted, p.tally.bytes)
		}
		if p.tally.accepted < 25000 {
			t.Errorf("%s: only %d runs accepted", p.name, p.tally.accepted)
		}
	}
	// The tunnel counters count a part of the frames, in the programs' blocks.
	tunnels := map[uint32]bpf.Value{}
	if err := f.reader.Tunnels(fixtureSlots, func(c *bpf.TunnelCounts) {
		v := tunnels[c.Block]
		for _, n := range c.Classes {
			v.Packets += n.Packets
			v.Bytes += n.Bytes
		}
		tunnels[c.Block] = v
	}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		name  string
		block uint32
		tally frameRun
	}{{"xdp", bpf.BlockIndex(testSlot, bpf.Receive), xdp}, {"tc", bpf.BlockIndex(testSlot, bpf.Transmit), tc}} {
		v := tunnels[p.block]
		delete(tunnels, p.block)
		t.Logf("%s: %d tunnel frames counted (%d bytes)", p.name, v.Packets, v.Bytes)
		if v.Packets < 2000 || v.Packets > p.tally.accepted || v.Bytes > p.tally.bytes {
			t.Errorf("%s: tunnel counters counted %d packets and %d bytes, want at least 2000 of the %d accepted runs (%d bytes)",
				p.name, v.Packets, v.Bytes, p.tally.accepted, p.tally.bytes)
		}
	}
	for block, v := range tunnels {
		t.Errorf("tunnel counters of block %d outside the programs' counted %+v", block, v)
	}
	// Nothing was counted anywhere else (the unused slot 0), and no frame
	// was uncountable.
	for entry, v := range counted {
		inXDP := entry >= blockBase(testSlot, bpf.Receive) && entry < blockBase(testSlot, bpf.Receive)+uint32(bpf.EntriesPerDirection)
		inTC := entry >= blockBase(testSlot, bpf.Transmit) && entry < blockBase(testSlot, bpf.Transmit)+uint32(bpf.EntriesPerDirection)
		if !inXDP && !inTC {
			t.Errorf("entry %d outside the programs' blocks counted %+v", entry, v)
		}
	}
	f.assertNoErrors(t)
}
