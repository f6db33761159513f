package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf/rlimit"
	"go.opentelemetry.io/otel"
	"go.uber.org/zap"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/config"
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
	log.Info("starting packet-exporter", zap.String("version", version), zap.String("revision", revision()))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("opentelemetry", zap.Error(err))
	}))
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		log.Warn("could not raise RLIMIT_MEMLOCK; loading may fail on kernels before 5.11", zap.Error(err))
	}

	recv, err := receiver.New(cfg, log)
	if err != nil {
		return fmt.Errorf("create kernel maps (packet-exporter needs root, or CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON): %w", err)
	}
	defer func() {
		if cerr := recv.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("detach: %w", cerr))
		}
		log.Info("detached from every interface")
	}()

	provider, err := telemetry.New(telemetry.Options{
		Version:          version,
		CardinalityLimit: telemetry.CardinalityLimit(cfg.Limits.MaxInterfaces, 2*bpf.EntriesPerDirection),
		Prometheus:       cfg.Prometheus.Enabled,
	})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if serr := provider.Shutdown(sctx); serr != nil {
			err = errors.Join(err, fmt.Errorf("shut down metrics: %w", serr))
		}
	}()
	if _, err := recv.RegisterMetrics(provider.Meter(version), receiver.BuildInfo{Version: version, Revision: revision()}); err != nil {
		return err
	}

	var srv *server.Server
	if cfg.Prometheus.Enabled {
		if srv, err = server.New(cfg.Prometheus.ListenAddress, provider.Registry, version, log); err != nil {
			return err
		}
	} else {
		log.Warn("prometheus.enabled is false: no endpoint serves the metrics")
	}

	if err := recv.Start(); err != nil {
		return err
	}

	serveErr := make(chan error, 1)
	if srv != nil {
		go func() { serveErr <- srv.Serve() }()
		log.Info("serving metrics", zap.String("address", srv.Addr().String()))
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-serveErr:
		return err
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("http shutdown", zap.Error(err))
		}
	}
	return nil
}
