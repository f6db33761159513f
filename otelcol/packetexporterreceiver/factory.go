package packetexporterreceiver

import (
	"context"
	"errors"
	"time"

	"github.com/vishvananda/netns"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/packet-exporter/packet-exporter/config"
)

// componentType is the receiver's name in a collector configuration.
var componentType = component.MustNewType("packetexporter")

// stability is the receiver's stability level for metrics.
const stability = component.StabilityLevelAlpha

// NewFactory returns the factory of the packetexporter receiver.
func NewFactory() receiver.Factory {
	return newFactory(netns.None())
}

// newFactory is NewFactory counting the interfaces of network namespace ns
// (tests count those of a test namespace).
func newFactory(ns netns.NsHandle) receiver.Factory {
	return receiver.NewFactory(componentType, createDefaultConfig,
		receiver.WithMetrics(func(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
			return createMetrics(set, cfg, next, ns)
		}, stability))
}

// createDefaultConfig is the agent's defaults with the scraper's, but a 15s collection interval.
func createDefaultConfig() component.Config {
	controller := scraperhelper.NewDefaultControllerConfig()
	controller.CollectionInterval = 15 * time.Second
	return &Config{ControllerConfig: controller, Counting: config.Default()}
}

// createMetrics builds the scraper controller around one counter.
func createMetrics(set receiver.Settings, cfg component.Config, next consumer.Metrics, ns netns.NsHandle) (receiver.Metrics, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, errors.New("packetexporter receiver: configuration is not a *packetexporterreceiver.Config")
	}
	pe := &counter{cfg: c.Counting, log: set.Logger, netns: ns}
	s, err := scraper.NewMetrics(pe.scrape, scraper.WithStart(pe.start), scraper.WithShutdown(pe.shutdown))
	if err != nil {
		return nil, err
	}
	return scraperhelper.NewMetricsController(&c.ControllerConfig, set, next, scraperhelper.AddMetricsScraper(componentType, s))
}
