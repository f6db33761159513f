package bench

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// churnSmall reports whether the interface benchmarks of this file run at
// their small size: under make bench-smoke (-pe.smoke) or go test -short.
func churnSmall() bool { return *smoke || testing.Short() }

// newInterfaceCount is how many interfaces each iteration of
// BenchmarkNewInterface creates.
func newInterfaceCount() int {
	if churnSmall() {
		return 5
	}
	return 50
}

// BenchmarkNewInterface measures how soon the real exporter counts an
// interface created while it runs, and what that costs it. The exporter runs
// in namespace A with interfaces.include ["n*"] (default hooks: tcx ingress and
// tcx egress), started and ready before the first iteration. Each iteration
// creates K veth pairs (50; 5 with -pe.smoke or -short) one at a time, from a
// thread inside A, with netlink: the end in A matches "n*", its peer is created
// directly in namespace B (down), and the end in A is brought up.
//
// new-interface-counted-ms is the time from the return of LinkAdd (which
// includes the library's lookup of the new ifindex) until the kernel shows a
// pe_count program attached at both tcx ingress and tcx egress of the new
// interface (link.QueryPrograms polled every 0.5 ms in A; bringing the link up
// falls inside that time), median and spread over every interface of every
// iteration. Each interface is deleted once measured; the deletion is not part
// of the latency.
//
// new-interface-cpu-ms is the CPU time the exporter process used (every
// thread, from schedstat) from before the first creation of an iteration to
// 20 ms after its last deletion, divided by the interfaces created: it
// includes handling each interface's deletion, and the exporter's idle work
// during that time (its 10 s re-listing of the links, the Go runtime), which
// is small next to an attachment.
//
// As on any host, where the uplink is counted before the first container
// starts, the exporter already counts one interface of A (the end in A of a
// fixed veth pair, its peer in B) when the first new one appears. Without any, the
// kernel would switch its tcx code paths on at each first attachment and off
// at each last detachment (static keys: code patched on every CPU), about a
// millisecond of the exporter's CPU per new interface that no host with a
// counted interface pays.
func BenchmarkNewInterface(b *testing.B) {
	testenv.RequireRoot(b)
	bin := exporterBinary(b)
	a, bns, fixed := testenv.NewNetnsPair(b, testenv.VethOptions{Quiet: true})
	p := startExporter(b, a, bin, `"n*", "`+fixed.NameA+`"`)
	p.waitReady(b, 30*time.Second)
	p.waitDropsCounted(b) // its start-up (the kernel's BTF) is not what is measured
	p.checkIsExporter(b)

	k := newInterfaceCount()
	probe := newPEProgramSet()
	var counted samples
	var cpu time.Duration
	for b.Loop() {
		cpu0 := p.cpuTime(b)
		for range k {
			d, err := timeToCounted(a, bns, probe, 10*time.Second)
			if err != nil {
				p.stop(b)
				b.Fatalf("%v\nexporter log:\n%s", err, p.Output())
			}
			counted = append(counted, ms(d))
		}
		time.Sleep(20 * time.Millisecond) // the exporter handles the last deletion
		cpu += p.cpuTime(b) - cpu0
	}
	p.stop(b)
	report(b, counted, "new-interface-counted-ms")
	b.ReportMetric(ms(cpu)/float64(len(counted)), "new-interface-cpu-ms")
}

// timeToCounted creates a veth pair, one end (matching "n*") in a and its
// peer in peer, brings the end in a up, and returns the time from the return
// of LinkAdd until programs of probe are attached at both tcx ingress and tcx
// egress of that end; then it deletes the pair. Everything runs on one thread
// inside a.
func timeToCounted(a, peer *testenv.Netns, probe *peProgramSet, timeout time.Duration) (time.Duration, error) {
	var took time.Duration
	err := a.Do(func() error {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = testenv.UniqueName("n")
		veth := &netlink.Veth{
			LinkAttrs:     attrs,
			PeerName:      testenv.UniqueName("nb"),
			PeerNamespace: netlink.NsFd(int(peer.Handle)),
		}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("create veth %s: %w", attrs.Name, err)
		}
		added := time.Now()
		measureErr := func() error {
			if err := netlink.LinkSetUp(veth); err != nil {
				return fmt.Errorf("set %s up: %w", attrs.Name, err)
			}
			index := veth.Attrs().Index
			for {
				in, err := probe.attached(index, ebpf.AttachTCXIngress)
				if err != nil {
					return fmt.Errorf("%s: %w", attrs.Name, err)
				}
				if in {
					out, err := probe.attached(index, ebpf.AttachTCXEgress)
					if err != nil {
						return fmt.Errorf("%s: %w", attrs.Name, err)
					}
					if out {
						took = time.Since(added)
						return nil
					}
				}
				if time.Since(added) > timeout {
					return fmt.Errorf("%s: the exporter's programs are not attached at tcx ingress and egress %v after its creation", attrs.Name, timeout)
				}
				time.Sleep(500 * time.Microsecond)
			}
		}()
		if err := netlink.LinkDel(veth); err != nil {
			return errors.Join(measureErr, fmt.Errorf("delete %s: %w", attrs.Name, err))
		}
		return measureErr
	})
	return took, err
}

// peProgramSet tells packet-exporter's programs (named pe_count..., at most 15
// bytes) from others by ID, opening each ID once. It is not safe for
// concurrent use.
type peProgramSet struct {
	known map[ebpf.ProgramID]bool
}

func newPEProgramSet() *peProgramSet {
	return &peProgramSet{known: map[ebpf.ProgramID]bool{}}
}

// attached reports whether a pe_count program is attached at the tcx hook
// attach of interface index, in the calling thread's namespace.
func (s *peProgramSet) attached(index int, attach ebpf.AttachType) (bool, error) {
	res, err := link.QueryPrograms(link.QueryOptions{Target: index, Attach: attach})
	if err != nil {
		return false, fmt.Errorf("query %s: %w", attach, err)
	}
	for _, prog := range res.Programs {
		if s.isPE(prog.ID) {
			return true, nil
		}
	}
	return false, nil
}

// isPE reports whether program id is named pe_count...; a program that
// cannot be opened (gone meanwhile) is not, and is asked again next time.
func (s *peProgramSet) isPE(id ebpf.ProgramID) bool {
	is, ok := s.known[id]
	if !ok {
		name, err := programName(id)
		if err != nil {
			return false
		}
		is = strings.HasPrefix(name, "pe_count")
		s.known[id] = is
	}
	return is
}

// programName returns the kernel's name of program id.
func programName(id ebpf.ProgramID) (string, error) {
	prog, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return "", err
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		return "", err
	}
	return info.Name, nil
}

// heldPrograms returns the IDs of the pe_count programs that process pid
// holds, through a program's file descriptor or a link's (the prog_id line of
// /proc/PID/fdinfo/FD); descriptors closed meanwhile are skipped.
func (s *peProgramSet) heldPrograms(tb testing.TB, pid int) map[ebpf.ProgramID]bool {
	tb.Helper()
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	held := map[ebpf.ProgramID]bool{}
	for _, e := range entries {
		info, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			value, ok := strings.CutPrefix(line, "prog_id:")
			if !ok {
				continue
			}
			id, err := strconv.ParseUint(strings.TrimSpace(value), 10, 32)
			if err != nil {
				tb.Fatalf("%s/%s: %q", dir, e.Name(), line)
			}
			if s.isPE(ebpf.ProgramID(id)) {
				held[ebpf.ProgramID(id)] = true
			}
		}
	}
	return held
}

// programExists reports whether the kernel still has program id.
func programExists(id ebpf.ProgramID) bool {
	prog, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return false
	}
	prog.Close()
	return true
}

// churnDuration is the length of BenchmarkChurn's churn window: CHURN_DURATION
// if set, else 60 s (5 s with -pe.smoke or -short).
func churnDuration(tb testing.TB) time.Duration {
	tb.Helper()
	if v := os.Getenv("CHURN_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			tb.Fatalf("CHURN_DURATION=%q: want a positive duration such as 60s", v)
		}
		return d
	}
	if churnSmall() {
		return 5 * time.Second
	}
	return 60 * time.Second
}

// Churn rate of BenchmarkChurn: churnBatch pairs created (and the previous
// batch deleted) every churnTick, 100 pairs per second.
const (
	churnTick  = 100 * time.Millisecond
	churnBatch = 10
)

// Traffic of BenchmarkChurn's fixed pair: churnDatagrams datagrams of
// churnPayload bytes (64-byte frames) every churnSendEvery, 10,000 per second.
const (
	churnDatagrams = 100
	churnPayload   = 22
	churnSendEvery = 10 * time.Millisecond
)

// BenchmarkChurn runs the real exporter counting every interface ("*") of
// namespace A while veth pairs come and go at 100 per second, for
// CHURN_DURATION (default 60 s; 5 s with -pe.smoke or -short; run it with
// -benchtime 1x: each iteration is a whole run, and the figures are those of
// the last). A fixed veth pair (quiet, offloads off) joins A to namespace B,
// and B sends 64-byte IPv4/UDP datagrams to a socket in A, 10,000 per second,
// from just before the churn window to its end. Every 100 ms one `ip -n A
// -batch -` creates 10 pairs (the end in A brought up, the peer down in
// namespace C, IPv6 off for both) and deletes the 10 of the previous tick;
// the schedule is absolute, so a late batch is followed at once by the next
// and the rate holds unless the machine cannot keep up (churn-pairs-per-s
// says).
//
// It reports:
//   - churn-cpu-%: the exporter's CPU time over the window (every thread, from
//     schedstat), as a percentage of one core;
//   - churn-rss-start-MiB, churn-rss-end-MiB: its VmRSS at the start and the
//     end of the window;
//   - churn-fds-before, churn-fds-after, churn-threads-before,
//     churn-threads-after: its open file descriptors and threads once ready,
//     before the churn, and 5 s after the churn ends;
//   - churn-pairs, churn-pairs-per-s: the pairs created in the window, and
//     that number over the window's length;
//   - churn-fixed-sent, churn-fixed-counted: the datagrams sent over the fixed
//     pair, and the received ipv4/udp packets the exporter reports for its
//     end in A (from /metrics, once the traffic stopped and the end's
//     rx_packets settled); they and the end's rx_packets must be equal, and the
//     counted bytes 64 per datagram, or the benchmark fails;
//   - churn-programs-loaded: the most programs named pe_count... the exporter
//     held at once (through program or link file descriptors, read from
//     /proc/PID/fdinfo every 0.5 s through the window and once after): its
//     programs are loaded once, so 2 or 3 whatever the number of interfaces;
//   - churn-programs-left: how many of every pe_count program the exporter
//     was seen holding the kernel still has once it has exited (waiting up to
//     5 s for the kernel to free them); 0 unless it leaked some.
//
// The programs are the exporter's own, told by its file descriptors, not all
// pe_count programs of the system: other test runs on the machine load them
// too. Program IDs are not reused soon, so an ID still open is a program left.
func BenchmarkChurn(b *testing.B) {
	testenv.RequireRoot(b)
	bin := exporterBinary(b)
	duration := churnDuration(b)
	for b.Loop() {
		a, bns, c := testenv.NewNetns(b), testenv.NewNetns(b), testenv.NewNetns(b)
		pair := testenv.NewVethPair(b, a, bns, testenv.VethOptions{Quiet: true, DisableOffloads: true})
		sink := testtraffic.ListenUDP(b, a, pair.IPv4A.Addr())
		// The churned interfaces come without IPv6, which would double the
		// kernel's work per interface and make 100 pairs a second hard to hold
		// on a small machine; the fixed pair keeps its addresses.
		for _, ns := range []*testenv.Netns{a, c} {
			if err := ns.Sysctl("net.ipv6.conf.default.disable_ipv6", "1"); err != nil {
				b.Fatal(err)
			}
		}

		p := startExporter(b, a, bin, `"*"`)
		p.waitReady(b, 30*time.Second)
		p.checkIsExporter(b)
		p.waitDropsCounted(b)
		pid := p.Pid()
		probe := newPEProgramSet()
		programs := map[ebpf.ProgramID]bool{} // every program the exporter was seen holding
		programsLoaded := 0
		samplePrograms := func() {
			held := probe.heldPrograms(b, pid)
			programsLoaded = max(programsLoaded, len(held))
			maps.Copy(programs, held)
		}
		fdsBefore, threadsBefore := processCounts(b, pid)
		fdsBeforeKinds := fdKinds(b, pid)
		rxBefore := testenv.LinkStatsOf(b, a, pair.NameA)

		stopTraffic := make(chan struct{})
		endTraffic := sync.OnceFunc(func() { close(stopTraffic) })
		b.Cleanup(endTraffic) // if the benchmark fails before the end of the window
		traffic := make(chan churnTraffic, 1)
		go func() { traffic <- sendUDPUntil(b, bns, pair, sink, stopTraffic) }()

		_, rssStart := p.memory(b)
		cpu0 := p.cpuTime(b)
		start := time.Now()
		churned := make(chan churnResult, 1)
		go func() { churned <- churn(a, c, start, start.Add(duration)) }()
		var ch churnResult
		sample := time.NewTicker(500 * time.Millisecond)
		for done := false; !done; {
			samplePrograms()
			select {
			case ch = <-churned:
				done = true
			case <-sample.C:
			}
		}
		sample.Stop()
		elapsed := time.Since(start)
		cpu := p.cpuTime(b) - cpu0
		_, rssEnd := p.memory(b)
		churnEnd := time.Now()
		endTraffic()
		sent := <-traffic
		if ch.err != nil {
			b.Fatal(ch.err)
		}
		if sent.err != nil {
			b.Fatal(sent.err)
		}

		waitRxSettled(b, a, pair.NameA)
		time.Sleep(100 * time.Millisecond) // the last frames pass tcx ingress
		rx := testenv.LinkStatsOf(b, a, pair.NameA).RxPackets - rxBefore.RxPackets
		body, err := testexporter.Get(a.HTTPClient(), p.URL+"/metrics")
		if err != nil {
			b.Fatal(err)
		}
		// The pair is quiet: the datagrams are all it carries.
		udp := parseCounts(b, bytes.NewReader(body), pair.NameA, "receive")
		frame := uint64(testtraffic.UDPFrameSize(pair.IPv4A.Addr(), churnPayload))
		if udp.packets != sent.datagrams || rx != sent.datagrams || udp.bytes != sent.datagrams*frame {
			b.Errorf("fixed pair: sent %d datagrams of %d-byte frames; packet-exporter counted %d packets (%d bytes) received on %s, its rx_packets +%d",
				sent.datagrams, frame, udp.packets, udp.bytes, pair.NameA, rx)
		}

		time.Sleep(time.Until(churnEnd.Add(5 * time.Second)))
		fdsAfter, threadsAfter := processCounts(b, pid)
		if fdsAfter > fdsBefore {
			b.Logf("descriptors before the churn: %v; after: %v", fdsBeforeKinds, fdKinds(b, pid))
		}
		samplePrograms()
		p.stop(b)
		if log := strings.TrimSpace(p.Output()); log != "" {
			lines := strings.Split(log, "\n")
			b.Logf("exporter logged %d lines at warn or above; the first: %s", len(lines), lines[0])
		}
		programsLeft := 0
		for deadline := time.Now().Add(5 * time.Second); ; {
			programsLeft = 0
			for id := range programs {
				if programExists(id) {
					programsLeft++
				}
			}
			if programsLeft == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond) // programs are freed after an RCU grace period
		}
		if len(programs) == 0 {
			b.Errorf("the exporter never held a pe_count program")
		}

		b.ReportMetric(100*cpu.Seconds()/elapsed.Seconds(), "churn-cpu-%")
		b.ReportMetric(float64(rssStart)/(1<<20), "churn-rss-start-MiB")
		b.ReportMetric(float64(rssEnd)/(1<<20), "churn-rss-end-MiB")
		b.ReportMetric(float64(fdsBefore), "churn-fds-before")
		b.ReportMetric(float64(fdsAfter), "churn-fds-after")
		b.ReportMetric(float64(threadsBefore), "churn-threads-before")
		b.ReportMetric(float64(threadsAfter), "churn-threads-after")
		b.ReportMetric(float64(ch.pairs), "churn-pairs")
		b.ReportMetric(float64(ch.pairs)/elapsed.Seconds(), "churn-pairs-per-s")
		b.ReportMetric(float64(sent.datagrams), "churn-fixed-sent")
		b.ReportMetric(float64(udp.packets), "churn-fixed-counted")
		b.ReportMetric(float64(programsLoaded), "churn-programs-loaded")
		b.ReportMetric(float64(programsLeft), "churn-programs-left")
	}
}

// churnResult is what churn did.
type churnResult struct {
	pairs int // pairs created
	err   error
}

// churn creates churnBatch veth pairs (the end in a up, in interface group 1
// or 2 by turns, the peer down in peers) every churnTick from start with one
// ip batch in a, which also deletes the pairs of the previous tick (link del
// group: one unregistration, one RCU grace period, for the lot), until until;
// a last batch deletes the last pairs. The schedule is absolute: a batch late
// runs at once, so the rate holds on average.
func churn(a, peers *testenv.Netns, start, until time.Time) churnResult {
	var res churnResult
	previous := 0 // pairs of the previous tick
	for tick, seq := 0, 0; ; tick++ {
		time.Sleep(time.Until(start.Add(time.Duration(tick) * churnTick)))
		last := !time.Now().Before(until)
		group := 1 + tick%2
		var cmds strings.Builder
		current := 0
		if !last {
			for range churnBatch {
				fmt.Fprintf(&cmds, "link add ch%d group %d type veth peer name chp%d netns %s\nlink set ch%d up\n", seq, group, seq, peers.Name, seq)
				seq++
				current++
			}
		}
		if previous > 0 {
			fmt.Fprintf(&cmds, "link del group %d\n", 3-group)
		}
		cmd := exec.Command("ip", "-n", a.Name, "-batch", "-")
		cmd.Stdin = strings.NewReader(cmds.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			res.err = fmt.Errorf("churn: ip -n %s -batch: %v\n%s", a.Name, err, out)
			return res
		}
		res.pairs += current
		previous = current
		if last {
			return res
		}
	}
}

// churnTraffic is what sendUDPUntil sent.
type churnTraffic struct {
	datagrams uint64
	err       error
}

// sendUDPUntil sends churnDatagrams datagrams from pair's end in b to sink
// every churnSendEvery until stop is closed. It runs on its own goroutine: a
// failure is returned, not reported to tb.
func sendUDPUntil(tb testing.TB, b *testenv.Netns, pair *testenv.VethPair, sink *testtraffic.UDPSink, stop <-chan struct{}) churnTraffic {
	var res churnTraffic
	every := time.NewTicker(churnSendEvery)
	defer every.Stop()
	for {
		select {
		case <-stop:
			return res
		case <-every.C:
		}
		if err := goroutineTB(tb, func(g *goTB) {
			testtraffic.SendUDP(g, b, pair.IPv4B.Addr(), sink.Addr, churnDatagrams, churnPayload)
		}); err != nil {
			res.err = err
			return res
		}
		res.datagrams += churnDatagrams
	}
}

// goTB lets testtraffic's helpers run on a goroutine other than the
// benchmark's own, where Fatalf must not be called: it records the failure
// and ends the goroutine goroutineTB started.
type goTB struct {
	tb  testing.TB
	err error
}

func (g *goTB) Helper()          {}
func (g *goTB) Cleanup(f func()) { g.tb.Cleanup(f) }
func (g *goTB) Fatalf(format string, args ...any) {
	g.err = fmt.Errorf(format, args...)
	runtime.Goexit()
}

// goroutineTB runs fn on a new goroutine with a goTB and returns the failure
// fn reported through it, if any.
func goroutineTB(tb testing.TB, fn func(*goTB)) error {
	g := &goTB{tb: tb}
	var wg sync.WaitGroup
	wg.Go(func() { fn(g) })
	wg.Wait()
	return g.err
}

// processCounts returns the open file descriptors and the threads of process
// pid.
// fdKinds counts the open descriptors of process pid by what they are
// (anon_inode:bpf-map, socket, a path), to tell what a count that grew holds.
func fdKinds(tb testing.TB, pid int) map[string]int {
	tb.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if kind, _, ok := strings.Cut(target, ":["); ok {
			target = kind // socket:[inode] -> socket
		}
		kinds[target]++
	}
	return kinds
}

func processCounts(tb testing.TB, pid int) (fds, threads int) {
	tb.Helper()
	for _, dir := range []struct {
		path string
		n    *int
	}{{fmt.Sprintf("/proc/%d/fd", pid), &fds}, {fmt.Sprintf("/proc/%d/task", pid), &threads}} {
		entries, err := os.ReadDir(dir.path)
		if err != nil {
			tb.Fatal(err)
		}
		*dir.n = len(entries)
	}
	return fds, threads
}
