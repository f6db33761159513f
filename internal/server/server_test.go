package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.uber.org/zap/zaptest"

	"github.com/packet-exporter/packet-exporter/internal/live"
	"github.com/packet-exporter/packet-exporter/internal/testing/testcert"
)

// start serves o on 127.0.0.1 and returns the base URL; the server is shut
// down at the end of the test.
func start(t *testing.T, o Options) (*Server, string) {
	t.Helper()
	return startWith(t, o, nil)
}

// startWith is start with a hook that can change the server before it
// serves.
func startWith(t *testing.T, o Options, prepare func(*Server)) (*Server, string) {
	t.Helper()
	if o.Address == "" {
		o.Address = "127.0.0.1:0"
	}
	if o.Log == nil {
		o.Log = zaptest.NewLogger(t)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(s)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.http.Close()
		s.Shutdown(ctx)
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	scheme := "http"
	if o.WebConfigFile != "" && strings.Contains(readFile(t, o.WebConfigFile), "tls_server_config") {
		scheme = "https"
	}
	return s, scheme + "://" + s.Addr().String()
}

// registry returns a registry with one counter of n series.
func registry(n int) *prometheus.Registry {
	r := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "test_things_total", Help: "Things."}, []string{"thing"})
	for i := range n {
		c.WithLabelValues(fmt.Sprintf("thing-%06d-%s", i, strings.Repeat("x", 40))).Add(float64(i))
	}
	r.MustRegister(c)
	return r
}

func get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

func TestEndpoints(t *testing.T) {
	var ready atomic.Bool
	_, base := start(t, Options{Registry: registry(3), Live: liveSource(t), Ready: ready.Load, Version: "v-test"})
	client := &http.Client{Timeout: 5 * time.Second}
	cases := []struct {
		path     string
		ready    bool
		wantCode int
		wantBody string
	}{
		{"/", false, 200, `href="/metrics"`},
		{"/", false, 200, "v-test"},
		{"/healthz", false, 200, "ok\n"},
		{"/readyz", false, 503, "not ready"},
		{"/readyz", true, 200, "ready\n"},
		{"/", false, 200, `<script src="/assets/live.js">`},
		{live.Path, false, 200, `"version":1`},
		{live.AssetsPath + "live.js", false, 200, "/api/v1/live"},
		{live.AssetsPath + "live.css", false, 200, "--rx"},
		{live.AssetsPath + "index.html", false, 404, ""},
		{live.AssetsPath, false, 404, ""},
		{"/metrics", false, 200, `test_things_total{thing="thing-000002-`},
		{"/debug/pprof/", false, 404, ""},
		{"/debug/pprof/cmdline", false, 404, ""},
		{"/debug/vars", false, 404, ""},
		{"/nothing", false, 404, ""},
	}
	for _, tc := range cases {
		ready.Store(tc.ready)
		code, body := get(t, client, base+tc.path)
		if code != tc.wantCode || !strings.Contains(body, tc.wantBody) {
			t.Errorf("GET %s (ready %v): %d %q, want %d with %q", tc.path, tc.ready, code, body, tc.wantCode, tc.wantBody)
		}
	}
	if _, body := get(t, client, base+"/"); strings.Contains(body, "pprof") {
		t.Errorf("landing page mentions pprof with pprof off:\n%s", body)
	}
}

func TestNoMetricsWithoutRegistry(t *testing.T) {
	_, base := start(t, Options{})
	client := &http.Client{Timeout: 5 * time.Second}
	if code, _ := get(t, client, base+"/metrics"); code != 404 {
		t.Errorf("/metrics: %d, want 404 without a registry", code)
	}
	if _, body := get(t, client, base+"/"); strings.Contains(body, `href="/metrics"`) {
		t.Errorf("landing page links /metrics without a registry")
	}
	if code, _ := get(t, client, base+live.Path); code != 404 {
		t.Errorf("%s: %d, want 404 without a live source", live.Path, code)
	}
}

func TestPprofOnlyWhenEnabled(t *testing.T) {
	_, base := start(t, Options{Registry: registry(1), Pprof: true})
	client := &http.Client{Timeout: 10 * time.Second}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1", "/debug/pprof/heap"} {
		if code, _ := get(t, client, base+path); code != 200 {
			t.Errorf("GET %s: %d, want 200 with pprof on", path, code)
		}
	}
	if _, body := get(t, client, base+"/"); !strings.Contains(body, `href="/debug/pprof/"`) {
		t.Errorf("landing page lacks the pprof link with pprof on")
	}
}

// TestWebConfig: with a web configuration file, every endpoint (pprof
// included) needs TLS and the right credentials.
func TestWebConfig(t *testing.T) {
	files := testcert.Write(t, t.TempDir())
	paths := []string{"/", live.Path, live.AssetsPath + "live.js", "/metrics", "/healthz", "/readyz", "/debug/pprof/"}
	tlsClient := func(cert *tls.Certificate, maxVersion uint16) *http.Client {
		c := &tls.Config{RootCAs: files.Pool, MaxVersion: maxVersion}
		if cert != nil {
			c.Certificates = []tls.Certificate{*cert}
		}
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: c}}
	}

	t.Run("tls and basic auth", func(t *testing.T) {
		path := files.WriteWebConfig(t, "web.yml", testcert.WebConfig{TLS: true, Users: map[string]string{"prometheus": "s3cret"}})
		_, base := start(t, Options{Registry: registry(1), Live: liveSource(t), Pprof: true, WebConfigFile: path})
		client := tlsClient(nil, 0)
		for _, p := range paths {
			for _, c := range []struct {
				user, password string
				want           int
			}{{"", "", 401}, {"prometheus", "wrong", 401}, {"nobody", "s3cret", 401}, {"prometheus", "s3cret", 200}} {
				code, err := testcert.Status(t, client, base+p, c.user, c.password)
				if err != nil || code != c.want {
					t.Errorf("GET %s as %q/%q: %d %v, want %d", p, c.user, c.password, code, err, c.want)
				}
			}
		}
		// Plain HTTP on the TLS port gets no data.
		code, err := testcert.Status(t, &http.Client{Timeout: 5 * time.Second}, "http"+strings.TrimPrefix(base, "https")+"/metrics", "prometheus", "s3cret")
		if err == nil && code == 200 {
			t.Errorf("plain HTTP on the TLS port answered 200")
		}
		// The toolkit's default minimum is TLS 1.2.
		if _, err := testcert.Status(t, tlsClient(nil, tls.VersionTLS11), base+"/healthz", "prometheus", "s3cret"); err == nil {
			t.Errorf("a TLS 1.1 client was served")
		}
	})

	t.Run("basic auth without tls", func(t *testing.T) {
		path := files.WriteWebConfig(t, "auth.yml", testcert.WebConfig{Users: map[string]string{"u": "p"}})
		_, base := start(t, Options{Registry: registry(1), Live: liveSource(t), WebConfigFile: path})
		client := &http.Client{Timeout: 5 * time.Second}
		for _, p := range paths[:len(paths)-1] {
			if code, err := testcert.Status(t, client, base+p, "", ""); err != nil || code != 401 {
				t.Errorf("GET %s without credentials: %d %v, want 401", p, code, err)
			}
			if code, err := testcert.Status(t, client, base+p, "u", "p"); err != nil || code != 200 {
				t.Errorf("GET %s with credentials: %d %v, want 200", p, code, err)
			}
		}
	})

	t.Run("client certificates", func(t *testing.T) {
		path := files.WriteWebConfig(t, "mtls.yml", testcert.WebConfig{TLS: true, ClientAuth: "RequireAndVerifyClientCert"})
		_, base := start(t, Options{Registry: registry(1), WebConfigFile: path})
		if code, err := testcert.Status(t, tlsClient(nil, 0), base+"/metrics", "", ""); err == nil {
			t.Errorf("served %d without a client certificate", code)
		}
		if code, err := testcert.Status(t, tlsClient(&files.Client, 0), base+"/metrics", "", ""); err != nil || code != 200 {
			t.Errorf("with a client certificate: %d %v, want 200", code, err)
		}
	})
}

// shortLimits are limits small enough for tests to wait them out.
func shortLimits() Limits {
	return Limits{
		ReadHeaderTimeout: 300 * time.Millisecond,
		ReadTimeout:       time.Second,
		WriteTimeout:      time.Second,
		IdleTimeout:       time.Second,
		MaxHeaderBytes:    4 << 10,
		ScrapeTimeout:     2 * time.Second,
		Renders:           1,
	}
}

// closedConns records the remote addresses of the connections the server
// closed.
type closedConns struct {
	mu     sync.Mutex
	remote map[string]bool
}

func (c *closedConns) track(s *Server) {
	s.http.ConnState = func(conn net.Conn, state http.ConnState) {
		if state == http.StateClosed {
			c.mu.Lock()
			c.remote[conn.RemoteAddr().String()] = true
			c.mu.Unlock()
		}
	}
}

// closed reports whether the server closed the connection whose client end
// is conn.
func (c *closedConns) closed(conn net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remote[conn.LocalAddr().String()]
}

func TestDefaultLimits(t *testing.T) {
	s, _ := start(t, Options{})
	l := DefaultLimits()
	h := s.http
	if h.ReadHeaderTimeout != l.ReadHeaderTimeout || h.ReadTimeout != l.ReadTimeout || h.WriteTimeout != l.WriteTimeout ||
		h.IdleTimeout != l.IdleTimeout || h.MaxHeaderBytes != l.MaxHeaderBytes {
		t.Errorf("server limits %v %v %v %v %d, want %+v", h.ReadHeaderTimeout, h.ReadTimeout, h.WriteTimeout, h.IdleTimeout, h.MaxHeaderBytes, l)
	}
	for name, d := range map[string]time.Duration{"ReadHeaderTimeout": l.ReadHeaderTimeout, "ReadTimeout": l.ReadTimeout,
		"WriteTimeout": l.WriteTimeout, "IdleTimeout": l.IdleTimeout, "ScrapeTimeout": l.ScrapeTimeout} {
		if d <= 0 || d > 2*time.Minute {
			t.Errorf("%s = %v, want a bound between 0 and 2m", name, d)
		}
	}
	if l.MaxHeaderBytes > 64<<10 || l.Renders < 1 {
		t.Errorf("MaxHeaderBytes %d, Renders %d", l.MaxHeaderBytes, l.Renders)
	}
}

// TestSlowHeadersAreCut: a client that sends its request headers a byte at a
// time is disconnected after ReadHeaderTimeout, however steadily it sends.
func TestSlowHeadersAreCut(t *testing.T) {
	tracker := &closedConns{remote: map[string]bool{}}
	_, base := startWith(t, Options{Registry: registry(1), Limits: shortLimits()}, tracker.track)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	begin := time.Now()
	request := "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 1000)
	var cut time.Duration
	for i := 0; i < len(request); i++ {
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := conn.Write([]byte{request[i]}); err != nil {
			cut = time.Since(begin)
			break
		}
		if tracker.closed(conn) {
			cut = time.Since(begin)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cut == 0 {
		t.Fatalf("still connected after sending %d header bytes over %v", len(request), time.Since(begin))
	}
	if limit := shortLimits().ReadHeaderTimeout + time.Second; cut > limit {
		t.Errorf("cut after %v, want within %v", cut, limit)
	}
	t.Logf("slow-header client cut after %v", cut)
}

func TestOversizedHeadersAreRefused(t *testing.T) {
	_, base := start(t, Options{Registry: registry(1), Limits: shortLimits()})
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
}

// smallSendBuffers gives accepted connections a 4 kB send buffer.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.SetWriteBuffer(4096)
	}
	return conn, err
}

// stuckSeries sizes the response a stuck reader is sent.
const stuckSeries = 6000

// TestStuckReaderHoldsNothing: a client that requests /metrics and never
// reads the (large) answer blocks the server's write; with a single render
// slot, other scrapes must still be served at once, and the stuck
// connection must be closed after WriteTimeout.
func TestStuckReaderHoldsNothing(t *testing.T) {
	reg := registry(stuckSeries) // ~520 kB uncompressed, more than the socket buffers
	limits := shortLimits()
	limits.WriteTimeout = 3 * time.Second // rendering takes ~0.3s under the race detector
	tracker := &closedConns{remote: map[string]bool{}}
	_, base := startWith(t, Options{Registry: reg, Limits: limits}, func(s *Server) {
		tracker.track(s)
		// Small send buffers, so that the kernel cannot take the whole
		// answer off the server's hands.
		s.listener = smallSendBuffers{s.listener}
	})
	addr := strings.TrimPrefix(base, "http://")

	const stuck = 5
	var conns []net.Conn
	for range stuck {
		d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		}}
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
	}
	// Wait until every stuck client's response has been rendered and its
	// write has begun (its first byte arrived): from then on each holds a
	// blocked write and no render slot. A fixed sleep raced five renders
	// queued behind one slot on a slow machine.
	first := make([]byte, 1)
	for i, conn := range conns {
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.ReadFull(conn, first); err != nil {
			t.Fatalf("stuck client %d: no response began: %v", i, err)
		}
	}

	client := &http.Client{Timeout: 5 * time.Second}
	for i := range 3 {
		begin := time.Now()
		code, body := get(t, client, base+"/metrics")
		if took := time.Since(begin); code != 200 || took > 2*time.Second {
			t.Errorf("scrape %d with %d stuck readers: %d after %v (%d bytes)", i, stuck, code, took, len(body))
		}
	}

	deadline := time.Now().Add(limits.WriteTimeout + 3*time.Second)
	for _, conn := range conns {
		for !tracker.closed(conn) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if !tracker.closed(conn) {
			t.Errorf("stuck connection %s not closed by the server within WriteTimeout + 3s", conn.LocalAddr())
		}
	}
	for i, conn := range conns {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _ := io.Copy(io.Discard, bufio.NewReader(conn))
		if n >= stuckSeries*80 {
			t.Errorf("stuck client %d could still read %d bytes: the server did not cut it", i, n)
		}
		t.Logf("stuck client %d: %d bytes had reached it when the server cut the connection", i, n)
	}
}

// TestManyConcurrentScrapes: more concurrent scrapers than render slots wait
// for a slot instead of being refused.
func TestManyConcurrentScrapes(t *testing.T) {
	limits := shortLimits()
	limits.Renders = 2
	limits.ScrapeTimeout = 20 * time.Second
	_, base := start(t, Options{Registry: registry(100), Limits: limits})
	const scrapers, each = 50, 5
	var wg sync.WaitGroup
	var failures atomic.Int64
	transport := &http.Transport{MaxIdleConnsPerHost: scrapers}
	client := &http.Client{Timeout: 10 * time.Second, Transport: transport}
	for range scrapers {
		wg.Go(func() {
			for range each {
				resp, err := client.Get(base + "/metrics")
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Errorf("%d of %d scrapes failed", n, scrapers*each)
	}
}

// blockingCollector never finishes a collection until released.
type blockingCollector struct{ release chan struct{} }

func (c blockingCollector) Describe(chan<- *prometheus.Desc) {}
func (c blockingCollector) Collect(chan<- prometheus.Metric) { <-c.release }

// TestScrapeTimeout: a collection that hangs is answered with 503 after
// ScrapeTimeout, and the probes keep answering meanwhile.
func TestScrapeTimeout(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := blockingCollector{release: make(chan struct{})}
	reg.MustRegister(c)
	limits := shortLimits()
	limits.ScrapeTimeout = 500 * time.Millisecond
	_, base := start(t, Options{Registry: reg, Limits: limits})
	defer close(c.release)
	client := &http.Client{Timeout: 5 * time.Second}
	begin := time.Now()
	code, _ := get(t, client, base+"/metrics")
	if took := time.Since(begin); code != http.StatusServiceUnavailable || took > 2*time.Second {
		t.Errorf("hanging collection: %d after %v, want 503 after about %v", code, took, limits.ScrapeTimeout)
	}
	if code, _ := get(t, client, base+"/healthz"); code != 200 {
		t.Errorf("/healthz during a hanging collection: %d", code)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// liveSource is a live source reading an empty MeterProvider.
func liveSource(t *testing.T) *live.Source {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { provider.Shutdown(context.Background()) })
	return live.NewSource(reader, nil)
}
