package metricdef

// README.md's metric tables, metadata_generated.go and the Collector receiver's
// documentation.md (by mdatagen), generated from metadata.yaml (make generate).
//go:generate go run ./cmd/metricgen -readme ../../README.md -go metadata_generated.go -collector-doc ../../otelcol/packetexporterreceiver/documentation.md -mdatagen ../../tools/mdatagen
