// Package otelcolbuild builds the repository's OpenTelemetry Collectors, all
// from one builder manifest, deploy/otelcol/manifest.yaml (the distribution
// users build), with the OpenTelemetry Collector Builder (ocb) that
// deploy/otelcol/go.mod pins. It is the one build helper of the modules that
// run a collector: e2e (the distribution plus its jsonfile exporter),
// tools/collector (the distribution reduced to the components of
// otel-collector.yaml) and deploy (the manifest's checks).
//
// A Variant declares a collector as the shipped manifest, or the components
// of it that Keep names, plus components of a module of this checkout;
// Derive turns it into the manifest ocb builds, with the shipped replaces
// resolved to this checkout. A Collector builds a variant once per test
// process and keeps it under the user's cache directory, by a key that hashes
// everything the build reads (Derived.Key), so that an unchanged collector is
// found in 0.1 s and a cold build (about 5 minutes on 2 cores) is paid once.
//
// The package needs nothing of the collector's: it reads the manifest as
// YAML and runs ocb as a program. That keeps it in the product module, which
// every test module already requires, without adding the collector's
// dependencies to the product's go.mod.
package otelcolbuild
