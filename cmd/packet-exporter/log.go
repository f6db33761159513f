package main

import (
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/packet-exporter/packet-exporter/config"
)

// newLogger builds the zap logger the configuration asks for, writing to
// standard error.
func newLogger(c config.Log) (*zap.Logger, error) {
	zc, err := loggerConfig(c)
	if err != nil {
		return nil, err
	}
	return zc.Build()
}

// loggerConfig is the zap configuration of newLogger.
func loggerConfig(c config.Log) (zap.Config, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return zap.Config{}, fmt.Errorf("log level: %w", err)
	}
	zc := zap.NewProductionConfig()
	if c.Format == "console" {
		zc = zap.NewDevelopmentConfig()
		zc.Development = false
	}
	zc.Level = zap.NewAtomicLevelAt(level)
	zc.Encoding = c.Format
	zc.OutputPaths = []string{"stderr"}
	zc.ErrorOutputPaths = []string{"stderr"}
	zc.Sampling = nil
	// Failures are expected conditions (missing privileges, a taken port)
	// with their own clear messages; a Go stack trace adds only noise.
	zc.DisableStacktrace = true
	zc.EncoderConfig.TimeKey = "time"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	// Durations as Go writes them, with their unit: "15s", not 15.
	zc.EncoderConfig.EncodeDuration = zapcore.StringDurationEncoder
	return zc, nil
}
