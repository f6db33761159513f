package telemetry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	collectormetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/encoding/gzip" // the server accepts gzip
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/packet-exporter/packet-exporter/internal/testing/testcert"
)

// otlpServer is an in-process OTLP/gRPC metrics endpoint that records what it
// receives, or fails every export with failCode.
type otlpServer struct {
	collectormetrics.UnimplementedMetricsServiceServer
	addr     string
	failCode codes.Code

	mu       sync.Mutex
	requests []*collectormetrics.ExportMetricsServiceRequest
	headers  []metadata.MD
}

func startOTLPServer(t *testing.T, creds credentials.TransportCredentials, failCode codes.Code) *otlpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var opts []grpc.ServerOption
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	srv := grpc.NewServer(opts...)
	s := &otlpServer{addr: ln.Addr().String(), failCode: failCode}
	collectormetrics.RegisterMetricsServiceServer(srv, s)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return s
}

func (s *otlpServer) Export(ctx context.Context, req *collectormetrics.ExportMetricsServiceRequest) (*collectormetrics.ExportMetricsServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	s.headers = append(s.headers, md)
	if s.failCode != codes.OK {
		return nil, status.Error(s.failCode, "refused by test")
	}
	return &collectormetrics.ExportMetricsServiceResponse{}, nil
}

func (s *otlpServer) received() ([]*collectormetrics.ExportMetricsServiceRequest, []metadata.MD) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*collectormetrics.ExportMetricsServiceRequest(nil), s.requests...), append([]metadata.MD(nil), s.headers...)
}

// pushOnce builds a provider pushing to the server, observes one counter and
// shuts the provider down, which exports once.
func pushOnce(t *testing.T, o OTLPOptions, value int64) (*Provider, error) {
	t.Helper()
	p, err := New(Options{Version: "v-test", OTLP: &o, CardinalityLimit: 100, Log: zaptest.NewLogger(t),
		ResourceAttributes: map[string]string{"deployment.environment": "unit"}})
	if err != nil {
		t.Fatal(err)
	}
	meter := p.Meter("v-test")
	counter, err := meter.Int64ObservableCounter("test.packets")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := meter.RegisterCallback(func(_ context.Context, obs metric.Observer) error {
		obs.ObserveInt64(counter, value)
		return nil
	}, counter); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p, p.MeterProvider.Shutdown(ctx)
}

func TestOTLPPush(t *testing.T) {
	files := testcert.Write(t, t.TempDir())
	serverCert, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile := files.CA, files.ClientCert, files.ClientKey
	serverTLS := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{serverCert}})
	mutualTLS := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: files.Pool, ClientAuth: tls.RequireAndVerifyClientCert})

	cases := []struct {
		name    string
		creds   credentials.TransportCredentials
		options func(addr string) OTLPOptions
	}{
		{"plaintext gzip headers", nil, func(addr string) OTLPOptions {
			return OTLPOptions{Endpoint: addr, Plaintext: true, Gzip: true, Headers: map[string]string{"authorization": "Bearer t0ken"}}
		}},
		{"tls with ca file", serverTLS, func(addr string) OTLPOptions {
			return OTLPOptions{Endpoint: addr, CAFile: caFile, Headers: map[string]string{"authorization": "Bearer t0ken"}}
		}},
		{"mutual tls", mutualTLS, func(addr string) OTLPOptions {
			return OTLPOptions{Endpoint: addr, CAFile: caFile, CertFile: certFile, KeyFile: keyFile, Headers: map[string]string{"authorization": "Bearer t0ken"}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startOTLPServer(t, tc.creds, codes.OK)
			o := tc.options(srv.addr)
			o.Interval, o.Timeout = time.Hour, 3*time.Second
			p, err := pushOnce(t, o, 42)
			if err != nil {
				t.Fatalf("shutdown export: %v", err)
			}
			reqs, headers := srv.received()
			if len(reqs) != 1 {
				t.Fatalf("%d exports, want 1", len(reqs))
			}
			if got := headers[0].Get("authorization"); len(got) != 1 || got[0] != "Bearer t0ken" {
				t.Errorf("authorization header %v", got)
			}
			rm := reqs[0].GetResourceMetrics()[0]
			attrs := map[string]string{}
			for _, kv := range rm.GetResource().GetAttributes() {
				attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
			}
			host, _ := os.Hostname()
			for k, want := range map[string]string{"service.name": "packet-exporter", "service.version": "v-test", "host.name": host, "deployment.environment": "unit"} {
				if attrs[k] != want {
					t.Errorf("resource %s = %q, want %q", k, attrs[k], want)
				}
			}
			m := rm.GetScopeMetrics()[0].GetMetrics()[0]
			if m.GetName() != "test.packets" || m.GetSum().GetDataPoints()[0].GetAsInt() != 42 {
				t.Errorf("metric %s", m)
			}
			if successes, failures := p.Exports.Snapshot(); successes != 1 || len(failures) != 0 {
				t.Errorf("stats: %d successes, failures %v", successes, failures)
			}
		})
	}
}

func TestOTLPFailuresAreCounted(t *testing.T) {
	cases := []struct {
		name     string
		endpoint func(t *testing.T) string
		wantType string
	}{
		{"endpoint refuses", func(t *testing.T) string { return startOTLPServer(t, nil, codes.PermissionDenied).addr }, "permission_denied"},
		{"nothing listening", func(t *testing.T) string {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			return addr
		}, "unavailable"},
		{"blackhole", func(t *testing.T) string {
			ln, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			return ln.Addr().String()
		}, "deadline_exceeded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := OTLPOptions{Endpoint: tc.endpoint(t), Plaintext: true, Interval: time.Hour, Timeout: time.Second}
			start := time.Now()
			p, err := pushOnce(t, o, 1)
			if err == nil {
				t.Fatal("export succeeded")
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("shutdown took %v with a 1s timeout", d)
			}
			successes, failures := p.Exports.Snapshot()
			if successes != 0 || failures[tc.wantType] != 1 || len(failures) != 1 {
				t.Errorf("stats: %d successes, failures %v; want one %s (error %v)", successes, failures, tc.wantType, err)
			}
		})
	}
}

func TestErrorType(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{status.Error(codes.Unavailable, "x"), "unavailable"},
		{fmt.Errorf("export: %w", status.Error(codes.ResourceExhausted, "x")), "resource_exhausted"},
		{fmt.Errorf("export: %w", context.DeadlineExceeded), "deadline_exceeded"},
		{context.Canceled, "canceled"},
		{errors.New("boom"), "other"},
	}
	for _, tc := range cases {
		if got := errorType(tc.err); got != tc.want {
			t.Errorf("errorType(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestLogLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLogLimiter(time.Minute)
	l.now = func() time.Time { return now }
	steps := []struct {
		advance        time.Duration
		reset          bool
		wantOK         bool
		wantSuppressed int
	}{
		{0, false, true, 0},
		{time.Second, false, false, 0},
		{time.Second, false, false, 0},
		{time.Minute, false, true, 2},
		{time.Second, true, true, 0},
		{time.Second, false, false, 0},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if s.reset {
			l.reset()
		}
		ok, suppressed := l.allow()
		if ok != s.wantOK || suppressed != s.wantSuppressed {
			t.Errorf("step %d: allow() = %v, %d; want %v, %d", i, ok, suppressed, s.wantOK, s.wantSuppressed)
		}
	}
}

// SeriesStarts gives the cumulative points of packet-exporter's scope the
// start times it knows (series kept across runs), and leaves the others; with
// delta temporality it is not asked.
func TestSeriesStarts(t *testing.T) {
	kept := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, delta := range []bool{false, true} {
		srv := startOTLPServer(t, nil, codes.OK)
		asked := false
		o := OTLPOptions{Endpoint: srv.addr, Plaintext: true, Interval: time.Hour, Timeout: 3 * time.Second, Delta: delta,
			SeriesStarts: func() func(string, attribute.Set) (time.Time, bool) {
				asked = true
				return func(metric string, attrs attribute.Set) (time.Time, bool) {
					v, _ := attrs.Value("kept")
					return kept, metric == "test.packets" && v.AsBool()
				}
			}}
		p, err := New(Options{OTLP: &o, CardinalityLimit: 10, Log: zaptest.NewLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		meter := p.Meter("v-test")
		counter, err := meter.Int64ObservableCounter("test.packets")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := meter.RegisterCallback(func(_ context.Context, obs metric.Observer) error {
			obs.ObserveInt64(counter, 1, metric.WithAttributes(attribute.Bool("kept", true)))
			obs.ObserveInt64(counter, 2, metric.WithAttributes(attribute.Bool("kept", false)))
			return nil
		}, counter); err != nil {
			t.Fatal(err)
		}
		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if asked == delta {
			t.Errorf("delta %t: SeriesStarts asked %t", delta, asked)
		}
		reqs, _ := srv.received()
		if len(reqs) != 1 {
			t.Fatalf("%d exports, want 1", len(reqs))
		}
		for _, dp := range reqs[0].GetResourceMetrics()[0].GetScopeMetrics()[0].GetMetrics()[0].GetSum().GetDataPoints() {
			start := time.Unix(0, int64(dp.GetStartTimeUnixNano()))
			if isKept := dp.GetAttributes()[0].GetValue().GetBoolValue() && !delta; isKept != start.Equal(kept) {
				t.Errorf("delta %t: point %v starts at %s", delta, dp.GetAttributes(), start)
			}
		}
	}
}
