// Package testexporter holds the test helpers that every module of the
// repository shares to run packet-exporter, and the programs its tests run
// beside it, as real processes:
//
//   - Program builds a program of the repository once per test process;
//     Binary is packet-exporter built as `make build` builds it.
//   - Start runs a program, inside a test network namespace or not, with its
//     standard output and error collected; StartExporter adds an HTTP client
//     that reaches the exporter's server inside its namespace.
//   - Get, Parse and Scrape fetch and parse a Prometheus text exposition, with
//     one name validation scheme, into Metrics.
//   - Poll and WaitFor wait, bounded, for a condition; a Process waits for its
//     output and an Exporter for readiness and for its metrics.
//   - ProcStatus, Memory and OpenFiles read what /proc says of a process.
//
// The test's cleanup kills a process that still runs and, if the test failed,
// logs the end of its output. The binaries are built into a temporary
// directory that Run removes: a module's TestMain ends with
// os.Exit(testexporter.Run(m)).
package testexporter
