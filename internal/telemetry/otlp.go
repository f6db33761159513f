package telemetry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// OTLPOptions configure the OTLP/gRPC push.
type OTLPOptions struct {
	// Endpoint is the host:port to dial.
	Endpoint string
	// Plaintext disables TLS.
	Plaintext bool
	// CAFile, CertFile and KeyFile are optional PEM files: the CA bundle that
	// verifies the server and the client certificate for mutual TLS.
	CAFile, CertFile, KeyFile string
	// Headers are sent as gRPC metadata with every export.
	Headers map[string]string
	// Gzip compresses exports.
	Gzip bool
	// Interval is the time between exports; Timeout bounds each export,
	// retries included.
	Interval, Timeout time.Duration
	// Delta selects delta temporality for counters instead of cumulative.
	Delta bool
	// SeriesStarts, when not nil, is asked at each cumulative export for a
	// function that gives the start time of a series of packet-exporter's
	// scope that began before this run (receiver.Receiver.SeriesStarts).
	SeriesStarts func() func(metric string, attrs attribute.Set) (time.Time, bool)
}

// logPeriod is how often a repeating failure is logged.
const logPeriod = time.Minute

// newOTLPReader builds the periodic reader pushing to the OTLP endpoint, with
// its exporter wrapped to count and log the outcome of every export, and the
// metrics of producers.
func newOTLPReader(o OTLPOptions, stats *ExportStats, producers []sdkmetric.Producer) (sdkmetric.Reader, error) {
	opts := []otlpmetricgrpc.Option{
		otlpmetricgrpc.WithEndpoint(o.Endpoint),
		otlpmetricgrpc.WithTimeout(o.Timeout),
		otlpmetricgrpc.WithHeaders(o.Headers),
		// A retry never outlives the export's timeout.
		otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{
			Enabled: true, InitialInterval: 500 * time.Millisecond, MaxInterval: 5 * time.Second, MaxElapsedTime: o.Timeout,
		}),
	}
	if o.Plaintext {
		opts = append(opts, otlpmetricgrpc.WithInsecure())
	} else {
		tlsConfig, err := clientTLS(o)
		if err != nil {
			return nil, err
		}
		opts = append(opts, otlpmetricgrpc.WithTLSCredentials(credentials.NewTLS(tlsConfig)))
	}
	if o.Gzip {
		opts = append(opts, otlpmetricgrpc.WithCompressor("gzip"))
	}
	// Every attempt of an export goes through stats, which logs the first
	// failure as it happens rather than when the retries give up.
	opts = append(opts, otlpmetricgrpc.WithDialOption(grpc.WithChainUnaryInterceptor(stats.intercept)))
	if o.Delta {
		opts = append(opts, otlpmetricgrpc.WithTemporalitySelector(deltaTemporality))
	}
	exporter, err := otlpmetricgrpc.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("create otlp exporter: %w", err)
	}
	readerOpts := []sdkmetric.PeriodicReaderOption{sdkmetric.WithInterval(o.Interval), sdkmetric.WithTimeout(o.Timeout)}
	for _, producer := range producers {
		readerOpts = append(readerOpts, sdkmetric.WithProducer(producer))
	}
	counting := &countingExporter{Exporter: exporter, stats: stats}
	if !o.Delta {
		counting.seriesStarts = o.SeriesStarts
	}
	return sdkmetric.NewPeriodicReader(counting, readerOpts...), nil
}

// deltaTemporality reports counters and histograms as deltas, as the OTLP
// exporters' "delta" preference does: up-down counters (the Go runtime's
// memory in use) stay cumulative, and gauges have no temporality.
func deltaTemporality(kind sdkmetric.InstrumentKind) metricdata.Temporality {
	switch kind {
	case sdkmetric.InstrumentKindUpDownCounter, sdkmetric.InstrumentKindObservableUpDownCounter:
		return metricdata.CumulativeTemporality
	}
	return metricdata.DeltaTemporality
}

// clientTLS builds the TLS configuration: system roots or the CA file, and a
// client certificate when one is configured.
func clientTLS(o OTLPOptions) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read otlp ca_file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("otlp ca_file %s: no PEM certificate", o.CAFile)
		}
	}
	if o.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load otlp client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// ExportStats counts OTLP exports by outcome and logs failures, rate-limited:
// an export's failure is logged once, when its first attempt fails (the
// exporter then retries until the export's timeout), and counted when the
// export gives up.
type ExportStats struct {
	log     *zap.Logger
	limiter *logLimiter

	successes atomic.Int64
	// failing counts consecutive failures, for the recovery log line.
	failing atomic.Int64
	// lastSuccess is when an export last succeeded, in Unix nanoseconds.
	lastSuccess atomic.Int64
	// logged is set once the failure of the export under way is logged (one
	// reader exports, one export at a time); warned once any failure is,
	// until an export succeeds.
	logged, warned atomic.Bool

	mu       sync.Mutex
	failures map[string]int64 // by error.type
}

// NewExportStats returns empty statistics that log to log.
func NewExportStats(log *zap.Logger) *ExportStats {
	return &ExportStats{log: log, limiter: newLogLimiter(logPeriod), failures: map[string]int64{}}
}

// intercept is a gRPC client interceptor that logs the failure of an
// export's attempt.
func (s *ExportStats) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	if err != nil {
		s.logFailure(err)
	}
	return err
}

// logFailure logs err, the failure of the export under way or of one of its
// attempts, unless that export's failure is logged already or the limiter
// holds it back.
func (s *ExportStats) logFailure(err error) {
	if !s.logged.CompareAndSwap(false, true) {
		return
	}
	if ok, suppressed := s.limiter.allow(); ok {
		s.warned.Store(true)
		s.log.Warn("otlp export failed; it is retried until otlp.timeout, then its data is dropped "+
			"(cumulative totals catch up on the next success)",
			zap.String("error.type", errorType(err)), zap.Int("failures_not_logged", suppressed), zap.Error(err))
	}
}

// record counts the outcome of one export.
func (s *ExportStats) record(err error) {
	defer s.logged.Store(false) // the next export logs its own failure
	if err == nil {
		s.successes.Add(1)
		s.lastSuccess.Store(time.Now().UnixNano())
		if n, warned := s.failing.Swap(0), s.warned.Swap(false); n > 0 || warned {
			s.log.Info("otlp export succeeded again", zap.Int64("failed_exports", n))
			s.limiter.reset()
		}
		return
	}
	kind := errorType(err)
	s.mu.Lock()
	s.failures[kind]++
	s.mu.Unlock()
	s.failing.Add(1)
	s.logFailure(err)
}

// LastSuccess returns when an export last succeeded, the zero time for never.
func (s *ExportStats) LastSuccess() time.Time {
	if ns := s.lastSuccess.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Snapshot returns the successes and the failures by error.type.
func (s *ExportStats) Snapshot() (successes int64, failures map[string]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.successes.Load(), maps.Clone(s.failures)
}

// errorType names an export error: the gRPC status code in snake case, or
// deadline_exceeded / canceled / other.
func errorType(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.OK && st.Code() != codes.Unknown {
		return snakeCase(st.Code().String())
	}
	return "other"
}

// snakeCase turns a gRPC code name such as DeadlineExceeded into deadline_exceeded.
func snakeCase(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// countingExporter records the outcome of every export in stats, and gives
// the series that began before this run their start times (seriesStarts,
// OTLPOptions.SeriesStarts, nil for none).
type countingExporter struct {
	sdkmetric.Exporter
	stats        *ExportStats
	seriesStarts func() func(metric string, attrs attribute.Set) (time.Time, bool)
}

// Export forwards to the wrapped exporter and records the outcome. A
// failure is returned as an ExportError: logged already.
func (e *countingExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	if e.seriesStarts != nil {
		setStarts(rm, e.seriesStarts())
	}
	err := e.Exporter.Export(ctx, rm)
	e.stats.record(err)
	if err != nil {
		return ExportError{err}
	}
	return nil
}

// setStarts sets the start time of the cumulative sums' points of
// packet-exporter's scope in rm that start reports.
func setStarts(rm *metricdata.ResourceMetrics, start func(metric string, attrs attribute.Set) (time.Time, bool)) {
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != metricdef.ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				setPointStarts(m.Name, data.DataPoints, start)
			case metricdata.Sum[float64]:
				setPointStarts(m.Name, data.DataPoints, start)
			}
		}
	}
}

func setPointStarts[N int64 | float64](metric string, points []metricdata.DataPoint[N], start func(string, attribute.Set) (time.Time, bool)) {
	for i := range points {
		if t, ok := start(metric, points[i].Attributes); ok {
			points[i].StartTime = t
		}
	}
}

// ExportError is a failed OTLP export, which ExportStats has counted and
// logged: ErrorHandler does not log it again.
type ExportError struct{ error }

// Unwrap returns the exporter's error.
func (e ExportError) Unwrap() error { return e.error }
