// Package server serves packet-exporter's HTTP endpoints: a landing page at
// "/", the Prometheus exposition at "/metrics" (when Prometheus is on), and
// the probes "/healthz" (the process serves) and "/readyz" (ready() is true).
package server

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Timeouts and limits of the HTTP server: a slow or stuck client cannot hold
// a connection or memory for long.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 16 << 10
	// scrapeTimeout bounds one collection when the scraper sets no timeout.
	scrapeTimeout = 30 * time.Second
)

// Server is the HTTP server.
type Server struct {
	http     *http.Server
	listener net.Listener
	log      *zap.Logger
}

// New listens on address and prepares the handlers; Serve starts serving.
// Listening here, before anything is attached, makes a taken port fail fast.
// registry may be nil (no /metrics); ready reports readiness for /readyz.
func New(address string, registry *prometheus.Registry, ready func() bool, version string, log *zap.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", address)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", address, err)
	}
	mux := http.NewServeMux()
	if registry != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{
			ErrorLog:            zap.NewStdLog(log),
			ErrorHandling:       promhttp.ContinueOnError,
			MaxRequestsInFlight: 10,
			Timeout:             scrapeTimeout,
		}))
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not ready: not every selected interface is counted yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("/{$}", landingPage(version, registry != nil))
	return &Server{
		listener: ln,
		log:      log,
		http: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          zap.NewStdLog(log),
		},
	}, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.listener.Addr() }

// Serve serves until Shutdown; it returns nil after a shutdown.
func (s *Server) Serve() error {
	if err := s.http.Serve(s.listener); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}

// Shutdown stops accepting connections and waits for requests in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.http.Shutdown(ctx)
}

var landing = template.Must(template.New("landing").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>packet-exporter</title></head>
<body>
<h1>packet-exporter</h1>
<p>Counts every packet crossing this host's interfaces with eBPF (XDP ingress, tcx egress) and exports the counts as OpenTelemetry metrics.</p>
{{if .Metrics}}<p><a href="/metrics">Metrics</a></p>{{end}}
<p><a href="/healthz">Health</a> · <a href="/readyz">Readiness</a></p>
<p>Version {{.Version}}</p>
</body>
</html>
`))

func landingPage(version string, metrics bool) http.HandlerFunc {
	data := struct {
		Version string
		Metrics bool
	}{version, metrics}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := landing.Execute(w, data); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}
}
