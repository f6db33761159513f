package bench

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// restartRate is the datagrams per second BenchmarkRestarts sends through
// every restart, in bursts of restartBurst.
const (
	restartRate  = 25000
	restartBurst = 250
)

// BenchmarkRestarts restarts the real exporter, with persistence, while a
// veth pair carries UDP at restartRate datagrams per second: 20 restarts per
// iteration (4 with -pe.smoke) and 2 upgrades between two builds of
// different layouts (testexporter.VariantProgram, halfway and back at the
// end), SIGTERM and SIGKILL in turn, each followed by 100 ms without an
// exporter. A scraper reads /metrics every 200 ms
// throughout. Once the traffic has stopped and the last exporter has read
// it, the datagrams counted must equal those sent (sent-datagrams,
// counted-datagrams, and the veth's own rx_packets, rx-packets), and no
// scrape may have seen the counter go down (decreases). It also reports the
// rate reached (pps) and the time from each start to ready (ready-ms, and
// upgrade-ready-ms for the upgrades).
func BenchmarkRestarts(b *testing.B) {
	testenv.RequireRoot(b)
	builds := []string{exporterBinary(b), testexporter.VariantProgram.Path(b)}
	const upgrades = 2
	restarts := 20
	if *smoke {
		restarts = 4
	}
	f := figures{}
	counts := map[string]uint64{}
	for b.Loop() {
		a, peer, pair := testenv.NewNetnsPair(b, testenv.VethOptions{Quiet: true, DisableOffloads: true})
		pins := filepath.Join(testenv.MountBPFFS(b), "pe")
		extra := fmt.Sprintf("persistence:\n  enabled: true\n  path: %q\n", pins)
		sink := testtraffic.ListenUDP(b, a, pair.IPv4A.Addr())
		rxBefore := linkStats(b, a, pair.NameA).RxPackets

		var mu sync.Mutex
		build := 0
		p := startExporter(b, a, builds[build], fmt.Sprintf("%q", pair.NameA), extra)
		p.waitReady(b, 60*time.Second)
		current := func() *exporterProcess { mu.Lock(); defer mu.Unlock(); return p }

		stop := make(chan struct{})
		var sent atomic.Uint64
		var wg sync.WaitGroup
		var sendErr error
		wg.Go(func() { sendErr = sendAtRate(peer, sink.Addr.String(), stop, &sent) })
		var decreases, scrapes uint64
		wg.Go(func() {
			var last uint64
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				v, _, ok := receivedCounts(current(), pair.NameA)
				if !ok {
					continue // between two exporters
				}
				scrapes++
				if v < last {
					decreases++
				}
				last = v
			}
		})

		start := time.Now()
		for i := range restarts + upgrades {
			upgrade := i == restarts/2 || i == restarts+upgrades-1
			if upgrade {
				build = 1 - build
			}
			sig := syscall.SIGTERM
			if i%2 == 1 {
				sig = syscall.SIGKILL
			}
			layouts := layoutDirs(b, pins)
			old := current()
			if err := old.Signal(sig); err != nil {
				b.Fatal(err)
			}
			if exited, _ := old.Wait(30 * time.Second); !exited {
				b.Fatalf("no exit 30 s after %s", sig)
			}
			time.Sleep(100 * time.Millisecond)
			next := startExporter(b, a, builds[build], fmt.Sprintf("%q", pair.NameA), extra)
			r, _ := next.waitReady(b, 60*time.Second)
			if upgrade {
				f.add("upgrade-ready-ms", ms(r))
				// Once ready, only the new build's layout is left.
				if now := layoutDirs(b, pins); len(now) != 1 || slices.Equal(now, layouts) {
					b.Fatalf("layout directories %v after the upgrade, %v before", now, layouts)
				}
			} else {
				f.add("ready-ms", ms(r))
			}
			mu.Lock()
			p = next
			mu.Unlock()
			time.Sleep(300 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		elapsed := time.Since(start)
		if sendErr != nil {
			b.Fatal(sendErr)
		}
		rx := waitRxSettled(b, a, pair.NameA).RxPackets - rxBefore
		var udp, all uint64
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if u, a, ok := receivedCounts(current(), pair.NameA); ok {
				if udp, all = u, a; udp == sent.Load() && all == rx {
					break
				}
			}
		}
		current().stop(b)
		f.add("pps", float64(sent.Load())/elapsed.Seconds())
		counts["sent-datagrams"] += sent.Load()
		counts["counted-datagrams"] += udp
		counts["counted-frames"] += all
		counts["rx-packets"] += rx
		counts["decreases"] += decreases
		counts["scrapes"] += scrapes
		counts["restarts"] += uint64(restarts)
		counts["upgrades"] += upgrades
		if udp != sent.Load() || all != rx || decreases != 0 {
			b.Errorf("sent %d datagrams, the exporter counted %d; the veth received %d frames, the exporter counted %d; %d of %d scrapes saw a decrease",
				sent.Load(), udp, rx, all, decreases, scrapes)
		}
	}
	f.report(b)
	reportCounts(b, counts)
}

// layoutDirs returns the layout directories of the pinned state under pins.
func layoutDirs(tb testing.TB, pins string) []string {
	tb.Helper()
	dirs, err := filepath.Glob(filepath.Join(pins, "net-*", "layout-*"))
	if err != nil {
		tb.Fatal(err)
	}
	return dirs
}

// receivedCounts scrapes p for the frames received on iface: the UDP over
// IPv4 ones and all of them; ok is false when p does not answer, or answers
// without the UDP series (an exporter that serves but has not taken the
// interface over yet: a gap, which is not a decrease).
func receivedCounts(p *exporterProcess, iface string) (udp, all uint64, ok bool) {
	code, body, err := p.Get("/metrics")
	if err != nil || code != 200 {
		return 0, 0, false
	}
	m, err := testexporter.Parse(strings.NewReader(body))
	if err != nil {
		return 0, 0, false
	}
	received := map[string]string{"network_interface_name": iface, "network_io_direction": "receive"}
	a, _ := m.Sum("packet_exporter_network_packets_total", received)
	received["network_type"], received["network_transport"] = "ipv4", "udp"
	u, series := m.Sum("packet_exporter_network_packets_total", received)
	if series == 0 {
		return 0, 0, false
	}
	return uint64(u), uint64(a), true
}

// sendAtRate sends UDP datagrams from namespace ns to dst at restartRate
// per second until stop is closed, counting them in sent.
func sendAtRate(ns *testenv.Netns, dst string, stop <-chan struct{}, sent *atomic.Uint64) error {
	var conn net.Conn
	if err := ns.Do(func() (err error) {
		conn, err = net.Dial("udp", dst)
		return err
	}); err != nil {
		return err
	}
	defer conn.Close()
	payload := make([]byte, 64)
	tick := time.NewTicker(time.Second * restartBurst / restartRate)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-tick.C:
		}
		for range restartBurst {
			if _, err := conn.Write(payload); err != nil {
				return fmt.Errorf("send: %w", err)
			}
			sent.Add(1)
		}
	}
}
