package metricdef

// README.md's metric tables and names_generated.go, generated from
// metadata.yaml (make generate).
//go:generate go run ./cmd/metricgen -readme ../../README.md -names names_generated.go
