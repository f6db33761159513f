package main

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/service/telemetry"
)

// The collector's own telemetry is kept minimal: a zap logger on stderr and
// no-op meter and tracer providers. The stock otelconftelemetry factory would
// also serve internal metrics, but it links in cloud resource detectors (AWS
// SDK, Kubernetes client) that more than double this collector's build time.

// telemetryConfig is the service::telemetry section.
type telemetryConfig struct {
	Logs logsConfig `mapstructure:"logs"`
}

type logsConfig struct {
	// Level is a zap level: debug, info, warn, error.
	Level string `mapstructure:"level"`
	// Encoding is "console" or "json".
	Encoding string `mapstructure:"encoding"`
}

// Validate implements confmap's Validator.
func (c *telemetryConfig) Validate() error {
	if _, err := zap.ParseAtomicLevel(c.Logs.Level); err != nil {
		return fmt.Errorf("logs::level: %w", err)
	}
	if c.Logs.Encoding != "console" && c.Logs.Encoding != "json" {
		return fmt.Errorf("logs::encoding: %q is neither console nor json", c.Logs.Encoding)
	}
	return nil
}

func newTelemetryFactory() telemetry.Factory {
	return telemetry.NewFactory(
		func() component.Config {
			return &telemetryConfig{Logs: logsConfig{Level: "info", Encoding: "console"}}
		},
		telemetry.WithCreateLogger(createLogger),
	)
}

func createLogger(_ context.Context, set telemetry.LoggerSettings, cfg component.Config) (*zap.Logger, component.ShutdownFunc, error) {
	c, ok := cfg.(*telemetryConfig)
	if !ok {
		return nil, nil, fmt.Errorf("unexpected telemetry configuration type %T", cfg)
	}
	level, err := zap.ParseAtomicLevel(c.Logs.Level)
	if err != nil {
		return nil, nil, err
	}
	zc := zap.NewProductionConfig()
	zc.Level = level
	zc.Encoding = c.Logs.Encoding
	zc.Sampling = nil
	zc.OutputPaths = []string{"stderr"}
	zc.ErrorOutputPaths = []string{"stderr"}
	if c.Logs.Encoding == "console" {
		zc.EncoderConfig = zap.NewDevelopmentEncoderConfig()
	}
	build := set.BuildZapLogger
	if build == nil {
		build = func(zc zap.Config, opts ...zap.Option) (*zap.Logger, error) { return zc.Build(opts...) }
	}
	logger, err := build(zc)
	if err != nil {
		return nil, nil, err
	}
	return logger, func(context.Context) error {
		_ = logger.Sync() // stderr cannot always be synced; nothing is lost
		return nil
	}, nil
}
