package deploy

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
	tf "github.com/packet-exporter/packet-exporter/internal/testing/testframe"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// TestPromtoolCheckConfig runs `promtool check config` on the shipped
// Prometheus configuration (which checks its rule files too) and the unit
// tests of the alerts.
func TestPromtoolCheckConfig(t *testing.T) {
	requireTool(t, "promtool")
	out, err := exec.Command("promtool", "check", "config", repoPath("deploy", "prometheus", "prometheus.yml")).CombinedOutput()
	if err != nil {
		t.Errorf("promtool check config deploy/prometheus/prometheus.yml: %v\n%s", err, out)
	}
	cmd := exec.Command("promtool", "test", "rules", "alerts_test.yml")
	cmd.Dir = repoPath("deploy", "prometheus")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool test rules deploy/prometheus/alerts_test.yml: %v\n%s", err, out)
	}
}

// Timing of the Prometheus test: a fast scrape, and the window the dashboard's
// $__rate_interval and $__range are given (16 scrapes).
const (
	testScrapeInterval = 500 * time.Millisecond
	testRateWindow     = 8 * time.Second
)

// testPromConfig writes the test copy of deploy/prometheus/prometheus.yml (and
// its rule files) into dir: the same file with only the global intervals
// made short and the host of every target replaced by 127.0.0.1 (everything
// runs in one network namespace; the ports stay as shipped).
func testPromConfig(t *testing.T, dir string) string {
	t.Helper()
	var cfg map[string]any
	if err := yaml.Unmarshal(readRepoFile(t, "deploy", "prometheus", "prometheus.yml"), &cfg); err != nil {
		t.Fatal(err)
	}
	global, _ := cfg["global"].(map[string]any)
	if global == nil {
		t.Fatalf("prometheus.yml has no global section")
	}
	global["scrape_interval"] = testScrapeInterval.String()
	global["scrape_timeout"] = (testScrapeInterval * 4 / 5).String()
	global["evaluation_interval"] = "1s"
	scs, _ := cfg["scrape_configs"].([]any)
	for _, sc := range scs {
		sc := sc.(map[string]any)
		for _, k := range []string{"scrape_interval", "scrape_timeout"} {
			if _, ok := sc[k]; ok {
				t.Fatalf("job %v sets its own %s: the test only shortens the global one", sc["job_name"], k)
			}
		}
		statics, _ := sc["static_configs"].([]any)
		for _, st := range statics {
			st := st.(map[string]any)
			targets, _ := st["targets"].([]any)
			for i, tg := range targets {
				_, port, err := net.SplitHostPort(tg.(string))
				if err != nil {
					t.Fatalf("target %v: %v", tg, err)
				}
				targets[i] = net.JoinHostPort("127.0.0.1", port)
			}
		}
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, rf := range readPromConfig(t).RuleFiles {
		if err := os.WriteFile(filepath.Join(dir, rf), readRepoFile(t, "deploy", "prometheus", rf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("promtool", "check", "config", p).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config on the test copy: %v\n%s", err, out)
	}
	return p
}

// testExporterConfig writes the compose stack's exporter configuration
// (deploy/compose/packet-exporter.yaml) with the listen address moved to the
// namespace's loopback address (same port) and a 1 s OTLP interval. Its OTLP
// endpoint, 127.0.0.1:4317, has no collector in the test namespace: every
// export fails, which the OTLP panels show.
func testExporterConfig(t *testing.T, dir string) (path, listen string) {
	t.Helper()
	var cfg map[string]any
	if err := yaml.Unmarshal(readRepoFile(t, "deploy", "compose", "packet-exporter.yaml"), &cfg); err != nil {
		t.Fatal(err)
	}
	prom := cfg["prometheus"].(map[string]any)
	_, port, err := net.SplitHostPort(prom["listen_address"].(string))
	if err != nil {
		t.Fatal(err)
	}
	listen = net.JoinHostPort("127.0.0.1", port)
	prom["listen_address"] = listen
	otlp := cfg["otlp"].(map[string]any)
	otlp["interval"] = "1s"
	otlp["timeout"] = "500ms"
	// Persistence in a BPF filesystem of the test's own, not the host's.
	if persistence, ok := cfg["persistence"].(map[string]any); ok {
		persistence["path"] = filepath.Join(testenv.MountBPFFS(t), "packet-exporter")
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "packet-exporter.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, listen
}

// promAPI queries Prometheus's HTTP API.
type promAPI struct {
	client *http.Client
	base   string
}

type promSample struct {
	Metric map[string]string
	Value  float64
}

// get calls an API endpoint (POST for queries, which may be long; GET for
// the others, which accept nothing else) and decodes its data.
func (p promAPI) get(path string, params url.Values, data any) error {
	var (
		resp *http.Response
		err  error
	)
	if path == "/api/v1/query" {
		resp, err = p.client.PostForm(p.base+path, params)
	} else {
		resp, err = p.client.Get(p.base + path + "?" + params.Encode())
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: %s: %s", path, resp.Status, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s %v: %s", path, params, env.Error)
	}
	return json.Unmarshal(env.Data, data)
}

// query evaluates an instant vector expression at time at.
func (p promAPI) query(expr string, at time.Time) ([]promSample, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	params := url.Values{"query": {expr}, "time": {fmtTime(at)}}
	if err := p.get("/api/v1/query", params, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("%s: result type %s, want vector", expr, data.ResultType)
	}
	var res []promSample
	for _, r := range data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: value %v: %w", expr, r.Value[1], err)
		}
		res = append(res, promSample{Metric: r.Metric, Value: v})
	}
	return res, nil
}

// sampleTimes returns the timestamps of the raw samples of a range selector
// expression evaluated at at (of its first series).
func (p promAPI) sampleTimes(expr string, at time.Time) ([]float64, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Values [][2]any `json:"values"`
		} `json:"result"`
	}
	if err := p.get("/api/v1/query", url.Values{"query": {expr}, "time": {fmtTime(at)}}, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "matrix" || len(data.Result) == 0 {
		return nil, fmt.Errorf("%s: no samples (%s)", expr, data.ResultType)
	}
	var ts []float64
	for _, v := range data.Result[0].Values {
		f, _ := v[0].(float64)
		ts = append(ts, f)
	}
	return ts, nil
}

func (p promAPI) labelValues(label, match string) ([]string, error) {
	var vals []string
	err := p.get("/api/v1/label/"+label+"/values", url.Values{"match[]": {match}}, &vals)
	return vals, err
}

func fmtTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// seriesKey names a traffic series by interface, direction, type, transport.
type seriesKey struct{ iface, dir, typ, transport string }

// counts are expected packet and byte totals.
type counts struct{ packets, bytes float64 }

// trafficPlan sends known traffic between the namespaces and returns what
// each traffic series of the exporter (which counts in a) gains, and what the
// ICMP flows gain (by flowName). Every series gets k frames of one size, so
// that prewarm (k=1) and burst (k=N) are proportional series by series.
type trafficPlan func(k int) (map[seriesKey]counts, map[string]counts)

// flowName names a flow series by its labels.
func flowName(m map[string]string) string {
	return fmt.Sprintf("%s %s %s %s:%s > %s:%s", m["network_interface_name"], m["network_io_direction"], m["network_transport"],
		m["source_address"], m["source_port"], m["destination_address"], m["destination_port"])
}

func newTrafficPlan(t *testing.T, a, b *testenv.Netns, p1, p2 *testenv.VethPair) trafficPlan {
	v4a, v4b := p1.IPv4A.Addr(), p1.IPv4B.Addr()
	v6a, v6b := p1.IPv6A.Addr(), p1.IPv6B.Addr()
	sinkA := testtraffic.ListenUDP(t, a, v4a)
	sinkB := testtraffic.ListenUDP(t, b, v4b)
	sinkA6 := testtraffic.ListenUDP(t, a, v6a)
	return func(k int) (map[seriesKey]counts, map[string]counts) {
		exp := map[seriesKey]counts{}
		flows := map[string]counts{}
		add := func(key seriesKey, size int) {
			c := exp[key]
			c.packets += float64(k)
			c.bytes += float64(k * size)
			exp[key] = c
		}
		// ICMP has no ports: the echo requests and the replies are one flow
		// each, the same in the prewarm and the burst.
		addFlow := func(iface, dir, transport string, src, dst netip.Addr, size int) {
			name := flowName(map[string]string{"network_interface_name": iface, "network_io_direction": dir,
				"network_transport": transport, "source_address": src.String(), "destination_address": dst.String()})
			flows[name] = counts{float64(k), float64(k * size)}
		}
		in, out := p1.NameA, p1.NameA
		add(seriesKey{in, "receive", "ipv4", "udp"}, testtraffic.SendUDP(t, b, v4b, sinkA.Addr, k, 100))
		add(seriesKey{out, "transmit", "ipv4", "udp"}, testtraffic.SendUDP(t, a, v4a, sinkB.Addr, k, 300))
		add(seriesKey{in, "receive", "ipv6", "udp"}, testtraffic.SendUDP(t, b, v6b, sinkA6.Addr, k, 200))
		// SYNs to a closed port, each answered by a RST of the same size.
		n := testtraffic.SendTCPSYN(t, b, v4b, v4a, 9, k)
		add(seriesKey{in, "receive", "ipv4", "tcp"}, n)
		add(seriesKey{out, "transmit", "ipv4", "tcp"}, n)
		// Echo requests, each answered by a reply of the same size.
		n = testtraffic.SendEcho(t, b, v4b, v4a, k, 56)
		add(seriesKey{in, "receive", "ipv4", "icmp"}, n)
		add(seriesKey{out, "transmit", "ipv4", "icmp"}, n)
		addFlow(in, "receive", "icmp", v4b, v4a, n)
		addFlow(out, "transmit", "icmp", v4a, v4b, n)
		n = testtraffic.SendEcho(t, b, v6b, v6a, k, 24)
		add(seriesKey{in, "receive", "ipv6", "icmpv6"}, n)
		add(seriesKey{out, "transmit", "ipv6", "icmpv6"}, n)
		addFlow(in, "receive", "icmpv6", v6b, v6a, n)
		addFlow(out, "transmit", "icmpv6", v6a, v6b, n)
		// IPv4 frames cut inside the IP header, on the second pair: counted
		// as ipv4/other and as parse errors (truncated).
		add(seriesKey{p2.NameA, "receive", "ipv4", "other"}, sendTruncatedIPv4(t, b, p2, k))
		// VXLAN frames carrying IPv4/TCP, on the second pair: counted as
		// ipv4/udp and in the tunnel series, then dropped (otherhost).
		frame := vxlanFrame(p2)
		frames := make([][]byte, k)
		for i := range frames {
			frames[i] = frame
		}
		testtraffic.SendFrames(t, b, p2.IndexB, frames...)
		add(seriesKey{p2.NameA, "receive", "ipv4", "udp"}, len(frame))
		return exp, flows
	}
}

// vxlanFrame is a VXLAN frame from the B end of pair p to its A end's
// address, carrying an IPv4/TCP segment, sent to an Ethernet address that is
// neither end's: the A end counts it, then drops it (otherhost), unanswered.
func vxlanFrame(p *testenv.VethPair) []byte {
	inner := tf.MustBuild(tf.Frame{IPv4: &tf.IPv4{}, TCP: &tf.TCP{SrcPort: 40000, DstPort: 80, Flags: 0x10}, Payload: make([]byte, 40)})
	f := tf.Frame{Dst: [6]byte{0x02, 0x5e, 0x10, 0, 0, 0x26}, IPv4: &tf.IPv4{Src: p.IPv4B.Addr(), Dst: p.IPv4A.Addr()},
		UDP: &tf.UDP{SrcPort: 40026, DstPort: 4789}, Payload: tf.VXLAN(tf.VXLANFlagVNI, 26, inner)}
	copy(f.Src[:], p.MACB)
	return tf.MustBuild(f)
}

// sendTruncatedIPv4 sends k Ethernet frames from the B end of pair p (in ns)
// to its A end whose IPv4 header stops after 10 of its 20 bytes, through a
// packet socket, and returns their size.
func sendTruncatedIPv4(t *testing.T, ns *testenv.Netns, p *testenv.VethPair, k int) int {
	t.Helper()
	frame := make([]byte, 0, 24)
	frame = append(frame, p.MACA...)
	frame = append(frame, p.MACB...)
	frame = append(frame, 0x08, 0x00)                                       // IPv4
	frame = append(frame, 0x45, 0, 0, 20, 0, 0, 0, 0, 64, unix.IPPROTO_UDP) // 10 of 20 header bytes
	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrLinklayer{Ifindex: p.IndexB, Halen: 6}
		copy(sa.Addr[:], p.MACA)
		for range k {
			if err := unix.Sendto(fd, frame, 0, sa); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("send truncated frames on %s: %v", p.NameB, err)
	}
	return len(frame)
}

// TestPrometheusDashboardQueries runs the real packet-exporter (built by the
// Dockerfile's command, with the compose stack's exporter configuration and
// only the container's capabilities) and a real Prometheus (with the compose
// stack's prometheus.yml and alerts.yml, test copy: see testPromConfig) in one
// test network namespace, sends traffic of known size over two veth pairs,
// and evaluates every query of the Grafana dashboard through Prometheus's
// HTTP API, with the dashboard's variables interpolated as Grafana would.
// Every query must succeed and return data (the compose configuration turns
// the event stream and flows on, so the flow panels have data too), and the
// numbers must match the traffic sent:
//
//   - The scraped totals equal the traffic exactly, series by series.
//   - rate() and increase() extrapolate: over a window of W seconds in which
//     a series grew by D, Prometheus returns D*f/W (increase: D*f), where
//     1 <= f <= W/S and S is the time between the window's first and last
//     sample. Every traffic series got the same share before the window
//     (prewarm, k=1) and inside it (burst, k=N), and all are scraped at the
//     same instants, so f is the same for all of them: the test checks every
//     rate panel against that one f, f against its bounds, and ratios (the
//     average packet size) exactly.
func TestPrometheusDashboardQueries(t *testing.T) {
	testenv.RequireRoot(t)
	requireTool(t, "prometheus", "promtool", "setpriv", "ip")
	bin := exporterBinary(t)
	d, _ := readDashboard(t)

	a := testenv.NewNetns(t)
	b := testenv.NewNetns(t)
	opts := testenv.VethOptions{Quiet: true, DisableOffloads: true}
	p1 := testenv.NewVethPair(t, a, b, opts)
	p2 := testenv.NewVethPair(t, a, b, opts)
	// A tun device: not Ethernet, so skipped (unsupported_link_type), which
	// the "not counted" panels show.
	tun := testenv.UniqueName("pet")
	if out, err := a.Exec("ip", "tuntap", "add", "mode", "tun", "name", tun); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := a.Exec("ip", "link", "set", tun, "up"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}

	dir := t.TempDir()
	cfgPath, listen := testExporterConfig(t, dir)
	caps := loadCompose(t).Services["packet-exporter"].CapAdd
	exporter := testexporter.StartExporter(t, testexporter.Options{Netns: a, StopTimeout: stopTimeout}, listen,
		append(containerCredentials(caps), bin, "--config", cfgPath)...)
	client := a.HTTPClient()
	client.Timeout = 5 * time.Second
	exporter.Client = client
	exporter.WaitReady(t, 30*time.Second)

	promCfg := testPromConfig(t, dir)
	prom := testexporter.Start(t, testexporter.Options{Netns: a, StopTimeout: stopTimeout}, "prometheus",
		"--config.file="+promCfg,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--storage.tsdb.retention.time=1h",
		"--web.listen-address=127.0.0.1:9090",
		"--log.level=warn")
	api := promAPI{client: client, base: "http://127.0.0.1:9090"}
	prom.WaitFor(t, "Prometheus to scrape packet-exporter", 30*time.Second, func() (bool, string) {
		res, err := api.query(`up{job="packet-exporter"} == 1`, time.Now())
		if err != nil {
			return false, err.Error()
		}
		return len(res) == 1, fmt.Sprintf("%d results", len(res))
	})
	// The drop counter starts beside the interfaces, not waited for by
	// readiness: wait until it counts (feature drop_reasons 1), so that the
	// prewarm's drops are counted and their series, like the traffic's, exist
	// before the window.
	exporter.WaitFor(t, "packet-exporter's drop counter (kernel feature drop_reasons 1)", 30*time.Second, func() (bool, string) {
		res, err := api.query(`packet_exporter_kernel_features{job="packet-exporter", feature="drop_reasons"}`, time.Now())
		if err != nil {
			return false, err.Error()
		}
		if len(res) != 1 {
			return false, fmt.Sprintf("%d series", len(res))
		}
		return res[0].Value == 1, fmt.Sprintf("drop_reasons %g", res[0].Value)
	})

	// Traffic: a prewarm (one frame per series), so that every series exists
	// before the window, then a burst of N frames per series.
	const burst = 20
	plan := newTrafficPlan(t, a, b, p1, p2)
	unit, unitFlows := plan(1)
	prewarmSeen := waitTotals(t, api, unit, 1)
	time.Sleep(2 * time.Second)
	burstStart := time.Now()
	plan(burst)
	burstSeen := waitTotals(t, api, unit, 1+burst)

	// Evaluate at a time T whose window [T-W, T] holds samples from before the
	// burst (and none from before every series existed) and after it.
	at := burstSeen.Add(time.Second)
	if min := prewarmSeen.Add(testRateWindow + time.Second); at.Before(min) {
		at = min
	}
	if !at.Add(-testRateWindow).Before(burstStart) {
		t.Fatalf("the burst took too long to be scraped (%s) for a %s window", burstSeen.Sub(burstStart), testRateWindow)
	}
	time.Sleep(time.Until(at.Add(2 * testScrapeInterval)))
	times, err := api.sampleTimes(fmt.Sprintf(`up{job="packet-exporter"}[%s]`, promDuration(testRateWindow)), at)
	if err != nil {
		t.Fatal(err)
	}
	w := testRateWindow.Seconds()
	sampled := times[len(times)-1] - times[0]
	t.Logf("window %gs: %d samples over %.3fs; extrapolation factor within [1, %.4f]", w, len(times), sampled, w/sampled)

	vars := dashboardVars(t, d, promDuration(testRateWindow), promDuration(testRateWindow))
	results := map[string][]promSample{} // by panel title / refId
	for _, q := range d.queries() {
		expr := interpolate(t, q.Expr, vars)
		res, err := api.query(expr, at)
		if err != nil {
			t.Errorf("%s: %v\n  %s", q, err, expr)
			continue
		}
		results[q.Panel+"/"+q.RefID] = res
		if len(res) == 0 {
			t.Errorf("%s returned no data\n  %s", q, expr)
		}
	}
	get := func(panel, ref string) []promSample {
		r, ok := results[panel+"/"+ref]
		if !ok {
			t.Errorf("no query %s of panel %q", ref, panel)
		}
		return r
	}

	// The traffic each panel must show: the burst, grouped like the panel.
	delta := map[seriesKey]counts{}
	for k, c := range unit {
		delta[k] = counts{c.packets * burst, c.bytes * burst}
	}
	group := func(keyOf func(seriesKey) string, dirFilter string, bytes bool) map[string]float64 {
		res := map[string]float64{}
		for k, c := range delta {
			if dirFilter != "" && k.dir != dirFilter {
				continue
			}
			v := c.packets
			if bytes {
				v = c.bytes
			}
			res[keyOf(k)] += v
		}
		return res
	}
	byIfaceDir := func(k seriesKey) string { return k.iface + " " + k.dir }
	byProto := func(k seriesKey) string { return k.typ + "/" + k.transport }
	total := func(seriesKey) string { return "" }
	labelsIfaceDir := func(m map[string]string) string {
		return m["network_interface_name"] + " " + m["network_io_direction"]
	}
	labelsProto := func(m map[string]string) string { return m["network_type"] + "/" + m["network_transport"] }
	labelsNone := func(map[string]string) string { return "" }

	// f, the extrapolation factor, from the first rate panel; every other
	// rate must agree with it.
	var factor float64
	checkRates := func(panel, ref string, want map[string]float64, keyOf func(map[string]string) string, perWindow bool) {
		t.Helper()
		got := map[string]float64{}
		for _, s := range get(panel, ref) {
			got[keyOf(s.Metric)] += s.Value
		}
		if !sameSet(mapKeys(got), mapKeys(want)) {
			t.Errorf("%s: series %q, want %q", panel, mapKeys(got), mapKeys(want))
			return
		}
		for k, v := range got {
			d := want[k]
			if d == 0 {
				if v != 0 {
					t.Errorf("%s %q: %g, want 0", panel, k, v)
				}
				continue
			}
			f := v * w / d
			if perWindow {
				f = v / d
			}
			if factor == 0 {
				factor = f
				if f < 1-1e-9 || f > w/sampled+1e-9 {
					t.Errorf("%s %q: %g for %g in %gs: extrapolation factor %g outside [1, %g]", panel, k, v, d, w, f, w/sampled)
				}
			}
			if math.Abs(f-factor) > 1e-6*factor {
				t.Errorf("%s %q: %g, want %g (%g in %gs, extrapolation factor %g)", panel, k, v, d*factor/w, d, w, factor)
			}
		}
	}
	checkRates("Bytes per second by interface and direction", "A", group(byIfaceDir, "", true), labelsIfaceDir, false)
	t.Logf("extrapolation factor %.6f", factor)
	checkRates("Packets per second by interface and direction", "A", group(byIfaceDir, "", false), labelsIfaceDir, false)
	checkRates("Received", "A", group(total, "receive", true), labelsNone, false)
	checkRates("Transmitted", "A", group(total, "transmit", true), labelsNone, false)
	checkRates("Received packets", "A", group(total, "receive", false), labelsNone, false)
	checkRates("Transmitted packets", "A", group(total, "transmit", false), labelsNone, false)
	checkRates("Packets per second by protocol", "A", group(byProto, "", false), labelsProto, false)
	checkRates("Share of bytes by protocol", "A", group(byProto, "", true), labelsProto, true)
	checkRates("Received packets by protocol", "A", group(byProto, "receive", false), labelsProto, false)
	// Tunnels: the VXLAN frames on the second pair, a part of its traffic.
	vxlanSize := float64(len(vxlanFrame(p2)))
	checkRates("Packets per second inside tunnels", "A", map[string]float64{"vxlan ipv4/tcp": burst},
		func(m map[string]string) string { return m["packet_exporter_tunnel_type"] + " " + labelsProto(m) }, false)
	checkRates("Share of tunnel bytes by protocol inside", "A", map[string]float64{"ipv4/tcp": burst * vxlanSize}, labelsProto, true)
	p2Bytes := group(func(k seriesKey) string { return k.iface }, "", true)[p2.NameA]
	for _, s := range get("Tunnel share of traffic by interface", "A") {
		if iface := s.Metric["network_interface_name"]; iface != p2.NameA {
			t.Errorf("tunnel share of traffic: a series for %s, which carries no tunnel", iface)
		} else if want := burst * vxlanSize / p2Bytes; math.Abs(s.Value-want) > 1e-9 {
			t.Errorf("tunnel share of traffic on %s: %g, want %g", iface, s.Value, want)
		}
	}
	checkRates("Kernel counting and parse errors", "B",
		map[string]float64{p2.NameA + " receive truncated": burst},
		func(m map[string]string) string {
			return m["network_interface_name"] + " " + m["network_io_direction"] + " " + m["error_type"]
		}, false)

	// Drops, counted on the kernel's drop tracepoint in the exporter's
	// namespace: each SYN to the closed port is dropped as no_socket on p1's
	// A end (after its RST is sent), each truncated frame on p2's A end (for
	// a reason of the kernel's: ip_inhdr today). Both series exist since the
	// prewarm, like the traffic's, so their rates have the same factor; other
	// drops in the namespace could add to them, never take away.
	atLeast := func(panel, ref string, keyOf func(map[string]string) string, key string, d float64) {
		t.Helper()
		want := d * factor / w
		for _, s := range get(panel, ref) {
			if keyOf(s.Metric) != key {
				continue
			}
			if s.Value < want*(1-1e-6) {
				t.Errorf("%s %q: %g, want at least %g (%g in %gs, extrapolation factor %g)", panel, key, s.Value, want, d, w, factor)
			}
			return
		}
		t.Errorf("%s: no series %q: %v", panel, key, get(panel, ref))
	}
	labelOf := func(name string) func(map[string]string) string {
		return func(m map[string]string) string { return m[name] }
	}
	atLeast("Top drop reasons", "A", labelOf("error_type"), "no_socket", burst)
	atLeast("Drops per interface", "A", labelOf("network_interface_name"), p1.NameA, burst)
	atLeast("Drops per interface", "A", labelOf("network_interface_name"), p2.NameA, burst)
	// The devices' own counters: one series per counted interface and
	// direction (the tun is not counted, lo is excluded).
	for _, ref := range []string{"A", "B"} {
		var got []string
		for _, s := range get("Device drops and errors", ref) {
			got = append(got, labelsIfaceDir(s.Metric))
		}
		want := []string{p1.NameA + " receive", p1.NameA + " transmit", p2.NameA + " receive", p2.NameA + " transmit"}
		if !sameSet(got, want) {
			t.Errorf("Device drops and errors %s: series %q, want %q", ref, got, want)
		}
	}

	// The self-audit: the devices' counts less the programs', one series per
	// counted interface and direction, 0 on veths (both count every frame).
	var audited []string
	for _, s := range get("Self-audit: device minus counted", "A") {
		audited = append(audited, labelsIfaceDir(s.Metric))
		if s.Value != 0 {
			t.Errorf("Self-audit %s: %g, want 0 on a veth", labelsIfaceDir(s.Metric), s.Value)
		}
	}
	if want := []string{p1.NameA + " receive", p1.NameA + " transmit", p2.NameA + " receive", p2.NameA + " transmit"}; !sameSet(audited, want) {
		t.Errorf("Self-audit: series %q, want %q", audited, want)
	}

	single := func(panel, ref string) float64 {
		t.Helper()
		r := get(panel, ref)
		if len(r) != 1 {
			t.Errorf("%s: %d series, want 1", panel, len(r))
			return math.NaN()
		}
		return r[0].Value
	}

	// Average packet size: the ratio of two rates with the same factor, exact.
	wantBytes, wantPackets := group(byIfaceDir, "", true), group(byIfaceDir, "", false)
	for _, s := range get("Average packet size by interface and direction", "A") {
		k := labelsIfaceDir(s.Metric)
		if want := wantBytes[k] / wantPackets[k]; math.Abs(s.Value-want) > 1e-9*want {
			t.Errorf("average packet size %s: %g, want %g", k, s.Value, want)
		}
	}

	// Packet sizes: the kernel's histogram. Each traffic series has frames
	// of one size, so the buckets of the burst are known exactly.
	bounds := []float64{64, 128, 256, 512, 1024, 1518, 9000, math.Inf(1)}
	cum := map[string]float64{}
	for _, c := range delta {
		for _, ub := range bounds {
			if c.bytes/c.packets <= ub {
				cum[promFloat(ub)] += c.packets
			}
		}
	}
	// The le label is the bound as the scrape wrote it: "1024" in the text
	// format, "1024.0" in OpenMetrics (and in any format from Prometheus 3);
	// buckets are compared by the bound's value.
	checkRates("Packet size distribution", "A", cum, func(m map[string]string) string {
		bound, err := strconv.ParseFloat(m["le"], 64)
		if err != nil {
			return "unparsable le " + m["le"]
		}
		return promFloat(bound)
	}, false)
	for ref, q := range map[string]float64{"A": 0.5, "B": 0.95} {
		want := bucketQuantile(q, bounds, cum)
		if v := single("Packet size percentiles", ref); math.Abs(v-want) > 1e-6*want {
			t.Errorf("packet size p%g: %g, want %g (buckets %v)", q*100, v, want, cum)
		}
	}

	// Flows: every flow in the top 10 by bytes and by packets is one of the
	// traffic's, and the ICMP flows (present since the prewarm) are there
	// with their exact rates. UDP and TCP flows change source ports between
	// prewarm and burst: they started inside the window.
	for _, fp := range []struct {
		title string
		bytes bool
	}{{"Top flows by bytes per second", true}, {"Top flows by packets per second", false}} {
		got := map[string]float64{}
		for _, s := range get(fp.title, "A") {
			got[flowName(s.Metric)] = s.Value
			if a, ok := s.Metric["source_address"]; ok && !strings.HasPrefix(a, "10.200.") && !strings.HasPrefix(a, "fd00:") {
				t.Errorf("%s: flow %s is not the test's traffic", fp.title, flowName(s.Metric))
			}
		}
		if len(got) > 10 {
			t.Errorf("%s: %d flows, want at most 10", fp.title, len(got))
		}
		for name, c := range unitFlows {
			want := c.packets * burst
			if fp.bytes {
				want = c.bytes * burst
			}
			v, ok := got[name]
			if !ok {
				t.Errorf("%s: no flow %s (got %v)", fp.title, name, got)
				continue
			}
			if math.Abs(v*w/want-factor) > 1e-6*factor {
				t.Errorf("%s: flow %s: %g, want %g", fp.title, name, v, want*factor/w)
			}
		}
	}
	if v := single("Flows with a series", "A"); !(v >= float64(len(unitFlows))) {
		t.Errorf("flows with a series: %g, want at least the %d ICMP flows", v, len(unitFlows))
	}
	// Every frame counted is one record of the event stream (sample rate 1):
	// emitted and delivered grow like the packet counters; none lost.
	framesTotal := group(total, "", false)
	checkRates("Event stream records per second", "A", framesTotal, labelsNone, false)
	checkRates("Event stream records per second", "B", framesTotal, labelsNone, false)
	for _, pr := range []struct{ panel, ref string }{
		{"Event stream records per second", "C"}, {"Event stream records per second", "D"},
		{"Events lost or invalid", "A"}, {"Events lost or invalid", "B"}, {"Events lost", "A"},
	} {
		if v := single(pr.panel, pr.ref); v != 0 {
			t.Errorf("%s %s: %g, want 0", pr.panel, pr.ref, v)
		}
	}

	// Agent health.
	if v := single("Exporters up", "A"); v != 1 {
		t.Errorf("Exporters up: %g, want 1", v)
	}
	if v := single("Programs attached", "A"); v != 4 {
		t.Errorf("Programs attached: %g, want 4 (XDP and tcx on %s and %s)", v, p1.NameA, p2.NameA)
	}
	if v := single("Interfaces not counted", "A"); v != 1 {
		t.Errorf("Interfaces not counted (stat): %g, want 1 (%s)", v, tun)
	}
	if r := get("Interfaces not counted", "A"); len(r) != 1 || r[0].Metric["network_interface_name"] != tun || r[0].Metric["error_type"] != "unsupported_link_type" {
		t.Errorf("Interfaces not counted (table): %v, want %s unsupported_link_type", r, tun)
	}
	if v := single("Frames the kernel could not count", "A"); v != 0 {
		t.Errorf("Frames the kernel could not count: %g, want 0", v)
	}
	for _, s := range get("Kernel counting and parse errors", "A") {
		if s.Value != 0 {
			t.Errorf("frames not counted per second: %v, want 0", s)
		}
	}
	for _, s := range get("Attach failures", "A") {
		if s.Value != 0 || s.Metric["error_type"] != "unsupported_link_type" {
			t.Errorf("attach failures: %v, want only the tun's unsupported_link_type, unchanged in the window", s)
		}
	}
	if v := single("OTLP export failures", "A"); !(v > 0) {
		t.Errorf("OTLP export failures: %g, want > 0 (no collector in the namespace)", v)
	}
	// One export a second, each failing: the failures of every gRPC error
	// together. An error seen once in the window (deadline_exceeded among
	// the unavailable ones, say) is a series of its own, whose rate over
	// the window is 0: it has no increase after its first sample.
	var failures []string
	failureRate := 0.0
	for _, s := range get("OTLP exports by outcome", "A") {
		switch s.Metric["outcome"] {
		case "failure":
			if s.Value < 0 {
				t.Errorf("failed OTLP exports per second (%s): %g, want >= 0", s.Metric["error_type"], s.Value)
			}
			failureRate += s.Value
			failures = append(failures, fmt.Sprintf("%s %g", s.Metric["error_type"], s.Value))
		case "success":
			if s.Value != 0 {
				t.Errorf("successful OTLP exports per second: %g, want 0", s.Value)
			}
		}
	}
	if failureRate <= 0 || failureRate > 2 {
		t.Errorf("failed OTLP exports per second: %g (%v), want (0, 2]", failureRate, failures)
	}
	if v := single("Kernel counter read time (p99)", "A"); !(v > 0 && v < 1) {
		t.Errorf("kernel counter read time p99: %g s", v)
	}
	if r := get("Agents", "A"); len(r) != 1 || r[0].Metric["version"] != testVersion || r[0].Metric["instance"] != listen {
		t.Errorf("Agents: %v, want one agent %s version %s (the Dockerfile's VERSION)", r, listen, testVersion)
	}

	// The variables' queries, as Grafana runs them (label values API).
	wantVar := map[string][]string{
		"job":       {"packet-exporter"},
		"instance":  {listen},
		"interface": {p1.NameA, p2.NameA},
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		sel, label := variableQuery(t, v)
		got, err := api.labelValues(label, interpolate(t, sel, vars))
		if err != nil {
			t.Errorf("variable %s: %v", v.Name, err)
			continue
		}
		if !sameSet(got, wantVar[v.Name]) {
			t.Errorf("variable %s: values %q, want %q", v.Name, got, wantVar[v.Name])
		}
	}

	// The alerting rules evaluate without error, and none fires.
	var rules struct {
		Groups []struct {
			Rules []struct {
				Name           string `json:"name"`
				Health         string `json:"health"`
				LastError      string `json:"lastError"`
				State          string `json:"state"`
				LastEvaluation string `json:"lastEvaluation"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := api.get("/api/v1/rules", nil, &rules); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health != "ok" || r.LastError != "" {
				t.Errorf("rule %s: health %q error %q", r.Name, r.Health, r.LastError)
			}
			if r.State == "firing" {
				t.Errorf("alert %s fires", r.Name)
			}
		}
	}
	if n == 0 {
		t.Errorf("Prometheus loaded no rules")
	}
}

// waitTotals waits until Prometheus's latest scrape shows every traffic
// series at exactly k times unit (and no other traffic series), and returns
// when it did.
func waitTotals(t *testing.T, api promAPI, unit map[seriesKey]counts, k int) time.Time {
	t.Helper()
	var seen time.Time
	testexporter.WaitFor(t, fmt.Sprintf("Prometheus to scrape the traffic totals x%d", k), 20*time.Second, func() (bool, string) {
		for _, m := range []struct {
			name  string
			bytes bool
		}{{"packet_exporter_network_packets_total", false}, {"packet_exporter_network_io_bytes_total", true}} {
			res, err := api.query(m.name+`{job="packet-exporter"}`, time.Now())
			if err != nil {
				return false, err.Error()
			}
			got := map[seriesKey]float64{}
			for _, s := range res {
				got[seriesKey{s.Metric["network_interface_name"], s.Metric["network_io_direction"], s.Metric["network_type"], s.Metric["network_transport"]}] = s.Value
			}
			var diffs []string
			for key, c := range unit {
				want := c.packets * float64(k)
				if m.bytes {
					want = c.bytes * float64(k)
				}
				if got[key] != want {
					diffs = append(diffs, fmt.Sprintf("%v: %g, want %g", key, got[key], want))
				}
			}
			for key, v := range got {
				if _, ok := unit[key]; !ok {
					diffs = append(diffs, fmt.Sprintf("unexpected series %v = %g", key, v))
				}
			}
			if len(diffs) > 0 {
				sort.Strings(diffs)
				return false, m.name + ": " + strings.Join(diffs, "; ")
			}
		}
		seen = time.Now()
		return true, ""
	})
	return seen
}

// promFloat formats a bucket bound as Prometheus's le label does.
func promFloat(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// bucketQuantile is the q-quantile of cumulative bucket counts (by le label),
// interpolated linearly inside the bucket, as PromQL's histogram_quantile.
func bucketQuantile(q float64, bounds []float64, cum map[string]float64) float64 {
	counts := make([]float64, len(bounds))
	for i, b := range bounds {
		counts[i] = cum[promFloat(b)]
	}
	rank := q * counts[len(counts)-1]
	b := sort.Search(len(bounds)-1, func(i int) bool { return counts[i] >= rank })
	if b == len(bounds)-1 {
		return bounds[len(bounds)-2]
	}
	start, count := 0.0, counts[b]
	if b > 0 {
		start = bounds[b-1]
		count -= counts[b-1]
		rank -= counts[b-1]
	}
	return start + (bounds[b]-start)*(rank/count)
}

func mapKeys(m map[string]float64) []string {
	var res []string
	for k := range m {
		res = append(res, k)
	}
	slices.Sort(res)
	return res
}

// promDuration renders a duration in PromQL syntax ("8s", "1500ms").
func promDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}
