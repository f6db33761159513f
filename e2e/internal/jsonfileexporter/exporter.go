// Package jsonfileexporter is a minimal OpenTelemetry Collector exporter for
// tests: it appends every metrics batch it receives to a file as one line of
// OTLP JSON (the encoding of pmetric.JSONMarshaler), written with a single
// write call, so that a test can read back exactly what the collector got.
//
// Configuration (component type "jsonfile"):
//
//	exporters:
//	  jsonfile:
//	    path: /tmp/received.jsonl
//
// The file is opened for appending (created if missing) when the component
// starts, so a collector restarted with the same configuration keeps adding to
// the lines of the previous run. Readers must ignore a last line that does not
// yet end with a newline.
package jsonfileexporter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Type is the component type used in collector configurations.
var Type = component.MustNewType("jsonfile")

// Config is the exporter's configuration.
type Config struct {
	// Path of the file the lines are appended to.
	Path string `mapstructure:"path"`
}

// Validate implements confmap's Validator: the path is required.
func (c *Config) Validate() error {
	if c.Path == "" {
		return errors.New("path must be set")
	}
	return nil
}

// NewFactory returns the factory of the "jsonfile" exporter (metrics only).
func NewFactory() exporter.Factory {
	return exporter.NewFactory(Type,
		func() component.Config { return &Config{} },
		exporter.WithMetrics(createMetrics, component.StabilityLevelDevelopment))
}

func createMetrics(_ context.Context, _ exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("jsonfile: unexpected configuration type %T", cfg)
	}
	return &metricsExporter{path: c.Path}, nil
}

// metricsExporter implements exporter.Metrics.
type metricsExporter struct {
	path string

	mu   sync.Mutex
	file *os.File
	json pmetric.JSONMarshaler
}

var _ exporter.Metrics = (*metricsExporter)(nil)

func (e *metricsExporter) Start(context.Context, component.Host) error {
	f, err := os.OpenFile(e.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("jsonfile: %w", err)
	}
	e.mu.Lock()
	e.file = f
	e.mu.Unlock()
	return nil
}

func (e *metricsExporter) Shutdown(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.file == nil {
		return nil
	}
	err := e.file.Close()
	e.file = nil
	return err
}

func (e *metricsExporter) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// ConsumeMetrics appends md as one line. The line goes to the kernel with one
// write call before ConsumeMetrics returns (an *os.File has no user-space
// buffer), so it is visible to readers as soon as the call returns.
func (e *metricsExporter) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	line, err := e.json.MarshalMetrics(md)
	if err != nil {
		return fmt.Errorf("jsonfile: marshal: %w", err)
	}
	line = append(line, '\n')
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.file == nil {
		return errors.New("jsonfile: exporter is not started")
	}
	if _, err := e.file.Write(line); err != nil {
		return fmt.Errorf("jsonfile: write %s: %w", e.path, err)
	}
	return nil
}
