package main

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
	tf "github.com/packet-exporter/packet-exporter/internal/testing/testframe"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// TestPersistenceRestarts counts a veth through restarts with persistence
// on, on each ingress hook: datagrams sent while the exporter runs, while it
// is stopped by SIGKILL and while it is stopped by SIGTERM are all counted,
// exactly, and no scrape ever sees the counter go down. --uninstall is
// refused while the exporter runs; once it has stopped, --uninstall
// leaves nothing attached and nothing pinned, and a second --uninstall finds
// nothing.
func TestPersistenceRestarts(t *testing.T) {
	testenv.RequireRoot(t)
	bin := exporterBinary(t)
	for _, hooks := range persistenceHooks {
		t.Run(hooks.ingress, func(t *testing.T) {
			if hooks.ingress == "tcx" && !haveTCX() {
				t.Skip("the kernel has no tcx (Linux 6.6); the legacy tc case covers this here")
			}
			a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{DisableOffloads: true, Quiet: true})
			pins := filepath.Join(testenv.MountBPFFS(t), "packet-exporter")
			cfg := hooksConfig(t, pins, pair.NameA, hooks.ingress, hooks.egress)
			send := udpToA(t, a, b, pair)
			sent := 0.0
			var last float64 // the last value scraped, never to go down
			start := func() *testexporter.Exporter {
				e := startExporter(t, a, []string{bin, "--config", cfg}, nil)
				e.WaitReady(t, readyTimeout)
				m := e.MustScrape(t)
				if v, _ := m.Sum(promPackets, udpReceived(pair.NameA)); v < last {
					t.Errorf("first scrape after the restart: %v datagrams, down from %v", v, last)
				}
				return e
			}
			expect := func(e *testexporter.Exporter, when string) {
				t.Helper()
				e.WaitMetrics(t, fmt.Sprintf("%v datagrams counted %s", sent, when), 10*time.Second, func(m testexporter.Metrics) bool {
					v, _ := m.Sum(promPackets, udpReceived(pair.NameA))
					if v < last {
						t.Errorf("%s: %v datagrams, down from %v", when, v, last)
					}
					last = v
					return v == sent
				})
			}

			e := start()
			send(10)
			sent += 10
			expect(e, "before any restart")
			for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
				if err := e.Signal(sig); err != nil {
					t.Fatal(err)
				}
				if exited, _ := e.Wait(15 * time.Second); !exited {
					t.Fatalf("no exit within 15s of %s", sig)
				}
				if got := testenv.Attached(t, a, pair.NameA); len(got) == 0 {
					t.Errorf("nothing attached after %s: persistence leaves the programs counting", sig)
				}
				send(20) // while no exporter runs
				sent += 20
				e = start()
				expect(e, "after "+sig.String())
				if !strings.Contains(e.Output(), "adopted from the previous run") {
					t.Errorf("after %s: the interface was not adopted:\n%s", sig, e.Output())
				}
				send(5)
				sent += 5
				expect(e, "after "+sig.String()+" and more traffic")
			}
			// Not under a running exporter.
			if out, err := exec.Command("ip", "netns", "exec", a.Name, bin, "--config", cfg, "--uninstall").CombinedOutput(); err == nil ||
				!strings.Contains(string(out), "stop packet-exporter in this network namespace first") {
				t.Errorf("--uninstall while the exporter runs: %v, want exit 1 asking to stop it first:\n%s", err, out)
			}
			send(5) // still counted: the refused --uninstall removed nothing
			sent += 5
			expect(e, "after a refused --uninstall")
			stopExporter(t, e)

			uninstall := func() string {
				out, err := exec.Command("ip", "netns", "exec", a.Name, bin, "--config", cfg, "--uninstall").CombinedOutput()
				if err != nil {
					t.Fatalf("--uninstall: %v\n%s", err, out)
				}
				return string(out)
			}
			if out := uninstall(); !strings.Contains(out, "removed what packet-exporter left") {
				t.Errorf("--uninstall says:\n%s", out)
			}
			testenv.AssertNothingAttached(t, a, pair.NameA)
			if left, _ := os.ReadDir(pins); len(left) != 0 {
				t.Errorf("left in %s after --uninstall: %v", pins, left)
			}
			if out := uninstall(); !strings.Contains(out, "nothing of packet-exporter's found") {
				t.Errorf("second --uninstall says:\n%s", out)
			}
		})
	}
}

// TestPersistencePathNotBPF: a persistence.path that is not on a BPF
// filesystem stops the start with exit status 1, naming the path and how to
// mount one.
func TestPersistencePathNotBPF(t *testing.T) {
	testenv.RequireRoot(t)
	bin := exporterBinary(t)
	path := filepath.Join(t.TempDir(), "pins")
	cfg := writeFile(t, "config.yaml", fmt.Sprintf("persistence:\n  enabled: true\n  path: %q\nprometheus:\n  listen_address: \"127.0.0.1:19743\"\n", path))
	out, err := exec.Command(bin, "--config", cfg).CombinedOutput()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1\n%s", err, out)
	}
	for _, want := range []string{path, "not on a BPF filesystem", "mount -t bpf bpf"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(path); err == nil {
		t.Errorf("%s was created on a filesystem that is not a BPF one", path)
	}
}

// haveTCX reports whether the running kernel has tcx (Linux 6.6): without
// it the default hooks are legacy tc, whose filters are not pinned.
var haveTCX = sync.OnceValue(func() bool { return bpf.ProbeFeatures().Has(bpf.FeatureTCX) })

// persistenceHooks are the ingress and egress hooks the restart and upgrade
// tests count through, one subtest each.
var persistenceHooks = []struct{ ingress, egress string }{{"tcx", "tcx"}, {"xdp", "auto"}, {"tc", "tc"}}

// hooksConfig writes persistConfig's configuration for iface, counted
// through the hooks ingress and egress (XDP in native mode).
func hooksConfig(t *testing.T, pins, iface, ingress, egress string) string {
	t.Helper()
	return writeFile(t, "hooks.yaml", strings.Replace(mustReadFile(t, persistConfig(t, pins, iface)), "persistence:",
		fmt.Sprintf("ingress:\n  hook: %s\negress:\n  hook: %s\nxdp:\n  mode: native\npersistence:", ingress, egress), 1))
}

// persistConfig writes a configuration counting the interfaces include with
// persistence under pins.
func persistConfig(t *testing.T, pins string, include ...string) string {
	t.Helper()
	quoted := make([]string, len(include))
	for i, name := range include {
		quoted[i] = fmt.Sprintf("%q", name)
	}
	return writeFile(t, "config.yaml", fmt.Sprintf(`
interfaces:
  include: [%s]
persistence:
  enabled: true
  path: %q
prometheus:
  listen_address: %q
`, strings.Join(quoted, ", "), pins, listenAddress))
}

// pinnedLinks returns the names of the links pinned under pins, in any
// namespace's directory.
func pinnedLinks(t *testing.T, pins string) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(pins, "net-*", "layout-*", "links", "*"))
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(matches))
	for i, m := range matches {
		names[i] = filepath.Base(m)
	}
	return names
}

// TestPersistenceAdoptsChanges: what changed while no exporter ran is
// applied at the next start. An interface deleted is forgotten (its pins go),
// one newly selected is attached from zero, one no longer selected is
// detached, and the others go on counting exactly. A second exporter in
// another namespace, with the same persistence.path, keeps its own state:
// each counts its own interface exactly through the restarts.
func TestPersistenceAdoptsChanges(t *testing.T) {
	testenv.RequireRoot(t)
	bin := exporterBinary(t)
	a := testenv.NewNetns(t)
	b := testenv.NewNetns(t)
	opts := testenv.VethOptions{DisableOffloads: true, Quiet: true}
	kept, deleted, added := testenv.NewVethPair(t, a, b, opts), testenv.NewVethPair(t, a, b, opts), testenv.NewVethPair(t, a, b, opts)
	pins := filepath.Join(testenv.MountBPFFS(t), "packet-exporter")
	sinkA := testtraffic.ListenUDP(t, a, netip.IPv4Unspecified())
	sinkB := testtraffic.ListenUDP(t, b, netip.IPv4Unspecified())
	// send sends n datagrams over pair, to a (toA) or to b.
	send := func(pair *testenv.VethPair, toA bool, n int) {
		if toA {
			testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), netip.AddrPortFrom(pair.IPv4A.Addr(), sinkA.Addr.Port()), n, 60)
		} else {
			testtraffic.SendUDP(t, a, pair.IPv4A.Addr(), netip.AddrPortFrom(pair.IPv4B.Addr(), sinkB.Addr.Port()), n, 60)
		}
	}
	// wait waits until e has counted want datagrams received on iface.
	wait := func(e *testexporter.Exporter, iface string, want float64) {
		t.Helper()
		waitUDP(t, e, iface, want, fmt.Sprintf("%v datagrams received on %s", want, iface))
	}
	start := func(ns *testenv.Netns, cfg string) *testexporter.Exporter {
		e := startExporter(t, ns, []string{bin, "--config", cfg}, nil)
		e.WaitReady(t, readyTimeout)
		return e
	}

	inA := start(a, persistConfig(t, pins, kept.NameA, deleted.NameA))
	inB := start(b, persistConfig(t, pins, kept.NameB))
	send(kept, true, 10)
	send(deleted, true, 3)
	send(kept, false, 4)
	wait(inA, kept.NameA, 10)
	wait(inA, deleted.NameA, 3)
	wait(inB, kept.NameB, 4)
	for _, e := range []*testexporter.Exporter{inA, inB} {
		e.Signal(syscall.SIGKILL)
		e.Wait(10 * time.Second)
	}

	// While no exporter runs: traffic, an interface deleted, the
	// configuration of a changed to count added instead.
	send(kept, true, 20)
	send(kept, false, 6)
	send(added, true, 7) // not counted: added is not selected yet
	if out, err := a.Exec("ip", "link", "del", deleted.NameA); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	inA = start(a, persistConfig(t, pins, kept.NameA, added.NameA))
	inB = start(b, persistConfig(t, pins, kept.NameB))
	send(added, true, 2)
	wait(inA, kept.NameA, 30)
	wait(inA, added.NameA, 2)
	wait(inB, kept.NameB, 10)
	if m := inA.MustScrape(t); len(m.Samples(promPackets, map[string]string{"network_interface_name": deleted.NameA})) != 0 {
		t.Errorf("series of the deleted %s still reported", deleted.NameA)
	}
	links := pinnedLinks(t, pins)
	for _, l := range links {
		if strings.HasPrefix(l, fmt.Sprint(deleted.IndexA)+"-") {
			t.Errorf("pinned link %s of the deleted interface (ifindex %d) left", l, deleted.IndexA)
		}
	}

	// kept no longer selected: detached at the next start, the others kept.
	stopExporter(t, inA)
	inA = start(a, persistConfig(t, pins, added.NameA))
	testenv.AssertNothingAttached(t, a, kept.NameA)
	send(added, true, 1)
	wait(inA, added.NameA, 3)
	stopExporter(t, inA)
	stopExporter(t, inB)
	want := 4 // both directions of added in a and of kept in b
	if !haveTCX() {
		want = 0 // legacy tc filters are not pinned
	}
	if got := len(pinnedLinks(t, pins)); got != want {
		t.Errorf("%d links pinned (%v), want %d", got, pinnedLinks(t, pins), want)
	}
}

// TestPersistenceForeignState: a pin directory the exporter did not make for
// this build is never adopted nor changed. Files in its links directory that
// are not its links are left as they are; a pin under a map's name that is
// not that map (a corrupt directory), or another build's layout directory,
// make it count afresh without persistence (and detach at the stop), leaving
// them as they are.
func TestPersistenceForeignState(t *testing.T) {
	testenv.RequireRoot(t)
	bin := exporterBinary(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{DisableOffloads: true, Quiet: true})
	pins := filepath.Join(testenv.MountBPFFS(t), "packet-exporter")
	cfg := persistConfig(t, pins, pair.NameA)
	send := udpToA(t, a, b, pair)

	// The exporter's own directories, with foreign entries in its links.
	e := startExporter(t, a, []string{bin, "--config", cfg}, nil)
	e.WaitReady(t, readyTimeout)
	stopExporter(t, e)
	layouts, _ := filepath.Glob(filepath.Join(pins, "net-*", "layout-*"))
	if len(layouts) != 1 {
		t.Fatalf("layout directories %v, want one", layouts)
	}
	foreign := []string{filepath.Join(layouts[0], "links", "not-ours"), filepath.Join(layouts[0], "links", fmt.Sprintf("%d-receive-tcx-x", pair.IndexA+100))}
	for _, f := range foreign {
		if err := os.Mkdir(f, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	e = startExporter(t, a, []string{bin, "--config", cfg}, nil)
	e.WaitReady(t, readyTimeout)
	send(5)
	waitUDP(t, e, pair.NameA, 5, "5 datagrams")
	if !strings.Contains(e.Output(), "left untouched") {
		t.Errorf("no log line about the foreign entries:\n%s", e.Output())
	}
	stopExporter(t, e)
	for _, f := range foreign {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("foreign %s: %v", f, err)
		}
	}

	// A pin directory whose counters are not a map (a directory under the
	// name): refused, untouched, counting afresh.
	counters := filepath.Join(layouts[0], "maps", "pe_counters")
	if err := os.Remove(counters); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(counters, 0o700); err != nil {
		t.Fatal(err)
	}
	e = startExporter(t, a, []string{bin, "--config", cfg}, nil)
	e.WaitReady(t, readyTimeout)
	send(2)
	waitUDP(t, e, pair.NameA, 2, "2 datagrams, from zero")
	if !e.WaitForLine(time.Second, "left untouched, counting afresh without persistence") {
		t.Errorf("no log line about the pinned maps that do not fit:\n%s", e.Output())
	}
	stopExporter(t, e)
	if fi, err := os.Stat(counters); err != nil || !fi.IsDir() {
		t.Errorf("the directory under the counters' name was touched: %v", err)
	}

	// Another build's layout beside: not adopted, not touched.
	other := filepath.Join(filepath.Dir(layouts[0]), "layout-0123456789abcdef01234567")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	e = startExporter(t, a, []string{bin, "--config", cfg}, nil)
	e.WaitReady(t, readyTimeout)
	send(4)
	waitUDP(t, e, pair.NameA, 4, "4 datagrams, from zero")
	if !strings.Contains(e.Output(), "pinned state of another build left untouched") {
		t.Errorf("no log line about the other build's state:\n%s", e.Output())
	}
	stopExporter(t, e)
	if _, err := os.Stat(other); err != nil {
		t.Errorf("the other build's directory: %v", err)
	}
	// Without persistence this run detached; the first run's pinned links
	// remain (legacy tc filters, not pinned, were replaced by this run's and
	// removed with them).
	want := 2
	if !haveTCX() {
		want = 0
	}
	if got := testenv.Attached(t, a, pair.NameA); len(got) != want {
		t.Errorf("attached after the stop: %v, want %d", got, want)
	}
}

// TestPersistenceHandover: a second exporter started in the same namespace
// (a rolling update's surge) asks the first to hand over, which releases its
// state and port and idles until stopped; the second adopts and counts on.
// Datagrams sent all through the handover are counted exactly, and stopping
// the first afterwards changes nothing. An exporter that does not hand over
// (persistence off) makes the second give up after handover_timeout.
func TestPersistenceHandover(t *testing.T) {
	testenv.RequireRoot(t)
	bin := exporterBinary(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{DisableOffloads: true, Quiet: true})
	pins := filepath.Join(testenv.MountBPFFS(t), "packet-exporter")
	cfg := persistConfig(t, pins, pair.NameA)
	send := udpToA(t, a, b, pair)

	first := startExporter(t, a, []string{bin, "--config", cfg}, nil)
	first.WaitReady(t, readyTimeout)
	send(10)
	// Traffic all through the handover: 400 datagrams over about 2 s.
	const during = 400
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range during / 10 {
			send(10)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	second := startExporter(t, a, []string{bin, "--config", cfg}, nil)
	if !second.WaitForLine(readyTimeout, "adopted from the previous run") {
		t.Fatalf("the second exporter did not adopt:\n%s", second.Output())
	}
	if !first.WaitForLine(5*time.Second, "handed over to the new instance") {
		t.Errorf("the first exporter did not hand over:\n%s", first.Output())
	}
	<-done
	second.WaitReady(t, readyTimeout)
	waitUDP(t, second, pair.NameA, 10+during, "every datagram, sent before and during the handover")
	stopExporter(t, first) // idle: its stop detaches nothing
	send(5)
	waitUDP(t, second, pair.NameA, 10+during+5, "5 more after the first's stop")
	stopExporter(t, second)

	// A holder without persistence does not hand over.
	plain := writeFile(t, "plain.yaml", fmt.Sprintf("interfaces:\n  include: [%q]\nprometheus:\n  listen_address: %q\n", pair.NameA, listenAddress))
	holder := startExporter(t, a, []string{bin, "--config", plain}, nil)
	holder.WaitReady(t, readyTimeout)
	impatient := writeFile(t, "impatient.yaml", fmt.Sprintf(`
interfaces:
  include: [%q]
persistence:
  enabled: true
  path: %q
  handover_timeout: 500ms
prometheus:
  listen_address: %q
`, pair.NameA, pins, listenAddress))
	out, err := exec.Command("ip", "netns", "exec", a.Name, bin, "--config", impatient).CombinedOutput()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 || !strings.Contains(string(out), "did not hand over within 500ms") {
		t.Errorf("second exporter beside one without persistence: %v\n%s", err, out)
	}
	stopExporter(t, holder)
}

// TestPersistenceDrops: the kernel's drop counter is kept too. Datagrams to
// a closed port (no_socket drops) sent while the exporter runs and while it
// is stopped are all counted across SIGKILL and SIGTERM; with drops.enabled
// off at the next start, the previous run's drop counter is removed.
func TestPersistenceDrops(t *testing.T) {
	testenv.RequireRoot(t)
	bin := exporterBinary(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{DisableOffloads: true, Quiet: true})
	pins := filepath.Join(testenv.MountBPFFS(t), "packet-exporter")
	cfg := persistConfig(t, pins, pair.NameA)
	closed := netip.AddrPortFrom(pair.IPv4A.Addr(), 9) // nothing listens: each datagram is a no_socket drop
	sent := 0.0
	drop := func(n int) {
		for range n { // one socket each: the port unreachable fails a connected socket's next write
			testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), closed, 1, 20)
		}
		sent += float64(n)
	}
	noSocket := map[string]string{"network_interface_name": pair.NameA, "error_type": "no_socket"}
	start := func(adopted bool) *testexporter.Exporter {
		e := startExporter(t, a, []string{bin, "--config", cfg}, nil)
		e.WaitReady(t, readyTimeout)
		if !e.WaitForLine(30*time.Second, "counting the kernel's drops", fmt.Sprintf(`"adopted":%t`, adopted)) {
			t.Fatalf("no drop counter (adopted %t):\n%s", adopted, e.Output())
		}
		return e
	}
	expect := func(e *testexporter.Exporter, when string) {
		t.Helper()
		e.WaitMetrics(t, fmt.Sprintf("%v no_socket drops %s", sent, when), 10*time.Second, func(m testexporter.Metrics) bool {
			v, _ := m.Sum("packet_exporter_network_drops_total", noSocket)
			return v == sent
		})
	}

	e := start(false)
	drop(5)
	expect(e, "before any restart")
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		e.Signal(sig)
		if exited, _ := e.Wait(15 * time.Second); !exited {
			t.Fatalf("no exit within 15s of %s", sig)
		}
		drop(7) // while no exporter runs
		e = start(true)
		expect(e, "after "+sig.String())
	}
	stopExporter(t, e)

	off := writeFile(t, "off.yaml", strings.Replace(mustReadFile(t, cfg), "persistence:", "drops:\n  enabled: false\npersistence:", 1))
	e = startExporter(t, a, []string{bin, "--config", off}, nil)
	e.WaitReady(t, readyTimeout)
	stopExporter(t, e)
	left, _ := filepath.Glob(filepath.Join(pins, "net-*", "drops-*", "*"))
	if len(left) != 0 {
		t.Errorf("the drop counter's pins after a start with drops off: %v", left)
	}
}

func mustReadFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPersistenceOTLPStartTime: over OTLP an interface's series keeps its
// start time across a restart (SIGKILL) with persistence, and its value goes
// on, so that a consumer sees one stream, never a reset.
func TestPersistenceOTLPStartTime(t *testing.T) {
	testenv.RequireRoot(t)
	bin := exporterBinary(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{DisableOffloads: true, Quiet: true})
	pins := filepath.Join(testenv.MountBPFFS(t), "packet-exporter")
	endpoint, addr := startOTLPEndpoint(t, a)
	cfg := writeFile(t, "config.yaml", strings.Replace(mustReadFile(t, persistConfig(t, pins, pair.NameA)), "prometheus:",
		fmt.Sprintf("otlp:\n  enabled: true\n  endpoint: \"http://%s\"\n  interval: 200ms\nprometheus:", addr), 1))
	send := udpToA(t, a, b, pair)
	exported := func(want int64) time.Time {
		t.Helper()
		var start time.Time
		testexporter.WaitFor(t, fmt.Sprintf("%d datagrams exported", want), 10*time.Second, func() (bool, string) {
			v, s, ok := endpoint.latestPacketsPoint(pair.NameA)
			start = s
			return ok && v == want, fmt.Sprintf("%d", v)
		})
		return start
	}

	e := startExporter(t, a, []string{bin, "--config", cfg}, nil)
	e.WaitReady(t, readyTimeout)
	send(10)
	first := exported(10)
	e.Signal(syscall.SIGKILL)
	e.Wait(10 * time.Second)
	send(5)
	e = startExporter(t, a, []string{bin, "--config", cfg}, nil)
	e.WaitReady(t, readyTimeout)
	if second := exported(15); !second.Equal(first) {
		t.Errorf("start time %s after the restart, was %s", second, first)
	}
	stopExporter(t, e)
}

// TestPersistenceHookChange: a start that counts an adopted interface
// through other hooks than the previous run (legacy tc, then tcx) attaches
// its own and removes the previous run's legacy tc filters, which would
// count into the same slot: the counts go on, exactly, never doubled.
func TestPersistenceHookChange(t *testing.T) {
	testenv.RequireRoot(t)
	if !haveTCX() {
		t.Skip("the kernel has no tcx (Linux 6.6): there is no other tc hook to change to")
	}
	bin := exporterBinary(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{DisableOffloads: true, Quiet: true})
	pins := filepath.Join(testenv.MountBPFFS(t), "packet-exporter")
	tcx := persistConfig(t, pins, pair.NameA)
	tc := hooksConfig(t, pins, pair.NameA, config.HookTC, config.HookTC)
	send := udpToA(t, a, b, pair)
	e := startExporter(t, a, []string{bin, "--config", tc}, nil)
	e.WaitReady(t, readyTimeout)
	send(5)
	stopExporter(t, e)
	send(3)
	e = startExporter(t, a, []string{bin, "--config", tcx}, nil)
	e.WaitReady(t, readyTimeout)
	send(4)
	waitUDP(t, e, pair.NameA, 12, "12 datagrams, none twice")
	if left := exporterFilters(t, a, pair.IndexA); len(left) != 0 {
		t.Errorf("the previous run's tc filters are still there: %v", left)
	}
	stopExporter(t, e)
	send(1)
	e = startExporter(t, a, []string{bin, "--config", tcx}, nil)
	e.WaitReady(t, readyTimeout)
	waitUDP(t, e, pair.NameA, 13, "13 datagrams")
	stopExporter(t, e)
}

// TestPersistenceUpgrade: an upgrade to a build whose pinned maps have
// another layout (the same counters in another order), and a downgrade back,
// on each ingress hook, with datagrams sent while each exporter runs and
// while none does: the new build replaces the programs in place, carries the
// old one's counts over counter by counter (the packet-size histogram too,
// whose counters moved) and removes its maps; every count is exact, no
// scrape sees one go down, and the series keep their start.
func TestPersistenceUpgrade(t *testing.T) {
	testenv.RequireRoot(t)
	builds := []string{exporterBinary(t), testexporter.VariantProgram.Path(t)}
	for _, hooks := range persistenceHooks {
		t.Run(hooks.ingress, func(t *testing.T) {
			if hooks.ingress == "tcx" && !haveTCX() {
				t.Skip("the kernel has no tcx (Linux 6.6); the legacy tc case covers this here")
			}
			a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{DisableOffloads: true, Quiet: true})
			pins := filepath.Join(testenv.MountBPFFS(t), "packet-exporter")
			cfg := hooksConfig(t, pins, pair.NameA, hooks.ingress, hooks.egress)
			send := udpToA(t, a, b, pair)
			sizes := map[string]string{"network_interface_name": pair.NameA, "network_io_direction": "receive"}
			sent, last := 0.0, 0.0
			var firstLayout string
			expect := func(e *testexporter.Exporter, when string) {
				t.Helper()
				m := e.WaitMetrics(t, fmt.Sprintf("%v datagrams counted %s", sent, when), 10*time.Second, func(m testexporter.Metrics) bool {
					v, _ := m.Sum(promPackets, udpReceived(pair.NameA))
					if v < last {
						t.Errorf("%s: %v datagrams, down from %v", when, v, last)
					}
					last = v
					return v == sent
				})
				if v, _ := m.HistogramCount("packet_exporter_network_packet_size_bytes", sizes); float64(v) != sent {
					t.Errorf("%s: the packet-size histogram counts %v datagrams, want %v", when, v, sent)
				}
			}
			layouts := func() []string {
				t.Helper()
				found, _ := filepath.Glob(filepath.Join(pins, "net-*", "layout-*"))
				if len(found) != 1 {
					t.Fatalf("layout directories %v, want one", found)
				}
				return found
			}
			e := startExporter(t, a, []string{builds[0], "--config", cfg}, nil)
			e.WaitReady(t, readyTimeout)
			firstLayout = layouts()[0]
			attached := testenv.Attached(t, a, pair.NameA)
			send(10)
			sent += 10
			expect(e, "by the first build")
			// Upgrade after SIGKILL, downgrade after SIGTERM.
			for i, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
				build := builds[(i+1)%2]
				if err := e.Signal(sig); err != nil {
					t.Fatal(err)
				}
				if exited, _ := e.Wait(15 * time.Second); !exited {
					t.Fatalf("no exit within 15s of %s", sig)
				}
				send(20)
				sent += 20
				e = startExporter(t, a, []string{build, "--config", cfg}, nil)
				e.WaitReady(t, readyTimeout)
				when := fmt.Sprintf("after %s and the start of %s", sig, filepath.Base(build))
				if !e.WaitForLine(5*time.Second, "upgraded: the previous build's counts are carried over") {
					t.Errorf("%s: no upgrade:\n%s", when, e.Output())
				}
				expect(e, when)
				got := layouts()[0]
				if (got == firstLayout) != (i == 1) {
					t.Errorf("%s: layout directory %s (the first build's: %s)", when, got, firstLayout)
				}
				if links := pinnedLinks(t, pins); len(links) == 0 && hooks.ingress != "tc" {
					t.Errorf("%s: no pinned links", when)
				}
				send(5)
				sent += 5
				expect(e, when+" and more traffic")
			}
			stopExporter(t, e)
			if got := testenv.Attached(t, a, pair.NameA); len(got) != len(attached) {
				t.Errorf("attached after the upgrade and the downgrade: %v, want as after the first start: %v", got, attached)
			}
		})
	}
}

// TestPersistenceStaleNamespace: pinned state recorded for another network
// namespace (one that no longer exists, whose inode number this one was
// given again: its cookie differs) is removed, and counting starts afresh
// rather than going on from another namespace's counts.
func TestPersistenceStaleNamespace(t *testing.T) {
	testenv.RequireRoot(t)
	bin := exporterBinary(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{DisableOffloads: true, Quiet: true})
	pins := filepath.Join(testenv.MountBPFFS(t), "packet-exporter")
	cfg := persistConfig(t, pins, pair.NameA)
	send := udpToA(t, a, b, pair)

	e := startExporter(t, a, []string{bin, "--config", cfg}, nil)
	e.WaitReady(t, readyTimeout)
	send(5)
	waitUDP(t, e, pair.NameA, 5, "5 datagrams")
	stopExporter(t, e)
	maps, _ := filepath.Glob(filepath.Join(pins, "net-*", "layout-*", "maps"))
	if len(maps) != 1 {
		t.Fatalf("maps directories %v, want one", maps)
	}
	cookie := bpf.PinnedNetnsCookie(maps[0])
	if cookie == 0 {
		t.Fatal("no network namespace cookie recorded")
	}
	starts, err := ebpf.LoadPinnedMap(filepath.Join(maps[0], "pe_slot_starts"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer starts.Close()
	if err := starts.Put(starts.MaxEntries()-1, cookie+1); err != nil {
		t.Fatal(err)
	}

	e = startExporter(t, a, []string{bin, "--config", cfg}, nil)
	e.WaitReady(t, readyTimeout)
	send(3)
	waitUDP(t, e, pair.NameA, 3, "3 datagrams, from zero")
	if !strings.Contains(e.Output(), "network namespace that no longer exists") {
		t.Errorf("no log line about the stale state:\n%s", e.Output())
	}
	stopExporter(t, e)
	if got := bpf.PinnedNetnsCookie(maps[0]); got != cookie {
		t.Errorf("cookie recorded by the fresh start %d, want %d", got, cookie)
	}
}

// TestPersistenceXDPModeChange: a start with another xdp.mode than the
// previous run's replaces its XDP program at once (the kernel holds one mode
// at a time), not at the next listing, and counts on from the adopted counts.
func TestPersistenceXDPModeChange(t *testing.T) {
	testenv.RequireRoot(t)
	bin := exporterBinary(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{DisableOffloads: true, Quiet: true})
	pins := filepath.Join(testenv.MountBPFFS(t), "packet-exporter")
	base := persistConfig(t, pins, pair.NameA)
	native := writeFile(t, "native.yaml", strings.Replace(mustReadFile(t, base), "persistence:", "ingress:\n  hook: xdp\nxdp:\n  mode: native\npersistence:", 1))
	generic := writeFile(t, "generic.yaml", strings.Replace(mustReadFile(t, base), "persistence:", "ingress:\n  hook: xdp\nxdp:\n  mode: generic\npersistence:", 1))
	send := udpToA(t, a, b, pair)
	e := startExporter(t, a, []string{bin, "--config", native}, nil)
	e.WaitReady(t, readyTimeout)
	send(5)
	waitUDP(t, e, pair.NameA, 5, "5 datagrams")
	stopExporter(t, e)
	e = startExporter(t, a, []string{bin, "--config", generic}, nil)
	e.WaitReady(t, readyTimeout)
	if !e.WaitForLine(2*time.Second, `"hook":"xdp"`, `"mode":"generic"`) {
		t.Fatalf("not attached in generic mode within 2 s of ready:\n%s", e.Output())
	}
	send(4)
	waitUDP(t, e, pair.NameA, 9, "9 datagrams")
	stopExporter(t, e)
	pinned := pinnedLinks(t, pins)
	want := 2 // and the transmit one, through tcx
	if !haveTCX() {
		want = 1 // transmit through a legacy tc filter
	}
	if len(pinned) != want || !slices.ContainsFunc(pinned, func(n string) bool { return strings.HasSuffix(n, "-receive-xdp-generic") }) {
		t.Errorf("pinned links %v, want the generic XDP one (of %d)", pinned, want)
	}
}

// TestPersistenceTunnels: with persistence, an interface's tunnel series go
// on through a restart (SIGKILL), tunnel frames sent while no exporter ran
// included, exactly as its traffic series do.
func TestPersistenceTunnels(t *testing.T) {
	testenv.RequireRoot(t)
	bin := exporterBinary(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{DisableOffloads: true, Quiet: true})
	pins := filepath.Join(testenv.MountBPFFS(t), "packet-exporter")
	cfg := persistConfig(t, pins, pair.NameA)
	// VXLAN frames carrying IPv4/UDP to an Ethernet address neither end
	// has: the A end counts them, then drops them, unanswered.
	f := tf.Frame{Dst: [6]byte{0x02, 0x5e, 0x10, 0, 0, 0x27}, IPv4: &tf.IPv4{Src: pair.IPv4B.Addr(), Dst: pair.IPv4A.Addr()},
		UDP: &tf.UDP{SrcPort: 40027, DstPort: 4789}, Payload: tf.VXLAN(tf.VXLANFlagVNI, 27, tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{}, UDP: &tf.UDP{SrcPort: 1, DstPort: 2}}))}
	copy(f.Src[:], pair.MACB)
	frame := tf.MustBuild(f)
	send := func(n int) {
		frames := make([][]byte, n)
		for i := range frames {
			frames[i] = frame
		}
		testtraffic.SendFrames(t, b, pair.IndexB, frames...)
	}
	inside := map[string]string{"network_interface_name": pair.NameA, "network_io_direction": "receive",
		"packet_exporter_tunnel_type": "vxlan", "network_type": "ipv4", "network_transport": "udp"}
	wait := func(e *testexporter.Exporter, want float64) {
		t.Helper()
		e.WaitMetrics(t, fmt.Sprintf("%g tunnel frames", want), 10*time.Second, func(m testexporter.Metrics) bool {
			packets, _ := m.Sum("packet_exporter_network_tunnel_packets_total", inside)
			bytes, _ := m.Sum("packet_exporter_network_tunnel_io_bytes_total", inside)
			return packets == want && bytes == want*float64(len(frame))
		})
	}

	e := startExporter(t, a, []string{bin, "--config", cfg}, nil)
	e.WaitReady(t, readyTimeout)
	send(7)
	wait(e, 7)
	e.Signal(syscall.SIGKILL)
	e.Wait(10 * time.Second)
	send(4)
	e = startExporter(t, a, []string{bin, "--config", cfg}, nil)
	e.WaitReady(t, readyTimeout)
	send(2)
	wait(e, 13)
	stopExporter(t, e)
}
