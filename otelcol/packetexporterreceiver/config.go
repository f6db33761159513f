package packetexporterreceiver

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/packet-exporter/packet-exporter/config"
)

// countingKeys are the agent's top-level configuration keys the receiver
// takes: what is counted and how it is labelled.
var countingKeys = []string{"interfaces", "egress", "xdp", "ingress", "events", "flows", "limits", "drops", "tunnels", "attribution", "conventions", "persistence", "metrics"}

// agentOnlyKeys are the agent's keys that the collector's own configuration
// replaces, with what replaces them.
var agentOnlyKeys = map[string]string{
	"prometheus": "the collector's exporters (prometheus, otlp) export the metrics",
	"otlp":       "the collector's exporters (otlp_grpc, otlp_http) export the metrics",
	"resource":   "the collector's processors (resource, resourcedetection) set resource attributes",
	"log":        "the collector's service::telemetry::logs configures logging",
	"debug":      "the collector's pprof extension serves the Go profiler",
}

// Config is the receiver's configuration: the scraper settings and the
// agent's configuration of what is counted.
type Config struct {
	scraperhelper.ControllerConfig `mapstructure:",squash"`

	// Counting is the agent's configuration, decoded by the agent's decoder
	// (package config: same defaults, checks and messages); the receiver uses
	// its counting sections (countingKeys) and ignores the rest.
	Counting config.Config `mapstructure:"-"`
}

// Unmarshal decodes the scraper keys with the collector's decoder and the
// counting keys with the agent's.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	scraperKeys := map[string]any{}
	counting := map[string]any{}
	var refused []string
	for key, value := range conf.ToStringMap() {
		reason, agentOnly := agentOnlyKeys[key]
		switch {
		case key == "collection_interval" || key == "initial_delay" || key == "timeout":
			scraperKeys[key] = value
		case agentOnly:
			refused = append(refused, fmt.Sprintf("%s: not a key of the packetexporter receiver: %s", key, reason))
		default:
			// Unknown keys go to the agent's decoder too, for its did-you-mean message.
			counting[key] = value
		}
	}
	if len(refused) > 0 {
		slices.Sort(refused)
		return errors.New(strings.Join(refused, "\n"))
	}
	if err := confmap.NewFromStringMap(scraperKeys).Unmarshal(&c.ControllerConfig); err != nil {
		return err
	}
	// The agent's decoder takes the values the collector read (no YAML text
	// in between); with no file positions left, its errors keep the key and
	// message only: "KEY: MESSAGE", as the agent words them.
	cfg, err := config.Decode("", counting)
	if err != nil {
		return withoutPositions(err)
	}
	c.Counting = cfg
	return nil
}

// Validate applies the agent's checks to the counting configuration (those
// of a configuration built in code; Unmarshal has checked a decoded one).
func (c *Config) Validate() error {
	return withoutPositions(c.Counting.Validate())
}

// withoutPositions removes the file, line and column of each problem of a
// config.Errors, which point into a document the user never wrote, and
// orders the problems by key: the collector keeps no order of keys.
func withoutPositions(err error) error {
	var problems config.Errors
	if !errors.As(err, &problems) {
		return err
	}
	stripped := make(config.Errors, 0, len(problems))
	for _, p := range problems {
		if p == nil {
			continue
		}
		q := *p
		q.File, q.Line, q.Column = "", 0, 0
		stripped = append(stripped, &q)
	}
	slices.SortStableFunc(stripped, func(a, b *config.Error) int { return strings.Compare(a.Key, b.Key) })
	return stripped
}
