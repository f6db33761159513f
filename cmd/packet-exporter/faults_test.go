package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	collectormetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // the exporter sends gzip
	"google.golang.org/grpc/status"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// The fault tests make the real binary's reads of its kernel maps fail, or
// stall, without changing it: the exporter is started behind a seccomp
// filter whose user-space supervisor, the lookupGate in the test process,
// decides the outcome of every bpf(BPF_MAP_LOOKUP_ELEM) and
// bpf(BPF_MAP_LOOKUP_BATCH) system call it makes. The filter is installed
// by the test binary itself, re-executed as a wrapper (TestMain), which
// hands the supervisor's file descriptor back over a socket and then execs
// `ip netns exec NS packet-exporter ...`; the filter stays with the process
// through both execs.

// envLookupGateWrapper makes the test binary act as the wrapper.
const envLookupGateWrapper = "PE_TEST_LOOKUP_GATE_WRAPPER"

// bpf(2) commands the gate intercepts.
const (
	bpfMapLookupElem  = 1
	bpfMapLookupBatch = 24
)

// lookupGateWrapperMain installs the filter, sends its listener to the
// supervisor over file descriptor 3 and execs os.Args[1:].
func lookupGateWrapperMain() {
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "lookup gate wrapper: "+format+"\n", args...)
		os.Exit(125)
	}
	// The filter belongs to this thread, which execs.
	runtime.LockOSThread()
	const (
		ld  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
	)
	// struct seccomp_data: nr at 0, arch at 4, args[0] at 16 (low word first).
	filter := []unix.SockFilter{
		{Code: ld, K: 4},
		{Code: jeq, Jt: 1, Jf: 0, K: unix.AUDIT_ARCH_X86_64},
		{Code: ret, K: unix.SECCOMP_RET_ALLOW},
		{Code: ld, K: 0},
		{Code: jeq, Jt: 0, Jf: 3, K: unix.SYS_BPF},
		{Code: ld, K: 16},
		{Code: jeq, Jt: 2, Jf: 0, K: bpfMapLookupElem},
		{Code: jeq, Jt: 1, Jf: 0, K: bpfMapLookupBatch},
		{Code: ret, K: unix.SECCOMP_RET_ALLOW},
		{Code: ret, K: unix.SECCOMP_RET_USER_NOTIF},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	listener, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&prog)))
	if errno != 0 {
		fail("seccomp: %v", errno)
	}
	if err := unix.Sendmsg(3, []byte{1}, unix.UnixRights(int(listener)), nil, 0); err != nil {
		fail("send the listener: %v", err)
	}
	unix.Close(3)
	unix.Close(int(listener))
	path, err := exec.LookPath(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envLookupGateWrapper+"=") {
			env = append(env, kv)
		}
	}
	fail("exec: %v", syscall.Exec(path, os.Args[1:], env))
}

// seccompNotif and seccompNotifResp are struct seccomp_notif and struct
// seccomp_notif_resp.
type seccompNotif struct {
	ID    uint64
	PID   uint32
	Flags uint32
	Nr    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// lookupGate is the supervisor deciding the exporter's map lookups.
type lookupGate struct {
	fd      int
	failing atomic.Bool // fail every lookup with EIO
	holding atomic.Bool // hold the next lookup until release is closed
	held    chan struct{}
	release chan struct{}
	lookups atomic.Int64
	failed  atomic.Int64
	stop    chan struct{}
	stopped chan struct{}
}

// startGatedExporter starts argv in ns behind the lookup gate.
func startGatedExporter(t *testing.T, ns *testenv.Netns, argv []string) (*testexporter.Exporter, *lookupGate) {
	t.Helper()
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := os.NewFile(uintptr(pair[0]), "gate"), os.NewFile(uintptr(pair[1]), "gate-child")
	defer ours.Close()
	e := startExporter(t, ns, argv, func(cmd *exec.Cmd) {
		// Run the wrapper, which execs the ip command made by startExporter.
		cmd.Args = append([]string{os.Args[0]}, cmd.Args...)
		cmd.Path = os.Args[0]
		cmd.Env = append(os.Environ(), envLookupGateWrapper+"=1")
		cmd.ExtraFiles = []*os.File{theirs}
	})
	theirs.Close()
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(pair[0], buf, oob, 0)
	if err != nil || oobn == 0 {
		t.Fatalf("no seccomp listener from the wrapper (%v); its output:\n%s", err, e.Output())
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("parse control message: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("parse rights: %v", err)
	}
	g := &lookupGate{fd: fds[0], held: make(chan struct{}), release: make(chan struct{}),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	go g.run()
	// Registered after startExporter's cleanup, so it runs before it: the
	// gate stops answering only once the process is gone.
	t.Cleanup(func() {
		e.Kill()
		close(g.stop)
		<-g.stopped
		unix.Close(g.fd)
	})
	return e, g
}

func (g *lookupGate) run() {
	defer close(g.stopped)
	for {
		select {
		case <-g.stop:
			return
		default:
		}
		fds := []unix.PollFd{{Fd: int32(g.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 100)
		if errors.Is(err, unix.EINTR) || n == 0 {
			continue
		}
		if err != nil || fds[0].Revents&unix.POLLIN == 0 {
			return // the filtered process is gone
		}
		var req seccompNotif
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(g.fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&req))); errno != 0 {
			if errno == unix.EINTR || errno == unix.ENOENT {
				continue
			}
			return
		}
		g.lookups.Add(1)
		if g.holding.CompareAndSwap(true, false) {
			select {
			case g.held <- struct{}{}:
				select {
				case <-g.release:
				case <-g.stop:
				}
			case <-g.stop:
			}
		}
		resp := seccompNotifResp{ID: req.ID, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
		if g.failing.Load() {
			resp = seccompNotifResp{ID: req.ID, Error: -int32(unix.EIO)}
			g.failed.Add(1)
		}
		unix.Syscall(unix.SYS_IOCTL, uintptr(g.fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp)))
	}
}

// faultEnv is an exporter behind the lookup gate in namespace a, counting a
// veth pair to namespace b.
type faultEnv struct {
	a, b *testenv.Netns
	pair *testenv.VethPair
	sink *testtraffic.UDPSink
	exp  *testexporter.Exporter
	gate *lookupGate
	sent int // datagrams sent so far
	size int // bytes of each
}

func newFaultEnv(t *testing.T, extraConfig string) *faultEnv {
	t.Helper()
	testenv.RequireRoot(t)
	bin := exporterBinary(t)
	f := &faultEnv{a: testenv.NewNetns(t), b: testenv.NewNetns(t)}
	f.pair = testenv.NewVethPair(t, f.a, f.b, testenv.VethOptions{Quiet: true, DisableOffloads: true})
	cfg := writeFile(t, "config.yaml", fmt.Sprintf("prometheus:\n  listen_address: %q\n%s", listenAddress, extraConfig))
	f.exp, f.gate = startGatedExporter(t, f.a, []string{bin, "--config", cfg})
	f.exp.WaitReady(t, readyTimeout)
	f.sink = testtraffic.ListenUDP(t, f.a, f.pair.IPv4A.Addr())
	return f
}

// send sends n datagrams from b to a.
func (f *faultEnv) send(t *testing.T, n int) {
	t.Helper()
	f.size = testtraffic.SendUDP(t, f.b, f.pair.IPv4B.Addr(), netip.AddrPortFrom(f.pair.IPv4A.Addr(), f.sink.Addr.Port()), n, 100)
	f.sent += n
}

// waitExact waits until /metrics shows exactly the datagrams sent so far,
// packets and bytes.
func (f *faultEnv) waitExact(t *testing.T, what string) testexporter.Metrics {
	t.Helper()
	m := f.exp.WaitMetrics(t, what, 10*time.Second, func(m testexporter.Metrics) bool {
		p, _ := m.Sum(promPackets, udpReceived(f.pair.NameA))
		return p >= float64(f.sent)
	})
	p, _ := m.Sum(promPackets, udpReceived(f.pair.NameA))
	b, _ := m.Sum(promBytes, udpReceived(f.pair.NameA))
	if p != float64(f.sent) || b != float64(f.sent*f.size) {
		t.Errorf("%s: %v packets, %v bytes; want %d, %d", what, p, b, f.sent, f.sent*f.size)
	}
	return m
}

// TestKernelReadFailure: while every read of the kernel maps fails, /metrics
// keeps answering (without the traffic series, never with wrong values),
// packet_exporter_kernel_read_errors_total counts the failures and the log
// says why; once reads work again the totals include everything counted
// meanwhile.
func TestKernelReadFailure(t *testing.T) {
	f := newFaultEnv(t, "")
	f.send(t, 30)
	before := f.waitExact(t, "the first datagrams")
	readErrors, _ := before.Sum(promReadErrors, nil)
	if readErrors != 0 {
		t.Errorf("%v read errors before the fault", readErrors)
	}

	f.gate.failing.Store(true)
	f.send(t, 20) // counted by the kernel while user space cannot read
	const scrapes = 5
	for i := range scrapes {
		begin := time.Now()
		m := f.exp.MustScrape(t)
		if d := time.Since(begin); d > 2*time.Second {
			t.Errorf("scrape %d took %v during the fault", i, d)
		}
		if _, n := m.Sum(promPackets, udpReceived(f.pair.NameA)); n != 0 {
			t.Errorf("scrape %d during the fault shows traffic series", i)
		}
		if _, n := m.Sum(promBuildInfo, nil); n != 1 {
			t.Errorf("scrape %d during the fault lacks %s", i, promBuildInfo)
		}
		got, _ := m.Sum(promReadErrors, nil)
		if got <= readErrors {
			t.Errorf("scrape %d: %s %v, want more than %v", i, promReadErrors, got, readErrors)
		}
		readErrors = got
	}
	if code, _, err := f.exp.Get("/healthz"); err != nil || code != 200 {
		t.Errorf("/healthz during the fault: %d %v", code, err)
	}
	if f.gate.failed.Load() < scrapes {
		t.Errorf("only %d lookups failed", f.gate.failed.Load())
	}

	f.gate.failing.Store(false)
	after := f.waitExact(t, "all datagrams once reads work again")
	if got, _ := after.Sum(promReadErrors, nil); got != readErrors {
		t.Errorf("%s %v after the fault, want it to stay at %v", promReadErrors, got, readErrors)
	}
	log := f.exp.Output()
	for _, want := range []string{"opentelemetry sdk error", "input/output error"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	stopExporter(t, f.exp)
	testenv.AssertNothingAttached(t, f.a, f.pair.NameA)
}

// TestInterfaceDeletedDuringScrape: an interface is deleted while a
// collection is inside its read of the kernel maps (held there by the
// gate). The scrape completes, the next ones no longer show the interface,
// and the interface that stays is counted exactly.
func TestInterfaceDeletedDuringScrape(t *testing.T) {
	f := newFaultEnv(t, "")
	doomed := testenv.NewVethPair(t, f.a, f.b, testenv.VethOptions{Quiet: true, DisableOffloads: true})
	doomedSink := testtraffic.ListenUDP(t, f.a, doomed.IPv4A.Addr())
	f.exp.WaitMetrics(t, "the second interface to be attached", 10*time.Second, func(m testexporter.Metrics) bool {
		_, n := m.Sum(promAttached, map[string]string{"network_interface_name": doomed.NameA})
		return n == 2
	})
	testtraffic.SendUDP(t, f.b, doomed.IPv4B.Addr(), netip.AddrPortFrom(doomed.IPv4A.Addr(), doomedSink.Addr.Port()), 10, 100)
	f.send(t, 15)
	f.exp.WaitMetrics(t, "both interfaces' traffic", 10*time.Second, func(m testexporter.Metrics) bool {
		p, _ := m.Sum(promPackets, udpReceived(doomed.NameA))
		q, _ := m.Sum(promPackets, udpReceived(f.pair.NameA))
		return p == 10 && q == 15
	})

	f.gate.holding.Store(true)
	type result struct {
		code int
		body string
		err  error
	}
	scraped := make(chan result, 1)
	go func() {
		code, body, err := f.exp.Get("/metrics")
		scraped <- result{code, body, err}
	}()
	select {
	case <-f.gate.held:
	case <-time.After(10 * time.Second):
		t.Fatal("no map lookup within 10s of the scrape")
	}
	if _, err := f.a.Exec("ip", "link", "del", doomed.NameA); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the exporter learns of the deletion meanwhile
	close(f.gate.release)
	r := <-scraped
	if r.err != nil || r.code != 200 {
		t.Fatalf("the scrape during the deletion: %d %v\n%s", r.code, r.err, r.body)
	}
	// It read the counters before the deletion was applied: the deleted
	// interface's counts, still in the kernel, are all there.
	during, err := testexporter.Parse(strings.NewReader(r.body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, testexporter.Tail(r.body, 4000))
	}
	if p, _ := during.Sum(promPackets, udpReceived(doomed.NameA)); p != 10 {
		t.Errorf("the scrape during the deletion has %v packets of the deleted interface, want 10", p)
	}
	if p, _ := during.Sum(promPackets, udpReceived(f.pair.NameA)); p != 15 {
		t.Errorf("the scrape during the deletion has %v packets of the other interface, want 15", p)
	}

	m := f.exp.WaitMetrics(t, "the deleted interface to be gone", 10*time.Second, func(m testexporter.Metrics) bool {
		_, n := m.Sum(promAttached, map[string]string{"network_interface_name": doomed.NameA})
		return n == 0
	})
	if _, n := m.Sum(promPackets, map[string]string{"network_interface_name": doomed.NameA}); n != 0 {
		t.Errorf("the deleted interface still has %d traffic series", n)
	}
	f.send(t, 5)
	f.waitExact(t, "the remaining interface")
	if got, _ := m.Sum(promReadErrors, nil); got != 0 {
		t.Errorf("%v read errors", got)
	}
	stopExporter(t, f.exp)
}

// otlpEndpoint is an OTLP/gRPC metrics endpoint that fails every export
// with a code until told to accept, recording what it accepts.
type otlpEndpoint struct {
	collectormetrics.UnimplementedMetricsServiceServer
	failWith atomic.Uint32 // a codes.Code; OK accepts
	attempts atomic.Int64
	mu       sync.Mutex
	accepted []*collectormetrics.ExportMetricsServiceRequest
}

func (o *otlpEndpoint) Export(_ context.Context, req *collectormetrics.ExportMetricsServiceRequest) (*collectormetrics.ExportMetricsServiceResponse, error) {
	o.attempts.Add(1)
	if c := codes.Code(o.failWith.Load()); c != codes.OK {
		return nil, status.Error(c, "refused by the test")
	}
	o.mu.Lock()
	o.accepted = append(o.accepted, req)
	o.mu.Unlock()
	return &collectormetrics.ExportMetricsServiceResponse{}, nil
}

// latestPackets returns the value of the latest accepted packets data point
// of UDP over IPv4 received on iface, and whether there is one.
func (o *otlpEndpoint) latestPackets(iface string) (int64, bool) {
	value, _, found := o.latestPacketsPoint(iface)
	return value, found
}

// latestPacketsPoint is latestPackets with the point's start time.
func (o *otlpEndpoint) latestPacketsPoint(iface string) (value int64, start time.Time, found bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, req := range o.accepted {
		for _, rm := range req.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, metric := range sm.GetMetrics() {
					if metric.GetName() != "packet_exporter.network.packets" {
						continue
					}
					for _, dp := range metric.GetSum().GetDataPoints() {
						attrs := map[string]string{}
						for _, kv := range dp.GetAttributes() {
							attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
						}
						if attrs["network.interface.name"] == iface && attrs["network.io.direction"] == "receive" &&
							attrs["network.type"] == "ipv4" && attrs["network.transport"] == "udp" {
							value, start, found = dp.GetAsInt(), time.Unix(0, int64(dp.GetStartTimeUnixNano())), true
						}
					}
				}
			}
		}
	}
	return value, start, found
}

// startOTLPEndpoint serves an otlpEndpoint, accepting every export, on a
// loopback port of namespace ns until the test ends.
func startOTLPEndpoint(t *testing.T, ns *testenv.Netns) (*otlpEndpoint, net.Addr) {
	t.Helper()
	endpoint := &otlpEndpoint{}
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	collectormetrics.RegisterMetricsServiceServer(srv, endpoint)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return endpoint, ln.Addr()
}

// metricNames returns the names of the metrics accepted.
func (o *otlpEndpoint) metricNames() map[string]bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	names := map[string]bool{}
	for _, req := range o.accepted {
		for _, rm := range req.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, metric := range sm.GetMetrics() {
					names[metric.GetName()] = true
				}
			}
		}
	}
	return names
}

// TestOTLPEndpointErrors: an OTLP endpoint that answers every export with an
// error (the connection itself works). The exporter keeps serving /metrics,
// counts the failures by gRPC code, logs them once (rate-limited), and when
// the endpoint accepts again the first successful export carries the
// complete cumulative totals, traffic sent during the failures included. (A
// refused connection and a blackholed endpoint are tested at this level in
// the e2e module.)
func TestOTLPEndpointErrors(t *testing.T) {
	testenv.RequireRoot(t)
	bin := exporterBinary(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true, DisableOffloads: true})
	endpoint, addr := startOTLPEndpoint(t, a)
	endpoint.failWith.Store(uint32(codes.Internal))

	cfg := writeFile(t, "config.yaml", fmt.Sprintf(`prometheus:
  listen_address: %q
otlp:
  enabled: true
  endpoint: "http://%s"
  interval: 300ms
  timeout: 2s
`, listenAddress, addr))
	// Under a memory limit, so that go.memory.limit is sent too.
	e := startExporter(t, a, []string{bin, "--config", cfg}, func(c *exec.Cmd) { c.Env = append(c.Env, "GOMEMLIMIT=1GiB") })
	e.WaitReady(t, readyTimeout)
	sink := testtraffic.ListenUDP(t, a, pair.IPv4A.Addr())
	send := func(n int) {
		testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), netip.AddrPortFrom(pair.IPv4A.Addr(), sink.Addr.Port()), n, 50)
	}
	send(12)
	e.WaitMetrics(t, "three failed exports", 15*time.Second, func(m testexporter.Metrics) bool {
		n, _ := m.Sum(promOTLP, map[string]string{"outcome": "failure", "error_type": "internal"})
		return n >= 3
	})
	send(8) // while exports fail
	m := e.WaitMetrics(t, "the traffic on /metrics", 10*time.Second, func(m testexporter.Metrics) bool {
		p, _ := m.Sum(promPackets, udpReceived(pair.NameA))
		return p == 20
	})
	if n, _ := m.Sum(promOTLP, map[string]string{"outcome": "success"}); n != 0 {
		t.Errorf("%v successful exports to an endpoint that fails them all", n)
	}
	log := e.Output()
	if got := strings.Count(log, "otlp export failed"); got != 1 {
		t.Errorf("%d log lines about failed exports, want exactly 1 (rate-limited)", got)
	}

	endpoint.failWith.Store(uint32(codes.OK))
	deadline := time.Now().Add(15 * time.Second)
	for {
		if v, ok := endpoint.latestPackets(pair.NameA); ok {
			if v != 20 {
				t.Errorf("first accepted export has %d packets, want the cumulative 20", v)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no export accepted within 15s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	sent := endpoint.metricNames()
	for _, m := range metricdef.Library {
		if m.OTLP && !sent[m.Name] {
			t.Errorf("no %s sent over OTLP (process and runtime metrics)", m.Name)
		}
	}
	e.WaitMetrics(t, "a successful export counted", 10*time.Second, func(m testexporter.Metrics) bool {
		n, _ := m.Sum(promOTLP, map[string]string{"outcome": "success"})
		return n >= 1
	})
	if !strings.Contains(e.Output(), "otlp export succeeded again") {
		t.Errorf("no log line about the recovery")
	}
	stopExporter(t, e)
	testenv.AssertNothingAttached(t, a, pair.NameA)
}

// TestOTLPCollectorDown: nothing listens at the OTLP endpoint. The first
// failed export is logged as its first attempt is refused, not when its
// retries give up: before interval + timeout/2 from the start, where waiting
// for the retries would take interval + timeout. Each failed export is
// logged once (within the minute, once in all), never again as an SDK error,
// with the endpoint. SIGTERM ends the exporter within 3 s, its final export
// bounded by otlp.shutdown_timeout and saying what was not sent, and a new
// start succeeds at once.
func TestOTLPCollectorDown(t *testing.T) {
	testenv.RequireRoot(t)
	bin := exporterBinary(t)
	a := testenv.NewNetns(t)
	var ln net.Listener
	if err := a.Do(func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	endpoint := ln.Addr().String()
	ln.Close() // nothing listens: every attempt is refused at once
	const interval, timeout = time.Second, 6 * time.Second
	cfg := writeFile(t, "config.yaml", fmt.Sprintf(`prometheus:
  listen_address: %q
otlp:
  enabled: true
  endpoint: "http://%s"
  interval: %s
  timeout: %s
`, listenAddress, endpoint, interval, timeout))
	e := startExporter(t, a, []string{bin, "--config", cfg}, nil)
	const failed = "otlp export failed"
	if !e.WaitForLine(interval+timeout/2-time.Since(e.Started()), failed, endpoint, `"error.type":"unavailable"`) {
		t.Fatalf("no %q line with the endpoint and the reason within %s of the start:\n%s", failed, interval+timeout/2, e.Output())
	}
	e.WaitMetrics(t, "two failed exports counted", 3*timeout, func(m testexporter.Metrics) bool {
		n, _ := m.Sum(promOTLP, map[string]string{"outcome": "failure"})
		return n >= 2
	})
	log := e.Output()
	if n := strings.Count(log, failed); n != 1 {
		t.Errorf("%d lines with %q, want 1 (one a failure, rate-limited to one a minute)", n, failed)
	}
	if strings.Contains(log, "opentelemetry sdk error") {
		t.Errorf("a failed export logged again as an SDK error:\n%s", log)
	}

	stopped := time.Now()
	if err := e.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if exited, code := e.Wait(5 * time.Second); !exited || code != 0 {
		t.Fatalf("exited %t with %d within 5s of SIGTERM", exited, code)
	}
	if took := time.Since(stopped); took > 3*time.Second {
		t.Errorf("exit took %s after SIGTERM, want at most 3s (otlp.shutdown_timeout 2s)", took)
	}
	if !e.WaitForLine(0, "final metrics export failed", endpoint, `"last_successful_export":"never"`) {
		t.Errorf("the stop does not say what was not sent:\n%s", testexporter.Tail(e.Output(), 2000))
	}
	again := startExporter(t, a, []string{bin, "--config", cfg}, nil)
	again.WaitReady(t, readyTimeout)
	stopExporter(t, again)
}
