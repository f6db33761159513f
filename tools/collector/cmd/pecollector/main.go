// Command pecollector is the OpenTelemetry Collector distribution that the
// repository's otel-collector.yaml is written for, reduced to the components
// that file uses: the otlp receiver, the batch processor and the prometheus and
// debug exporters. The module's tests use it to validate and run that file.
//
//	pecollector --config FILE            run the collector
//	pecollector validate --config FILE   check a configuration and exit
//	pecollector components               list the components built in
//
// Configuration sources: file: (the default for a bare path), env: and yaml:
// (which --set uses). The collector's own telemetry is the stock one
// (service::telemetry, internal metrics on localhost:8888 by default).
package main

import (
	"fmt"
	"os"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusexporter"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/batchprocessor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

// The releases the components come from (see go.mod): Version is the
// collector's (its 0.x modules), contribVersion the contrib repository's.
const (
	Version        = "0.165.0"
	contribVersion = "0.165.1"
)

// factories lists the components of this distribution, with the Go module
// of each for the components command.
func factories() (otelcol.Factories, error) {
	var (
		f   otelcol.Factories
		err error
	)
	otlp := otlpreceiver.NewFactory()
	if f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](otlp); err != nil {
		return f, fmt.Errorf("receivers: %w", err)
	}
	batch := batchprocessor.NewFactory()
	if f.Processors, err = otelcol.MakeFactoryMap[processor.Factory](batch); err != nil {
		return f, fmt.Errorf("processors: %w", err)
	}
	prom, debug := prometheusexporter.NewFactory(), debugexporter.NewFactory()
	if f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](prom, debug); err != nil {
		return f, fmt.Errorf("exporters: %w", err)
	}
	f.Telemetry = otelconftelemetry.NewFactory()

	f.ReceiverModules = map[component.Type]string{
		otlp.Type(): "go.opentelemetry.io/collector/receiver/otlpreceiver v" + Version,
	}
	f.ProcessorModules = map[component.Type]string{
		batch.Type(): "go.opentelemetry.io/collector/processor/batchprocessor v" + Version,
	}
	f.ExporterModules = map[component.Type]string{
		prom.Type():  "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusexporter v" + contribVersion,
		debug.Type(): "go.opentelemetry.io/collector/exporter/debugexporter v" + Version,
	}
	return f, nil
}

func main() {
	settings := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     "pecollector",
			Description: "OpenTelemetry Collector for packet-exporter's otel-collector.yaml",
			Version:     Version,
		},
		Factories: factories,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{
					fileprovider.NewFactory(),
					envprovider.NewFactory(),
					yamlprovider.NewFactory(),
				},
				DefaultScheme: "env",
			},
		},
	}
	// The command prints its own error.
	if err := otelcol.NewCommand(settings).Execute(); err != nil {
		os.Exit(1)
	}
}
