package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.uber.org/zap"

	"github.com/packet-exporter/packet-exporter/e2e/internal/harness"
	"github.com/packet-exporter/packet-exporter/internal/live"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// The host the live view is tried on: liveInterfaces counted veths, of
// which liveBusy carry traffic (one of them a pod's), the others idle; the
// busiest receives liveRate datagrams of livePayload bytes a second, the
// others fewer.
const (
	liveInterfaces = 1000
	liveBusy       = 20
	liveRate       = 400
	livePayload    = 1000
	// The page on a laptop: its window, and at most this many screens tall
	// with the idle interfaces folded.
	laptopWidth, laptopHeight = 1280, 900
	maxScreens                = 3
)

// row is what a person sees in one row of the interfaces table.
type row struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Workload  string `json:"workload"`
	Namespace string `json:"namespace"`
	// RxBits and TxBits are the rates the row shows (data-value).
	RxBits string `json:"rxBits"`
	TxBits string `json:"txBits"`
}

// readRows reads the interfaces table, top to bottom.
const readRows = `[...document.querySelectorAll("#interfaces tbody tr[data-interface]")].map((r) => ({
  name: r.dataset.interface, kind: r.cells[1].textContent, workload: r.cells[2].textContent, namespace: r.cells[3].textContent,
  rxBits: r.cells[4].dataset.value || "", txBits: r.cells[5].dataset.value || ""}))`

// hostState is what the host's header shows.
type hostState struct {
	Status  string `json:"status"`
	Devices string `json:"devices"`
	RxBits  string `json:"rxBits"`
	TxBits  string `json:"txBits"`
	RxPkts  string `json:"rxPackets"`
	TxPkts  string `json:"txPackets"`
}

const readHost = `(() => {
  const v = (k) => document.querySelector('#host-rates [data-key="' + k + '"]')?.dataset.value || "";
  return {status: document.getElementById("status").textContent, devices: document.getElementById("host-devices").textContent,
    rxBits: v("rxBits"), txBits: v("txBits"), rxPackets: v("rxPackets"), txPackets: v("txPackets")};
})()`

// detailState is what the detail of the selected interface shows.
type detailState struct {
	Shown     bool       `json:"shown"`
	Overview  bool       `json:"overview"`
	Search    string     `json:"search"`
	Name      string     `json:"name"`
	What      []string   `json:"what"`
	RxBits    string     `json:"rxBits"`
	Protocols [][]string `json:"protocols"`
	Hooks     [][]string `json:"hooks"`
	// Windows is how many windows of history the chart drew.
	Windows int `json:"windows"`
}

const readDetail = `(() => {
  const cells = (id) => [...document.querySelectorAll("#" + id + " tbody tr")].map((r) => [...r.cells].map((c) => c.textContent));
  return {shown: !document.getElementById("detail").hidden, overview: !document.getElementById("overview").hidden,
    search: location.search, name: document.getElementById("detail-name").textContent,
    what: [...document.querySelectorAll("#detail-what dt, #detail-what dd")].map((e) => e.textContent),
    rxBits: document.querySelector('#detail-rates [data-key="rxBits"]')?.dataset.value || "",
    protocols: cells("detail-protocols"), hooks: cells("detail-hooks"),
    windows: detailPrevious ? detailPrevious.history.times_unix_ms.length : 0};
})()`

// liveHost is the host TestLiveViewInBrowser opens the page on: the
// exporter's namespace with its counted veths, and the traffic on them.
type liveHost struct {
	a, b *testenv.Netns
	// busiest is the pair with the most traffic, pod the pod's pair.
	busiest, pod *testenv.VethPair
	podName      string
	// wantBps is what the busiest receives, in bits/s.
	wantBps float64
	page    string
}

// newLiveHost makes liveInterfaces veths in a namespace of their own,
// liveBusy of them with traffic towards it (one from a pod's namespace),
// and starts the exporter there with a strict Content-Security-Policy.
func newLiveHost(t *testing.T, bin string) *liveHost {
	t.Helper()
	h := &liveHost{}
	var first *testenv.VethPair
	h.a, h.b, first = testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true})
	podNS := testenv.NewNetns(t)
	h.podName = "web-" + testenv.UniqueName("")[:6]
	pod := testenv.NewPod(t, podNS, "shop", h.podName, "nginx")
	pairs := []*testenv.VethPair{first, testenv.NewVethPair(t, h.a, podNS, testenv.VethOptions{Quiet: true})}
	for len(pairs) < liveBusy {
		pairs = append(pairs, testenv.NewVethPair(t, h.a, h.b, testenv.VethOptions{Quiet: true}))
	}
	h.busiest, h.pod = pairs[0], pairs[1]
	// The idle ones, s1 to s980 (named to show the natural sort), their
	// peers in b: created in one batch.
	var batch strings.Builder
	for k := 1; k <= liveInterfaces-liveBusy; k++ {
		fmt.Fprintf(&batch, "link add s%d type veth peer name s%d netns %s\n", k, k, h.b.Name)
	}
	cmd := exec.Command("ip", "-n", h.a.Name, "-batch", "-")
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("create %d veths: %v\n%s", liveInterfaces-liveBusy, err, out)
	}

	webConfig := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(webConfig, []byte("http_server_config:\n  headers:\n    Content-Security-Policy: \"default-src 'self'\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	harness.StartExporter(t, h.a, bin, harness.ExporterConfig{Interfaces: []string{h.busiest.NameA, h.pod.NameA},
		Include: []string{"*"}, WebConfigFile: webConfig, AttributionHostRoot: pod.HostRoot})
	h.page = "http://" + h.a.Forward(t, harness.MetricsAddress) + "/"

	// Traffic towards a: the busiest at liveRate, the others at a tenth or less.
	for k, p := range pairs {
		rate := liveRate
		if k > 0 {
			rate = liveRate/10 - k
		}
		sink := testtraffic.ListenUDP(t, h.a, p.IPv4A.Addr())
		frame := sendAtRate(t, p.B, p.IPv4B.Addr(), sink.Addr, rate, livePayload)
		if k == 0 {
			h.wantBps = float64(rate * frame * 8)
		}
	}
	return h
}

// summary fetches the summary the page polls.
func (h *liveHost) summary(t *testing.T) (s live.Summary, size int) {
	t.Helper()
	resp, err := http.Get(h.page + "api/v1/live?view=summary")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("summary: %v: %s", err, body)
	}
	return s, len(body)
}

// TestLiveViewInBrowser opens the live view in a real headless browser on
// a host of liveInterfaces counted veths, liveBusy of them with traffic:
// the page shows live numbers within 2 s, the busiest interface first with
// its rate near what is sent, the idle ones folded into a line and the page
// at most maxScreens screens tall; its own CPU stays under 5 % of a core
// while it polls; the host's totals are the sum of its devices' rows;
// names sort naturally; a filter by a pod's name leaves its veth, with the
// pod and its namespace; selecting it shows its detail and puts it in the
// URL, and back returns to the table; drops of the socket category (not
// losses) are hidden until asked for. All under a strict
// Content-Security-Policy, on a laptop's and a phone's screen (no sideways
// scrolling), with no error in the browser. Screenshots of both are written
// to the test's artifact directory.
func TestLiveViewInBrowser(t *testing.T) {
	bin := binaries(t)
	h := newLiveHost(t, bin.Exporter)
	// The agent's history has a few windows of every busy interface.
	var summary live.Summary
	var size int
	testexporter.WaitFor(t, "the summary to list the busy interfaces with a few windows", 30*time.Second, func() (bool, string) {
		summary, size = h.summary(t)
		busy := 0
		for _, i := range summary.Interfaces {
			if len(i.Trend) >= 3 {
				busy++
			}
		}
		return busy == liveBusy && summary.Idle == liveInterfaces-liveBusy, fmt.Sprintf("%d busy, %d idle", busy, summary.Idle)
	})
	t.Logf("the summary of %d interfaces (%d busy): %d bytes", liveInterfaces, liveBusy, size)
	ctx, errs := openBrowser(t)

	// First paint of live numbers: a row with its rate, from the navigation.
	opened := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(h.page)); err != nil {
		t.Fatal(err)
	}
	var rows []row
	var err error
	testexporter.WaitFor(t, "the live view to show the busiest interface first", 20*time.Second, func() (bool, string) {
		rows, err = chromedp.Run(ctx, chromedp.Evaluate[[]row](readRows))
		if err != nil {
			return false, err.Error()
		}
		return len(rows) > 0 && rows[0].RxBits != "", fmt.Sprintf("%+v", rows)
	})
	if took := time.Since(opened); took > 2*time.Second {
		t.Errorf("live numbers shown %v after the page was opened, want within 2 s", took.Round(10*time.Millisecond))
	} else {
		t.Logf("live numbers shown %v after the page was opened", took.Round(10*time.Millisecond))
	}
	checkRows(t, h, rows)

	// Idle interfaces folded: the page is short, and says how many.
	page, err := chromedp.Run(ctx, chromedp.Evaluate[[]any](`[document.documentElement.scrollHeight, document.getElementById("idle-note").textContent]`))
	if err != nil {
		t.Fatal(err)
	}
	if height := page[0].(float64); height > maxScreens*laptopHeight {
		t.Errorf("the page is %v pixels tall with the idle interfaces folded, want at most %d (%d screens)", height, maxScreens*laptopHeight, maxScreens)
	} else {
		t.Logf("the page is %v pixels tall (%.1f screens) on a %dx%d window", height, height/laptopHeight, laptopWidth, laptopHeight)
	}
	if note := page[1].(string); !strings.Contains(note, fmt.Sprintf("%d idle interfaces", liveInterfaces-liveBusy)) {
		t.Errorf("the idle line says %q, want %d idle interfaces", note, liveInterfaces-liveBusy)
	}
	checkPageCPU(ctx, t)
	checkHost(ctx, t)
	checkAgent(ctx, t)
	// Kept with go test -artifacts (make test-e2e passes it), else removed.
	dir := t.ArtifactDir()
	screenshot(ctx, t, filepath.Join(dir, "laptop.png"))
	checkNaturalSort(ctx, t)
	checkGrouping(ctx, t)
	checkPodDetail(ctx, t, h)
	checkDropCategories(ctx, t, h.a, h.b, h.busiest)

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

// openBrowser starts headless Chromium on a laptop's window, with the
// page's log and performance metrics on, for the rest of the test; the
// errors it reports are collected.
func openBrowser(t *testing.T) (context.Context, *browserErrors) {
	t.Helper()
	browser, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Skip(t, "the live view test needs Debian's chromium (.ci/run installs it): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	ctx, cancel = chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(laptopWidth, laptopHeight))...)
	t.Cleanup(cancel)
	ctx, cancel = chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // the tab, before listening
		t.Fatalf("start %s: %v", browser, err)
	}
	errs := &browserErrors{}
	if err := chromedp.Listen(ctx, errs.add); err != nil {
		t.Fatal(err)
	}
	enable := chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		if _, err := cdp.Call(ctx, target, cdplog.Enable, cdp.Empty{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, target, performance.Enable, performance.EnableParams{})
		return err
	})
	if err := chromedp.Do(ctx, enable, chromedp.EmulateViewport(laptopWidth, laptopHeight)); err != nil {
		t.Fatal(err)
	}
	return ctx, errs
}

// strictCSP serves next with a strict Content-Security-Policy, as the
// exporter's web configuration sets it in TestLiveViewInBrowser.
func strictCSP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
		next.ServeHTTP(w, r)
	})
}

// TestLiveViewHostInBrowser: the page's host totals are the sum of the
// host's own devices' rows: a physical device and a bond, not the device
// enslaved to the bond nor a pod's veth; its chart is drawn and its
// protocol mix is the devices' protocols with their shares of the packets.
// (A test's network namespace has no physical device or bond on this
// kernel: the page is served here by internal/live, the agent's view
// package, from a history of known totals, exactly as the binary serves
// it.)
func TestLiveViewHostInBrowser(t *testing.T) {
	ctx, errs := openBrowser(t)
	// Bytes and frames per second of each interface, each way.
	type rate struct{ rxBytes, rxPackets, txBytes, txPackets uint64 }
	interfaces := []struct {
		name, kind, master string
		rate               rate
		protocol           [2]string
	}{
		{"eth0", "device", "", rate{1000, 10, 250, 2}, [2]string{"ipv4", "tcp"}},
		{"bond0", "bond", "", rate{500, 5, 100, 1}, [2]string{"ipv6", "udp"}},
		{"eth1", "device", "bond0", rate{500, 5, 100, 1}, [2]string{"ipv6", "udp"}},
		{"veth1", "veth", "", rate{300, 3, 0, 0}, [2]string{"ipv4", "udp"}},
	}
	var seconds uint64
	history := live.NewHistory(live.Sources{Totals: func(fn func(live.Totals)) error {
		for _, i := range interfaces {
			r := i.rate
			t := live.Totals{Name: i.name, Kind: i.kind, Master: i.master,
				ReceivePackets: r.rxPackets * seconds, ReceiveBytes: r.rxBytes * seconds,
				TransmitPackets: r.txPackets * seconds, TransmitBytes: r.txBytes * seconds}
			t.Protocols = []live.ProtocolTotals{{NetworkType: i.protocol[0], Transport: i.protocol[1],
				ReceivePackets: t.ReceivePackets, ReceiveBytes: t.ReceiveBytes, TransmitPackets: t.TransmitPackets, TransmitBytes: t.TransmitBytes}}
			fn(t)
		}
		return nil
	}})
	start := time.Now().Add(-10 * time.Second)
	for seconds = range 10 {
		if err := history.Sample(start.Add(time.Duration(seconds) * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/{$}", live.PageHandler(live.PageData{Version: "test"}))
	mux.Handle(live.AssetsPath, live.AssetsHandler())
	mux.Handle(live.Path, live.SnapshotHandler(live.NewSource(sdkmetric.NewManualReader(), history), 5*time.Second, zap.NewNop()))
	srv := httptest.NewServer(strictCSP(mux))
	t.Cleanup(srv.Close)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}

	type hostPage struct {
		Host      hostState  `json:"host"`
		Rows      []row      `json:"rows"`
		Protocols [][]string `json:"protocols"`
		Chart     bool       `json:"chart"`
	}
	var page hostPage
	var err error
	testexporter.WaitFor(t, "the host's totals", 10*time.Second, func() (bool, string) {
		page, err = chromedp.Run(ctx, chromedp.Evaluate[hostPage](`({host: `+readHost+`, rows: `+readRows+`,
  protocols: [...document.querySelectorAll("#protocols tbody tr")].map((r) => [...r.cells].map((c) => c.textContent)),
  chart: !document.getElementById("host-chart").hidden && document.getElementById("host-chart").clientHeight > 0})`))
		if err != nil {
			return false, err.Error()
		}
		return page.Host.RxBits != "" && len(page.Rows) == len(interfaces), fmt.Sprintf("%+v", page)
	})
	rows := map[string]row{}
	for _, r := range page.Rows {
		rows[r.Name] = r
	}
	var rx, tx float64
	for _, name := range []string{"eth0", "bond0"} {
		rx += parse(t, rows[name].RxBits)
		tx += parse(t, rows[name].TxBits)
	}
	if !near(parse(t, page.Host.RxBits), rx) || !near(parse(t, page.Host.TxBits), tx) || rx != 8*1500 || tx != 8*350 {
		t.Errorf("the host shows %s bits/s received and %s transmitted; eth0's and bond0's rows add up to %v and %v, want %v and %v",
			page.Host.RxBits, page.Host.TxBits, rx, tx, 8*1500, 8*350)
	}
	if page.Host.RxPkts != "15" || page.Host.TxPkts != "3" || !strings.Contains(page.Host.Devices, "(bond0, eth0)") || !page.Chart {
		t.Errorf("the host: %+v, chart shown %v; want 15 and 3 packets/s of bond0 and eth0, and a chart", page.Host, page.Chart)
	}
	// Frames both ways: ipv4/tcp 12 of 18 a second, ipv6/udp 6.
	want := [][]string{{"ipv4/tcp", "10 p/s", "2 p/s", "10.0 kb/s", "67 %"}, {"ipv6/udp", "5 p/s", "1 p/s", "4.8 kb/s", "33 %"}}
	if !slices.EqualFunc(page.Protocols, want, slices.Equal) {
		t.Errorf("the host's protocol mix: %q, want %q", page.Protocols, want)
	}
	screenshot(ctx, t, filepath.Join(t.ArtifactDir(), "host.png"))
	if problems := errs.list(); len(problems) > 0 {
		t.Errorf("the browser reported errors:\n%s", strings.Join(problems, "\n"))
	}
}

// checkRows checks the first rows: the busiest interface first, with its
// rate near what it receives and nothing transmitted, and only busy
// interfaces listed.
func checkRows(t *testing.T, h *liveHost, rows []row) {
	t.Helper()
	if len(rows) != liveBusy {
		t.Errorf("%d rows with the idle interfaces folded, want the %d busy ones", len(rows), liveBusy)
	}
	top := rows[0]
	if top.Name != h.busiest.NameA {
		t.Fatalf("the first row is %q, want the busiest interface %s: %+v", top.Name, h.busiest.NameA, rows)
	}
	if rx := parse(t, top.RxBits); rx < h.wantBps/2 || rx > h.wantBps*2 {
		t.Errorf("the busiest interface receives %v bits/s, the page says; want about %v", rx, h.wantBps)
	}
	if top.TxBits != "0" {
		t.Errorf("the busiest interface transmits %s bits/s, the page says; want 0", top.TxBits)
	}
	t.Logf("first row: %+v (sent %v bits/s)", top, h.wantBps)
}

// checkPageCPU measures the page's CPU time over 10 seconds of polling
// (Chromium's ProcessTime: the renderer process's CPU time, which other
// load on the machine does not inflate, unlike the tasks' wall time): under
// 5 % of a core.
func checkPageCPU(ctx context.Context, t *testing.T) {
	t.Helper()
	metrics := func() map[string]float64 {
		var got performance.GetMetricsResult
		if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
			var err error
			got, err = cdp.Call(ctx, target, performance.GetMetrics, cdp.Empty{})
			return err
		})); err != nil {
			t.Fatal(err)
		}
		m := map[string]float64{}
		for _, metric := range got.Metrics {
			m[metric.Name] = metric.Value
		}
		return m
	}
	before := metrics()
	time.Sleep(10 * time.Second)
	after := metrics()
	elapsed := after["Timestamp"] - before["Timestamp"]
	share := func(name string) float64 { return (after[name] - before[name]) / elapsed }
	if _, ok := after["ProcessTime"]; !ok {
		t.Fatalf("Chromium reports no ProcessTime: %v", after)
	}
	msg := fmt.Sprintf("the page used %.2f %% of a core while polling (%.3f s of CPU in %.1f s; main thread %.2f %%, tasks' wall time %.2f %%)",
		100*share("ProcessTime"), after["ProcessTime"]-before["ProcessTime"], elapsed, 100*share("ThreadTime"), 100*share("TaskDuration"))
	if share("ProcessTime") >= 0.05 {
		t.Errorf("%s, want under 5 %%", msg)
	} else {
		t.Log(msg)
	}
}

// checkHost checks the host's header: its totals are the sum of the rows
// of the host's devices (physical devices and bonds): none in the test's
// namespace, which the page says.
func checkHost(ctx context.Context, t *testing.T) {
	t.Helper()
	type hostAndRows struct {
		Host hostState `json:"host"`
		Rows []row     `json:"rows"`
	}
	both, err := chromedp.Run(ctx, chromedp.Evaluate[hostAndRows](`({host: `+readHost+`, rows: `+readRows+`})`))
	if err != nil {
		t.Fatal(err)
	}
	var rx, tx float64
	devices := 0
	for _, r := range both.Rows {
		if r.Kind == "device" || r.Kind == "bond" {
			devices++
			rx += parse(t, r.RxBits)
			tx += parse(t, r.TxBits)
		}
	}
	switch {
	case devices == 0:
		// Nothing to add up: the host shows no number, and says why.
		if both.Host.RxBits != "" || both.Host.TxBits != "" || !strings.Contains(both.Host.Devices, "No device") {
			t.Errorf("no device counted, but the host shows %+v", both.Host)
		}
	case both.Host.RxBits == "" || !near(parse(t, both.Host.RxBits), rx) || !near(parse(t, both.Host.TxBits), tx):
		t.Errorf("the host shows %s bits/s received, %s transmitted; its %d devices' rows add up to %v and %v", both.Host.RxBits, both.Host.TxBits, devices, rx, tx)
	}
}

// near tells whether two sums of the same float32 rates agree, as summed
// by the agent and by the test.
func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(math.Abs(a), math.Abs(b)) }

// checkAgent checks the agent's health: every interface counted, both
// directions attached on each, nothing failed or skipped.
func checkAgent(ctx context.Context, t *testing.T) {
	t.Helper()
	agent, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`(() => {
  const m = {};
  for (const dt of document.querySelectorAll("#agent dt")) m[dt.textContent] = dt.nextElementSibling.textContent;
  return m;
})()`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"interfaces counted": strconv.Itoa(liveInterfaces), "programs attached": strconv.Itoa(2 * liveInterfaces),
		"interfaces skipped": "0", "attach failures": "0", "events lost": "0", "frames with a parse error": "0"}
	if !maps.Equal(agent, want) {
		t.Errorf("the agent's health shows %v, want %v", agent, want)
	}
}

// checkNaturalSort shows the idle interfaces, sorts by name and checks
// that s2 comes before s10.
func checkNaturalSort(ctx context.Context, t *testing.T) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#show-idle")), chromedp.Click(chromedp.CSS(`#interfaces button[data-sort="name"]`))); err != nil {
		t.Fatal(err)
	}
	var names []string
	testexporter.WaitFor(t, "every interface listed by name", 10*time.Second, func() (bool, string) {
		rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]row](readRows))
		if err != nil {
			return false, err.Error()
		}
		names = names[:0]
		for _, r := range rows {
			if strings.HasPrefix(r.Name, "s") {
				names = append(names, r.Name)
			}
		}
		return len(rows) == liveInterfaces, fmt.Sprintf("%d rows", len(rows))
	})
	for k, name := range names {
		if want := fmt.Sprintf("s%d", k+1); name != want {
			t.Fatalf("by name, row %d of the idle veths is %s, want %s (natural order)", k, name, want)
		}
	}
	// Back to the default: the idle ones folded, busiest first.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#show-idle")), chromedp.Click(chromedp.CSS(`#interfaces button[data-sort="traffic"]`))); err != nil {
		t.Fatal(err)
	}
}

// checkGrouping groups the busy interfaces by namespace: the pod's
// namespace with its one veth, the busiest group first, and the others
// without a namespace; then back to no grouping.
func checkGrouping(ctx context.Context, t *testing.T) {
	t.Helper()
	group := func(by string) []string {
		t.Helper()
		headers, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
  const g = document.getElementById("group");
  g.value = `+strconv.Quote(by)+`;
  g.dispatchEvent(new Event("change"));
  return [...document.querySelectorAll("#interfaces tbody tr.group")].map((r) => r.textContent);
})()`))
		if err != nil {
			t.Fatal(err)
		}
		return headers
	}
	headers := group("namespace")
	if len(headers) != 2 || !strings.HasPrefix(headers[0], fmt.Sprintf("no namespace · %d interfaces", liveBusy-1)) ||
		!strings.HasPrefix(headers[1], "namespace shop · 1 interface ·") {
		t.Errorf("grouped by namespace: %q, want the %d interfaces of no namespace (the busiest), then shop's one", headers, liveBusy-1)
	}
	if headers := group(""); len(headers) != 0 {
		t.Errorf("without grouping: group rows %q", headers)
	}
}

// checkPodDetail filters by the pod's name, checks its row, selects it and
// goes back with the browser; then opens the detail from its link and goes
// to the table with the page's link.
func checkPodDetail(ctx context.Context, t *testing.T, h *liveHost) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#filter"), h.podName)); err != nil {
		t.Fatal(err)
	}
	var rows []row
	var err error
	testexporter.WaitFor(t, "the filter to leave the pod's veth", 10*time.Second, func() (bool, string) {
		rows, err = chromedp.Run(ctx, chromedp.Evaluate[[]row](readRows))
		if err != nil {
			return false, err.Error()
		}
		return len(rows) == 1 && rows[0].Workload != "", fmt.Sprintf("%+v", rows)
	})
	if want := (row{Name: h.pod.NameA, Kind: "veth", Workload: "pod " + h.podName, Namespace: "shop"}); rows[0].Name != want.Name ||
		rows[0].Kind != want.Kind || rows[0].Workload != want.Workload || rows[0].Namespace != want.Namespace {
		t.Errorf("filtered by %q: %+v, want %+v", h.podName, rows[0], want)
	}

	link := `#interfaces tr[data-interface="` + h.pod.NameA + `"] a`
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(link))); err != nil {
		t.Fatal(err)
	}
	var d detailState
	testexporter.WaitFor(t, "the pod's veth's detail", 10*time.Second, func() (bool, string) {
		if d, err = chromedp.Run(ctx, chromedp.Evaluate[detailState](readDetail)); err != nil {
			return false, err.Error()
		}
		return d.Shown && d.RxBits != "" && len(d.Protocols) > 0, fmt.Sprintf("%+v", d)
	})
	if d.Overview || d.Name != h.pod.NameA || d.Search != "?interface="+h.pod.NameA {
		t.Errorf("detail: %+v, want %s alone, in the URL", d, h.pod.NameA)
	}
	if !slices.Contains(d.What, "pod (behind its peer)") || !slices.Contains(d.What, h.podName) || !slices.Contains(d.What, "shop") {
		t.Errorf("the detail says %q, want the pod %s of shop", d.What, h.podName)
	}
	if d.Windows < 3 || len(d.Hooks) == 0 || d.Protocols[0][0] != "ipv4/udp" {
		t.Errorf("the detail has %d windows of history, programs %q, protocols %q; want a chart, tcx and ipv4/udp", d.Windows, d.Hooks, d.Protocols)
	}
	t.Logf("detail: %+v", d)
	screenshot(ctx, t, filepath.Join(t.ArtifactDir(), "detail.png"))

	if err := chromedp.Do(ctx, chromedp.NavigateBack()); err != nil {
		t.Fatal(err)
	}
	testexporter.WaitFor(t, "back to the table", 5*time.Second, func() (bool, string) {
		if d, err = chromedp.Run(ctx, chromedp.Evaluate[detailState](readDetail)); err != nil {
			return false, err.Error()
		}
		return !d.Shown && d.Overview && d.Search == "", fmt.Sprintf("%+v", d)
	})
	// The page's own way back, "← All interfaces", after a link opened
	// straight on the detail (nothing to go back to in the page).
	if err := chromedp.Do(ctx, chromedp.Navigate(h.page+"?interface="+h.pod.NameA)); err != nil {
		t.Fatal(err)
	}
	testexporter.WaitFor(t, "the detail opened from its link", 10*time.Second, func() (bool, string) {
		if d, err = chromedp.Run(ctx, chromedp.Evaluate[detailState](readDetail)); err != nil {
			return false, err.Error()
		}
		return d.Shown && d.Name == h.pod.NameA && d.RxBits != "", fmt.Sprintf("%+v", d)
	})
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#back"))); err != nil {
		t.Fatal(err)
	}
	testexporter.WaitFor(t, "the table after “All interfaces”", 5*time.Second, func() (bool, string) {
		if d, err = chromedp.Run(ctx, chromedp.Evaluate[detailState](readDetail)); err != nil {
			return false, err.Error()
		}
		return !d.Shown && d.Overview && d.Search == "", fmt.Sprintf("%+v", d)
	})
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
		`(() => { const f = document.getElementById("filter"); f.value = ""; return f.dispatchEvent(new Event("input")); })()`)); err != nil {
		t.Fatal(err)
	}
}

// dropsState is what the host's drop table shows.
type dropsState struct {
	// Rows are the table's rows (reason, category, packets/s, last two
	// minutes), none while it is hidden.
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

// TestLiveViewTunnelsInBrowser: an interface's detail shows the mix inside
// its tunnels, by tunnel type and the protocol of the packet inside, with
// each row's share of the tunnel frames; an interface that never carried a
// tunnel shows no such table. (Served by internal/live from a metrics reader
// whose counters grow by known amounts at each collection, as
// TestLiveViewHostInBrowser serves its history: the real tunnel series are
// TestTunnelDevices' in receiver/.)
func TestLiveViewTunnelsInBrowser(t *testing.T) {
	ctx, errs := openBrowser(t)
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { provider.Shutdown(context.Background()) })
	meter := provider.Meter("test")
	// Per collection: eth0 receives 100 UDP frames, of which 75 carry TCP
	// and 20 UDP inside VXLAN, and 5 carry ICMP inside GRE; eth1 none.
	var collections atomic.Int64
	series := func(iface string, extra ...attribute.KeyValue) metric.ObserveOption {
		return metric.WithAttributes(append([]attribute.KeyValue{metricdef.NetworkInterfaceName.String(iface), metricdef.NetworkIODirection.String("receive")}, extra...)...)
	}
	inside := func(tunnel, transport string) metric.ObserveOption {
		return series("eth0", metricdef.TunnelType.String(tunnel), metricdef.NetworkType.String("ipv4"), metricdef.NetworkTransport.String(transport))
	}
	packets, err := meter.Int64ObservableCounter(metricdef.NetworkPackets.Name)
	if err != nil {
		t.Fatal(err)
	}
	tunnelPackets, err := meter.Int64ObservableCounter(metricdef.NetworkTunnelPackets.Name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		n := collections.Add(1)
		udp := []attribute.KeyValue{metricdef.NetworkType.String("ipv4"), metricdef.NetworkTransport.String("udp")}
		o.ObserveInt64(packets, 100*n, series("eth0", udp...))
		o.ObserveInt64(packets, 10*n, series("eth1", udp...))
		o.ObserveInt64(tunnelPackets, 75*n, inside("vxlan", "tcp"))
		o.ObserveInt64(tunnelPackets, 20*n, inside("vxlan", "udp"))
		o.ObserveInt64(tunnelPackets, 5*n, inside("gre", "icmp"))
		return nil
	}, packets, tunnelPackets); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/{$}", live.PageHandler(live.PageData{Version: "test"}))
	mux.Handle(live.AssetsPath, live.AssetsHandler())
	mux.Handle(live.Path, live.SnapshotHandler(live.NewSource(reader, nil), 5*time.Second, zap.NewNop()))
	srv := httptest.NewServer(strictCSP(mux))
	t.Cleanup(srv.Close)

	type tunnelsPage struct {
		Shown bool       `json:"shown"`
		Rows  [][]string `json:"rows"`
	}
	const readTunnels = `({shown: !document.getElementById("detail-tunnels-section").hidden,
  rows: [...document.querySelectorAll("#detail-tunnels tbody tr")].map((r) => [r.cells[0].textContent, r.cells[4].textContent])})`
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/?interface=eth0")); err != nil {
		t.Fatal(err)
	}
	var page tunnelsPage
	testexporter.WaitFor(t, "eth0's tunnel mix", 10*time.Second, func() (bool, string) {
		page, err = chromedp.Run(ctx, chromedp.Evaluate[tunnelsPage](readTunnels))
		if err != nil {
			return false, err.Error()
		}
		return page.Shown && len(page.Rows) == 3, fmt.Sprintf("%+v", page)
	})
	want := [][]string{{"vxlan · ipv4/tcp", "75 %"}, {"vxlan · ipv4/udp", "20 %"}, {"gre · ipv4/icmp", "5.0 %"}}
	if !slices.EqualFunc(page.Rows, want, slices.Equal) {
		t.Errorf("eth0's tunnel mix: %q, want %q", page.Rows, want)
	}
	screenshot(ctx, t, filepath.Join(t.ArtifactDir(), "tunnels.png"))

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/?interface=eth1")); err != nil {
		t.Fatal(err)
	}
	testexporter.WaitFor(t, "eth1's detail", 10*time.Second, func() (bool, string) {
		var name string
		name, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("detail-name").textContent`))
		return err == nil && name == "eth1", fmt.Sprint(name, err)
	})
	if page, err = chromedp.Run(ctx, chromedp.Evaluate[tunnelsPage](readTunnels)); err != nil || page.Shown {
		t.Errorf("eth1, which never carried a tunnel, shows a tunnel mix: %+v (%v)", page, err)
	}
	if problems := errs.list(); len(problems) > 0 {
		t.Errorf("the browser reported errors:\n%s", strings.Join(problems, "\n"))
	}
}
