package metricdef

// README.md's metric tables, generated from metadata.yaml (make generate).
//go:generate go run ./cmd/readmegen -readme ../../README.md
