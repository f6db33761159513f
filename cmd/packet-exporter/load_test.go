package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// envLoadDuration sets how long TestScrapeLoad keeps the load on, as a Go
// duration; make test uses the default, the full run is
// PE_LOAD_DURATION=60s.
const envLoadDuration = "PE_LOAD_DURATION"

const defaultLoadDuration = 10 * time.Second

// Load parameters.
const (
	loadScrapers   = 50
	loadSlowloris  = 10               // clients sending their headers a byte at a time
	loadStuck      = 10               // clients pipelining requests and never reading
	loadHeaderTime = 10 * time.Second // the server's ReadHeaderTimeout
)

func loadDuration(t *testing.T) time.Duration {
	t.Helper()
	value := os.Getenv(envLoadDuration)
	if value == "" {
		return defaultLoadDuration
	}
	d, err := time.ParseDuration(value)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive Go duration such as 60s", envLoadDuration, value)
	}
	return d
}

// TestScrapeLoad holds the real binary under load for PE_LOAD_DURATION (default
// 10s): 50 concurrent scrapers of /metrics with keep-alive connections, UDP
// traffic on a counted interface, veth pairs created and deleted all the
// time (so interfaces are attached and detached during scrapes), 10 clients
// sending their request headers a byte every 500 ms and 10 that pipeline
// requests and never read the answers. It requires no failed scrape, a
// bounded latency (p99 under 3 s, none over 10 s), a flat memory (the
// resident set at the end within 25% + 16 MiB of the one after warm-up),
// the slow-header clients cut off after ReadHeaderTimeout, no file
// descriptor left behind once the clients are gone, and, at the end,
// exactly the traffic sent.
func TestScrapeLoad(t *testing.T) {
	testenv.RequireRoot(t)
	duration := loadDuration(t)
	bin := exporterBinary(t)
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true, DisableOffloads: true})
	cfg := writeFile(t, "config.yaml", fmt.Sprintf("prometheus:\n  listen_address: %q\n", listenAddress))
	e := startExporter(t, a, []string{bin, "--config", cfg}, nil)
	e.WaitReady(t, readyTimeout)
	sink := testtraffic.ListenUDP(t, a, pair.IPv4A.Addr())
	pid := e.Pid()
	// The drop counter starts beside the interfaces, after readiness at
	// times (seconds later on an emulated CPU): its descriptors belong to
	// the baseline.
	testexporter.WaitFor(t, "the drop counter to start or fail", 60*time.Second, func() (bool, string) {
		out := e.Output()
		return strings.Contains(out, "counting the kernel's drops") || strings.Contains(out, "kernel drops are not counted"), "not yet"
	})
	seriesBefore := e.MustScrape(t).Series()
	baseFiles, err := testexporter.OpenFiles(pid)
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var wg sync.WaitGroup

	// Traffic on the counted interface.
	var datagrams atomic.Int64
	var frameSize atomic.Int64
	wg.Go(func() {
		dst := netip.AddrPortFrom(pair.IPv4A.Addr(), sink.Addr.Port())
		for ctx.Err() == nil {
			frameSize.Store(int64(testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), dst, 50, 200)))
			datagrams.Add(50)
			time.Sleep(5 * time.Millisecond)
		}
	})

	// Interfaces churning.
	var churned atomic.Int64
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			// Netlink calls, not ip commands: under software emulation
			// (make test-kernels) an exec takes a good part of a second.
			veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("churn%d", i)}, PeerName: fmt.Sprintf("churn%dp", i)}
			if err := a.Do(func() error {
				if err := netlink.LinkAdd(veth); err != nil {
					return err
				}
				if err := netlink.LinkSetUp(veth); err != nil {
					return err
				}
				return netlink.LinkSetUp(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: veth.PeerName}})
			}); err != nil {
				t.Errorf("add %s: %v", veth.Name, err)
				return
			}
			time.Sleep(50 * time.Millisecond)
			if err := a.Do(func() error { return netlink.LinkDel(veth) }); err != nil {
				t.Errorf("delete %s: %v", veth.Name, err)
				return
			}
			churned.Add(1)
		}
	})

	// Clients sending their headers a byte at a time: each records when the
	// server cut it off.
	slowCut := make([]time.Duration, loadSlowloris)
	for i := range loadSlowloris {
		wg.Go(func() {
			conn, err := a.DialContext(context.Background(), "tcp", listenAddress)
			if err != nil {
				t.Errorf("slow client %d: %v", i, err)
				return
			}
			defer conn.Close()
			connected := time.Now()
			request := "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("s", 200)
			buf := make([]byte, 1)
			for j := 0; time.Since(connected) < loadHeaderTime+5*time.Second; j++ {
				conn.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := conn.Write([]byte{request[j%len(request)]}); err != nil {
					slowCut[i] = time.Since(connected)
					return
				}
				// A cut shows as end of file on a read.
				conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				if _, err := conn.Read(buf); err != nil && !isTimeout(err) {
					slowCut[i] = time.Since(connected)
					return
				}
			}
		})
	}

	// Clients that pipeline requests and never read: the server's writes
	// to them block.
	var stuck []net.Conn
	for range loadStuck {
		d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		}}
		conn, err := a.DialWith(context.Background(), d, "tcp", listenAddress)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		go func() {
			req := "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n"
			for range 200 {
				conn.SetWriteDeadline(time.Now().Add(duration))
				if _, err := io.WriteString(conn, req); err != nil {
					return
				}
			}
		}()
		stuck = append(stuck, conn)
	}

	// Memory and file descriptors of the exporter.
	type sample struct {
		at  time.Duration
		rss uint64
	}
	var samples []sample
	var samplesMu sync.Mutex
	wg.Go(func() {
		for ctx.Err() == nil {
			if _, rss, err := testexporter.Memory(pid); err == nil {
				samplesMu.Lock()
				samples = append(samples, sample{time.Since(start), rss})
				samplesMu.Unlock()
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	// The scrapers.
	var scrapes, failures atomic.Int64
	latencies := make([][]time.Duration, loadScrapers)
	var firstFailure atomic.Value
	for i := range loadScrapers {
		wg.Go(func() {
			client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: a.DialContext}}
			defer client.CloseIdleConnections()
			for ctx.Err() == nil {
				begin := time.Now()
				resp, err := client.Get("http://" + listenAddress + "/metrics")
				if err == nil {
					var body []byte
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && (resp.StatusCode != 200 || !strings.Contains(string(body), promBuildInfo)) {
						err = fmt.Errorf("status %d, %d bytes", resp.StatusCode, len(body))
					}
				}
				latencies[i] = append(latencies[i], time.Since(begin))
				scrapes.Add(1)
				if err != nil {
					failures.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
				}
			}
		})
	}
	wg.Wait()
	loadEnd := time.Since(start)

	// Results under load.
	all := slices.Concat(latencies...)
	slices.Sort(all)
	if len(all) == 0 {
		t.Fatal("no scrape completed")
	}
	p50, p99, worst := all[len(all)/2], all[len(all)*99/100], all[len(all)-1]
	t.Logf("%v of load: %d scrapes (%.0f/s), latency p50 %v p99 %v max %v; %d datagrams; %d interfaces created and deleted",
		loadEnd.Round(time.Millisecond), scrapes.Load(), float64(scrapes.Load())/loadEnd.Seconds(), p50, p99, worst, datagrams.Load(), churned.Load())
	if n := failures.Load(); n != 0 {
		t.Errorf("%d of %d scrapes failed, the first: %v", n, scrapes.Load(), firstFailure.Load())
	}
	if p99 > 3*time.Second || worst > 10*time.Second {
		t.Errorf("latency p99 %v (want under 3s), max %v (want under 10s, the default scrape timeout of Prometheus)", p99, worst)
	}
	if churned.Load() < 5 {
		t.Errorf("only %d interfaces churned", churned.Load())
	}

	// Memory: after a warm-up of a fifth of the run, the resident set must
	// not keep growing.
	samplesMu.Lock()
	var warm, end uint64
	for _, s := range samples {
		switch {
		case s.at < loadEnd/5:
		case s.at < loadEnd*2/5:
			warm = max(warm, s.rss)
		case s.at >= loadEnd*4/5:
			end = max(end, s.rss)
		}
	}
	samplesMu.Unlock()
	t.Logf("resident set: %d MiB after warm-up, %d MiB at the end (%d samples)", warm>>20, end>>20, len(samples))
	if warm == 0 || end == 0 {
		t.Errorf("too few memory samples")
	} else if end > warm+warm/4+16<<20 {
		t.Errorf("resident set grew from %d MiB to %d MiB under steady load", warm>>20, end>>20)
	}

	// The slow-header clients were cut off after ReadHeaderTimeout.
	for _, c := range stuck {
		c.Close()
	}
	for i, cut := range slowCut {
		if cut == 0 || cut > loadHeaderTime+3*time.Second {
			t.Errorf("slow client %d: cut after %v, want within ReadHeaderTimeout (%v) + 3s", i, cut, loadHeaderTime)
		}
	}

	// Nothing is left behind, and nothing was lost.
	var m testexporter.Metrics
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		m = e.MustScrape(t)
		if _, n := m.Sum(promAttached, nil); n == 2 { // receive and transmit hooks of the counted interface
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("interfaces still attached 10s after the churn: %v", attachedNames(m))
			break
		}
	}
	// Informative: series left behind by interfaces that no longer exist
	// (attach failures of short-lived interfaces are kept by design).
	t.Logf("series on /metrics: %d before the load, %d after", seriesBefore, m.Series())
	if p, _ := m.Sum(promPackets, udpReceived(pair.NameA)); p != float64(datagrams.Load()) {
		t.Errorf("%v datagrams counted, %d sent", p, datagrams.Load())
	}
	if v, _ := m.Sum(promBytes, udpReceived(pair.NameA)); v != float64(datagrams.Load()*frameSize.Load()) {
		t.Errorf("%v bytes counted, %d sent", v, datagrams.Load()*frameSize.Load())
	}
	if n, _ := m.Sum(promReadErrors, nil); n != 0 {
		t.Errorf("%v kernel read errors", n)
	}
	var files int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if files, err = testexporter.OpenFiles(pid); err != nil {
			t.Fatal(err)
		}
		if files <= baseFiles+4 || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("open files: %d before the load, %d after", baseFiles, files)
	if files > baseFiles+4 {
		t.Errorf("%d open files after the load, %d before", files, baseFiles)
	}
	if strings.Contains(e.Output(), `"level":"error"`) {
		t.Errorf("errors logged under load")
	}
	stopExporter(t, e)
	testenv.AssertNothingAttached(t, a, pair.NameA)
}

// attachedNames lists the interfaces with a program attached.
func attachedNames(m testexporter.Metrics) []string {
	var names []string
	if mf, ok := m[promAttached]; ok {
		for _, metric := range mf.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == "network_interface_name" && !slices.Contains(names, l.GetValue()) {
					names = append(names, l.GetValue())
				}
			}
		}
	}
	slices.Sort(names)
	return names
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
