// Package server serves packet-exporter's HTTP endpoints: the live view at
// "/" (its data at /api/v1/live, see package live), the Prometheus
// exposition at "/metrics" (when Prometheus is on), the probes "/healthz"
// (the process serves) and "/readyz" (ready() is true), and, only when
// enabled, the Go profiler under "/debug/pprof/".
//
// Every endpoint sits behind the optional web configuration file of the
// Prometheus exporter-toolkit (TLS, client certificates, basic
// authentication, rate limiting, security headers), the format every
// Prometheus exporter uses.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"

	"github.com/packet-exporter/packet-exporter/internal/live"
)

// Limits of the HTTP server: a slow or stuck client cannot hold a
// connection, a goroutine or memory for long, and scrapes cannot pile up.
type Limits struct {
	// ReadHeaderTimeout bounds the time to receive a request's headers, so a
	// client sending them byte by byte is cut off.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the time to receive a whole request.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of the request headers to the
	// end of the response, so a client that never reads is cut off.
	WriteTimeout time.Duration
	// IdleTimeout bounds a keep-alive connection's wait for the next request.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the size of the request headers (larger: 431).
	MaxHeaderBytes int
	// ScrapeTimeout bounds one /metrics or live.Path request, waiting for a
	// slot and rendering included; beyond it the answer is 503.
	ScrapeTimeout time.Duration
	// Renders is how many /metrics responses are rendered at once; further
	// scrapes wait for a slot, not refused. Concurrent scrapes share a collection.
	Renders int
}

// DefaultLimits are the limits packet-exporter runs with.
func DefaultLimits() Limits {
	return Limits{
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ScrapeTimeout:     30 * time.Second,
		Renders:           max(2, runtime.GOMAXPROCS(0)),
	}
}

// Options configure the server.
type Options struct {
	// Address is the host:port to listen on.
	Address string
	// WebConfigFile is an exporter-toolkit web configuration file (TLS, basic
	// authentication), read again for every request and TLS handshake so that
	// certificates and users change without a restart; empty: plain HTTP, no authentication.
	WebConfigFile string
	// Registry is served on /metrics; nil serves no /metrics.
	Registry *prometheus.Registry
	// Live is the live view's data, served on live.Path; nil serves the
	// page without data.
	Live *live.Source
	// Ready reports readiness for /readyz.
	Ready func() bool
	// Version is shown on the landing page.
	Version string
	// Pprof serves the Go profiler under /debug/pprof/.
	Pprof bool
	// Log receives the server's own messages.
	Log *zap.Logger
	// Limits are the timeouts and limits; the zero value means DefaultLimits.
	Limits Limits
}

// Server is the HTTP server.
type Server struct {
	http          *http.Server
	listener      net.Listener
	webConfigFile string
	log           *zap.Logger
}

// New listens on the address and prepares the handlers; Serve starts serving.
// Listening here, before anything is attached, makes a taken port fail fast.
func New(o Options) (*Server, error) {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Ready == nil {
		o.Ready = func() bool { return true }
	}
	limits := o.Limits
	if limits == (Limits{}) {
		limits = DefaultLimits()
	}
	ln, err := net.Listen("tcp", o.Address)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", o.Address, err)
	}
	mux := http.NewServeMux()
	if o.Registry != nil {
		mux.Handle("/metrics", metricsHandler(o.Registry, limits, o.Log))
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !o.Ready() {
			http.Error(w, "not ready: not every selected interface is counted yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if o.Pprof {
		// Registered on this mux only: nothing serves http.DefaultServeMux.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if o.Live != nil {
		mux.Handle(live.Path, live.SnapshotHandler(o.Live, limits.ScrapeTimeout, o.Log))
	}
	mux.Handle(live.AssetsPath, live.AssetsHandler())
	mux.Handle("/{$}", live.PageHandler(live.PageData{Version: o.Version, Metrics: o.Registry != nil, Pprof: o.Pprof}))
	// Connection-level errors (TLS handshakes of port scanners, clients cut
	// off by the timeouts) are routine: debug level, which is valid, so
	// NewStdLogAt cannot fail.
	errorLog, _ := zap.NewStdLogAt(o.Log.Named("http"), zap.DebugLevel)
	return &Server{
		listener:      ln,
		webConfigFile: o.WebConfigFile,
		log:           o.Log,
		http: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: limits.ReadHeaderTimeout,
			ReadTimeout:       limits.ReadTimeout,
			WriteTimeout:      limits.WriteTimeout,
			IdleTimeout:       limits.IdleTimeout,
			MaxHeaderBytes:    limits.MaxHeaderBytes,
			ErrorLog:          errorLog,
		},
	}, nil
}

// metricsHandler serves the registry. Concurrent scrapes share one
// collection (CoalesceGather); at most limits.Renders responses are rendered
// at once and the others wait for a slot instead of being refused. The
// timeout handler buffers each response and writes it to the client only
// after rendering, so a client that reads slowly or never holds no slot.
func metricsHandler(registry *prometheus.Registry, limits Limits, log *zap.Logger) http.Handler {
	render := promhttp.HandlerFor(registry, promhttp.HandlerOpts{
		ErrorLog:       zap.NewStdLog(log),
		ErrorHandling:  promhttp.ContinueOnError,
		CoalesceGather: true,
		// OpenMetrics to a scraper that asks for it (Accept), text otherwise.
		EnableOpenMetrics: true,
	})
	slots := make(chan struct{}, max(1, limits.Renders))
	queued := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
		case <-r.Context().Done():
			return // timed out (the timeout handler answers) or the client left
		}
		defer func() { <-slots }()
		render.ServeHTTP(w, r)
	})
	return http.TimeoutHandler(queued, limits.ScrapeTimeout,
		fmt.Sprintf("scrape did not complete within %v\n", limits.ScrapeTimeout))
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.listener.Addr() }

// Serve serves until Shutdown; it returns nil after a shutdown. With a web
// configuration file it serves TLS and checks credentials as the file says.
func (s *Server) Serve() error {
	// The exporter-toolkit logs through log/slog: to the server's logger.
	toolkitLog := slog.New(zapslog.NewHandler(s.log.Core(), zapslog.WithCaller(true)))
	err := web.Serve(s.listener, s.http, &web.FlagConfig{WebConfigFile: &s.webConfigFile}, toolkitLog)
	if !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}

// Shutdown stops accepting connections and waits for requests in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.http.Shutdown(ctx)
}
