package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf/rlimit"
	promversion "github.com/prometheus/common/version"
	"go.opentelemetry.io/otel"
	"go.uber.org/zap"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/capability"
	"github.com/packet-exporter/packet-exporter/internal/instance"
	"github.com/packet-exporter/packet-exporter/internal/live"
	"github.com/packet-exporter/packet-exporter/internal/server"
	"github.com/packet-exporter/packet-exporter/internal/telemetry"
	"github.com/packet-exporter/packet-exporter/receiver"
)

// shutdownTimeout bounds the graceful shutdown of the HTTP server and readers.
const shutdownTimeout = 10 * time.Second

// serve runs the exporter until ctx is done: it creates the kernel maps,
// starts the HTTP server, attaches to the interfaces and, at the end, detaches
// everything.
func serve(ctx context.Context, cfg config.Config, log *zap.Logger) (err error) {
	log.Info("starting packet-exporter", zap.String("version", version), zap.String("revision", promversion.GetRevision()))
	otel.SetErrorHandler(telemetry.ErrorHandler(log))
	if err := capability.CheckCurrent(); err != nil {
		return err
	}
	if err := capability.CheckBPFSyscall(); err != nil {
		return err
	}
	lock, err := instance.Acquire(instance.DefaultName)
	if errors.Is(err, instance.ErrRunning) && cfg.Persistence.Enabled {
		log.Info("another packet-exporter runs in this network namespace: asking it to hand over",
			zap.Duration("handover_timeout", cfg.Persistence.HandoverTimeout))
		lock, err = instance.RequestHandover(ctx, instance.DefaultName, cfg.Persistence.HandoverTimeout)
	}
	if err != nil {
		return err
	}
	defer lock.Release()
	var handover <-chan bool // a new instance asks for the state; nil: never
	if cfg.Persistence.Enabled {
		handover = lock.Handover()
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		log.Warn("could not raise RLIMIT_MEMLOCK; loading may fail on kernels before 5.11", zap.Error(err))
	}

	recv, err := receiver.New(cfg, log)
	if errors.Is(err, receiver.ErrPersistence) {
		return err
	}
	if err != nil {
		return fmt.Errorf("create kernel maps (packet-exporter needs root, or CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON): %w", err)
	}
	defer func() {
		if cerr := recv.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("detach: %w", cerr))
		}
		log.Info("detached from every interface")
	}()

	otlp := otlpOptions(cfg.OTLP)
	if otlp != nil {
		otlp.SeriesStarts = recv.SeriesStarts // series kept in the kernel across runs keep their start
	}
	provider, err := telemetry.New(telemetry.Options{
		Version:            version,
		ResourceAttributes: cfg.Resource.Attributes,
		CardinalityLimit:   telemetry.CardinalityLimit(receiver.SeriesLimit(cfg)),
		Prometheus:         cfg.Prometheus.Enabled,
		OTLP:               otlp,
		Manual:             true, // the live view's
		Runtime:            true,
		Log:                log,
		Producer:           recv.PacketSizeProducer,
		Disabled:           cfg.DisabledMetrics(),
	})
	if err != nil {
		return err
	}
	defer func() {
		// With OTLP on, this is the final export: bounded by
		// otlp.shutdown_timeout, so that a stop is prompt with the collector down.
		timeout := shutdownTimeout
		if cfg.OTLP.Enabled {
			timeout = cfg.OTLP.ShutdownTimeout
		}
		sctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if serr := provider.Shutdown(sctx); serr != nil {
			fields := []zap.Field{zap.Error(serr)}
			if provider.Exports != nil {
				last := "never"
				if t := provider.Exports.LastSuccess(); !t.IsZero() {
					last = t.Format(time.RFC3339)
				}
				fields = append(fields, zap.String("endpoint", cfg.OTLP.Endpoint), zap.String("last_successful_export", last))
			}
			log.Warn("final metrics export failed: what was counted since the last successful export was not sent", fields...)
		}
	}()
	meter := provider.Meter(version)
	if _, err := recv.RegisterMetrics(meter, receiver.BuildInfo{Version: version, Revision: promversion.GetRevision()}); err != nil {
		return err
	}
	if err := provider.RegisterMetrics(meter); err != nil {
		return err
	}
	if cfg.OTLP.Enabled {
		log.Info("pushing metrics over otlp", zap.String("endpoint", cfg.OTLP.Endpoint),
			zap.Duration("interval", cfg.OTLP.Interval), zap.String("temporality", cfg.OTLP.Temporality))
	}

	// The live view's history samples the counters every second until the
	// exporter stops.
	history := live.NewHistory(recv.LiveSources())
	historyCtx, stopHistory := context.WithCancel(ctx)
	historyDone := make(chan struct{})
	go func() {
		defer close(historyDone)
		history.Run(historyCtx)
	}()
	defer func() { // before the receiver closes
		stopHistory()
		<-historyDone
	}()

	// The HTTP server always runs, for the probes; /metrics only with Prometheus on.
	// /readyz waits for the steady state: interfaces attached, privileges dropped.
	var settled atomic.Bool
	srv, err := server.New(server.Options{
		Address:       cfg.Prometheus.ListenAddress,
		WebConfigFile: cfg.Prometheus.WebConfigFile,
		Registry:      provider.Registry,
		Live:          live.NewSource(provider.Manual, history),
		Ready:         func() bool { return settled.Load() && recv.Ready() },
		Version:       version,
		Pprof:         cfg.Debug.Pprof,
		Log:           log,
	})
	if err != nil {
		return err
	}
	if !cfg.Prometheus.Enabled && !cfg.OTLP.Enabled {
		log.Warn("prometheus and otlp are both disabled: the metrics go nowhere")
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve() }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("http shutdown", zap.Error(err))
		}
	}()
	log.Info("serving", zap.String("address", srv.Addr().String()), zap.Bool("metrics", cfg.Prometheus.Enabled),
		zap.Bool("web_config", cfg.Prometheus.WebConfigFile != ""), zap.Bool("pprof", cfg.Debug.Pprof))
	if cfg.Debug.Pprof {
		log.Warn("debug.pprof is on: the Go profiler is served under /debug/pprof/")
	}
	if err := recv.Start(ctx); err != nil {
		return err
	}
	if err := dropPrivileges(cfg, log); err != nil {
		return err
	}
	settled.Store(true)
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-serveErr:
		return err
	case <-handover: // true: released only when serve returns
		log.Info("a new packet-exporter in this network namespace asks for the state: handing over")
		return errHandedOver
	}
	return nil
}

// errHandedOver ends serve when the state was handed over to a new
// instance (persistence): the process then idles until it is stopped.
var errHandedOver = errors.New("handed over to a new instance")

// otlpOptions maps the otlp configuration section to the OTLP reader's
// options, or nil when OTLP is off.
func otlpOptions(c config.OTLP) *telemetry.OTLPOptions {
	if !c.Enabled {
		return nil
	}
	endpoint, plaintext := c.Target()
	return &telemetry.OTLPOptions{
		Endpoint:  endpoint,
		Plaintext: plaintext,
		CAFile:    c.CAFile,
		CertFile:  c.CertFile,
		KeyFile:   c.KeyFile,
		Headers:   c.Headers,
		Gzip:      c.Compression == config.CompressionGzip,
		Interval:  c.Interval,
		Timeout:   c.Timeout,
		Delta:     c.Temporality == config.TemporalityDelta,
	}
}
