package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/packet-exporter/packet-exporter/e2e/internal/harness"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// Known traffic for the live view: liveRate datagrams of livePayload bytes a
// second, towards the counted end.
const (
	liveRate    = 200
	livePayload = 1000
)

// pageState is what a person sees on the counted interface's card.
type pageState struct {
	Found  bool   `json:"found"`
	Name   string `json:"name"`
	Status string `json:"status"`
	// The rates as the page computed them (data-value), "" before the
	// second snapshot.
	RxBps string `json:"rxBps"`
	TxBps string `json:"txBps"`
	RxPps string `json:"rxPps"`
	TxPps string `json:"txPps"`
	// RxText is the received bits/s as displayed.
	RxText string `json:"rxText"`
}

// readCard reads the card of the interface named in the page.
const readCard = `(() => {
  const card = document.querySelector('article[data-interface=' + JSON.stringify(%q) + ']');
  const status = document.getElementById("status").textContent;
  if (!card) return {found: false, status};
  const v = (cls) => card.querySelector("." + cls).dataset.value || "";
  return {found: true, status, name: card.querySelector("h3").textContent,
    rxBps: v("rx-bps"), txBps: v("tx-bps"), rxPps: v("rx-pps"), txPps: v("tx-pps"),
    rxText: card.querySelector(".rx-bps").textContent};
})()`

// TestLiveViewInBrowser opens the live view in a real headless browser while
// traffic of known rate flows towards the counted interface: the page shows
// the interface with the received rate near what is sent and nothing
// transmitted; drops of the socket category (not losses) hidden until "Show
// every category" is clicked; under a strict Content-Security-Policy, on a
// laptop's and a phone's screen, and the browser reports no error. Screenshots of both are
// written to the test's artifact directory.
func TestLiveViewInBrowser(t *testing.T) {
	bin := binaries(t)
	browser, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Skip(t, "the live view test needs Debian's chromium (.ci/run installs it): %v", err)
	}
	a, b, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true})
	// A strict Content-Security-Policy: the page must work without inline
	// scripts or styles, and a violation would be a browser error.
	webConfig := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(webConfig, []byte("http_server_config:\n  headers:\n    Content-Security-Policy: \"default-src 'self'\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	harness.StartExporter(t, a, bin.Exporter, harness.ExporterConfig{Interfaces: []string{pair.NameA}, WebConfigFile: webConfig})
	// The browser runs in the test's namespace: the exporter's address is
	// relayed to its loopback.
	page := "http://" + a.Forward(t, harness.MetricsAddress) + "/"

	sink := testtraffic.ListenUDP(t, a, pair.IPv4A.Addr())
	frame := sendAtRate(t, b, pair.IPv4B.Addr(), sink.Addr, liveRate, livePayload)
	wantBps := float64(liveRate * frame * 8)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctx, cancel = chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1400))...)
	defer cancel()
	ctx, cancel = chromedp.NewContext(ctx)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // the tab, before listening
		t.Fatalf("start %s: %v", browser, err)
	}
	errs := &browserErrors{}
	if err := chromedp.Listen(ctx, errs.add); err != nil {
		t.Fatal(err)
	}
	enableLog := chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		_, err := cdp.Call(ctx, target, cdplog.Enable, cdp.Empty{})
		return err
	})
	if err := chromedp.Do(ctx, enableLog, chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}

	var state pageState
	took := testexporter.WaitFor(t, "the live view to show the received rate", 20*time.Second, func() (bool, string) {
		state, err = chromedp.Run(ctx, chromedp.Evaluate[pageState](fmt.Sprintf(readCard, pair.NameA)))
		if err != nil {
			return false, err.Error()
		}
		return state.Found && state.RxBps != "" && parse(t, state.RxBps) > 0, fmt.Sprintf("%+v", state)
	})
	t.Logf("rates shown %v after the page opened: %+v", took.Round(100*time.Millisecond), state)
	checkCard(t, state, pair.NameA, wantBps)
	// A few more updates: the rates stay right and the chart fills.
	time.Sleep(5 * time.Second)
	if state, err = chromedp.Run(ctx, chromedp.Evaluate[pageState](fmt.Sprintf(readCard, pair.NameA))); err != nil {
		t.Fatal(err)
	}
	checkCard(t, state, pair.NameA, wantBps)
	checkDropCategories(ctx, t, a, b, pair)
	// Kept with go test -artifacts (make test-e2e passes it), else removed.
	dir := t.ArtifactDir()
	screenshot(ctx, t, filepath.Join(dir, "laptop.png"))

	// On a phone: nothing wider than the screen.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(3))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // an update at the new size
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`))
	if err != nil {
		t.Fatal(err)
	}
	if overflow[0] > overflow[1] {
		t.Errorf("on a 390-pixel-wide phone the page is %d pixels wide: it scrolls sideways", overflow[0])
	}
	screenshot(ctx, t, filepath.Join(dir, "phone.png"))

	if problems := errs.list(); len(problems) > 0 {
		t.Errorf("the browser reported errors:\n%s", strings.Join(problems, "\n"))
	}
}

// dropsState is what the drop table shows.
type dropsState struct {
	// Rows are the table's rows (reason, category, packets/s, total), none
	// while it is hidden.
	Rows [][]string `json:"rows"`
	// Hidden is the line saying what other categories are hidden, "" when
	// it is not shown.
	Hidden string `json:"hidden"`
}

// readDrops reads the drop table.
const readDrops = `(() => {
  const table = document.getElementById("drops");
  const note = document.getElementById("drops-hidden");
  const rows = table.hidden ? [] : [...table.querySelectorAll("tbody tr")].map((r) => [...r.cells].map((c) => c.textContent));
  return {rows, hidden: note.hidden ? "" : note.textContent};
})()`

// checkDropCategories makes drops of the socket category (not losses) and
// checks that the drop table hides them, saying so, until "Show every
// category" is clicked, and shows them after.
func checkDropCategories(ctx context.Context, t *testing.T, a, b *testenv.Netns, pair *testenv.VethPair) {
	t.Helper()
	// A socket that never reads, its receive buffer at the minimum: the
	// datagrams beyond the first few are dropped as socket_rcvbuff.
	var conn *net.UDPConn
	if err := a.Do(func() error {
		var err error
		if conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(pair.IPv4A.Addr(), 0))); err != nil {
			return err
		}
		return conn.SetReadBuffer(1)
	}); err != nil {
		t.Fatalf("udp socket in %s: %v", a.Name, err)
	}
	t.Cleanup(func() { conn.Close() })
	testtraffic.SendUDP(t, b, pair.IPv4B.Addr(), conn.LocalAddr().(*net.UDPAddr).AddrPort(), 100, livePayload)

	isSocketRow := func(row []string) bool { return len(row) == 4 && row[1] == "socket" }
	var drops dropsState
	var err error
	testexporter.WaitFor(t, "the live view to say socket drops are hidden", 20*time.Second, func() (bool, string) {
		if drops, err = chromedp.Run(ctx, chromedp.Evaluate[dropsState](readDrops)); err != nil {
			return false, err.Error()
		}
		return strings.Contains(drops.Hidden, "socket"), fmt.Sprintf("%+v", drops)
	})
	if slices.ContainsFunc(drops.Rows, isSocketRow) {
		t.Errorf("by default the drop table shows socket drops, which are not losses: %q", drops.Rows)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("drops-all"))); err != nil {
		t.Fatal(err)
	}
	testexporter.WaitFor(t, "the live view to show socket_rcvbuff drops after Show every category", 5*time.Second, func() (bool, string) {
		if drops, err = chromedp.Run(ctx, chromedp.Evaluate[dropsState](readDrops)); err != nil {
			return false, err.Error()
		}
		return slices.ContainsFunc(drops.Rows, func(row []string) bool { return isSocketRow(row) && row[0] == "socket_rcvbuff" }),
			fmt.Sprintf("%+v", drops)
	})
	if drops.Hidden != "" {
		t.Errorf("with every category shown the page still says %q", drops.Hidden)
	}
	t.Logf("drops shown with every category: %q", drops.Rows)
}

// checkCard checks what the card of the counted interface shows while
// wantBps bits/s (liveRate packets/s) flow towards it.
func checkCard(t *testing.T, state pageState, name string, wantBps float64) {
	t.Helper()
	if state.Name != name || state.Status != "live" {
		t.Errorf("card %q, status %q; want %q, live", state.Name, state.Status, name)
	}
	// Rates from two snapshots about a second apart: near the sent rate.
	if rx := parse(t, state.RxBps); rx < wantBps/2 || rx > wantBps*2 {
		t.Errorf("received %v bits/s (%s shown), want about %v", rx, state.RxText, wantBps)
	}
	if rx := parse(t, state.RxPps); rx < liveRate/2 || rx > liveRate*2 {
		t.Errorf("received %v packets/s, want about %d", rx, liveRate)
	}
	// The pair is quiet and the sink answers nothing: nothing is transmitted.
	if state.TxBps != "0" || state.TxPps != "0" {
		t.Errorf("transmitted %s bits/s, %s packets/s; want 0", state.TxBps, state.TxPps)
	}
}

// screenshot writes the whole page as a PNG file for a person to look at.
func screenshot(ctx context.Context, t *testing.T, path string) {
	t.Helper()
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (kept with go test -artifacts, as make test-e2e runs it)", path)
}

// parse reads a rate the page wrote.
func parse(t *testing.T, text string) float64 {
	t.Helper()
	var v float64
	if _, err := fmt.Sscan(text, &v); err != nil {
		t.Fatalf("rate %q: %v", text, err)
	}
	return v
}

// browserErrors collects what the browser reports as errors: uncaught
// exceptions, console errors and log entries of level error (a resource
// that failed to load).
type browserErrors struct {
	mu   sync.Mutex
	errs []string
}

func (b *browserErrors) add(ev any) {
	var problem string
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		problem = fmt.Sprintf("exception: %s at %s:%d:%d", d.Text, d.URL, d.LineNumber+1, d.ColumnNumber+1)
		if d.Exception != nil {
			problem += ": " + d.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, arg := range e.Args {
				args = append(args, string(arg.Value))
			}
			problem = fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " "))
		}
	case *cdplog.EventEntryAdded:
		if e.Entry.Level == cdplog.EntryLevelError {
			problem = fmt.Sprintf("log %s: %s (%s)", e.Entry.Source, e.Entry.Text, e.Entry.URL)
		}
	}
	if problem != "" {
		b.mu.Lock()
		b.errs = append(b.errs, problem)
		b.mu.Unlock()
	}
}

func (b *browserErrors) list() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// sendAtRate sends rate datagrams of payload bytes a second from src in ns
// to dst, in bursts every 10 ms, until the test ends; it returns the frame
// size of each.
func sendAtRate(t *testing.T, ns *testenv.Netns, src netip.Addr, dst netip.AddrPort, rate, payload int) int {
	t.Helper()
	var conn *net.UDPConn
	if err := ns.Do(func() error {
		var err error
		conn, err = net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), net.UDPAddrFromAddrPort(dst))
		return err
	}); err != nil {
		t.Fatalf("udp socket in %s: %v", ns.Name, err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(stop)
		wg.Wait()
		conn.Close()
	})
	const tick = 10 * time.Millisecond
	wg.Go(func() {
		buf := make([]byte, payload)
		ticker := time.NewTicker(tick)
		defer ticker.Stop()
		start, sent := time.Now(), 0
		for {
			select {
			case <-stop:
				return
			case now := <-ticker.C:
				// What is due since the start, so a late tick catches up.
				for due := int(now.Sub(start).Seconds() * float64(rate)); sent < due; sent++ {
					if _, err := conn.Write(buf); err != nil {
						t.Errorf("send: %v", err)
						return
					}
				}
			}
		}
	})
	return testtraffic.UDPFrameSize(dst.Addr(), payload)
}
