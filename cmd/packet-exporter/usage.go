package main

import (
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	promversion "github.com/prometheus/common/version"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/live"
)

// versionText is what --version prints, as Prometheus exporters print it:
// the revision is the go command's build information's (unknown without
// version control information), and the branch and build date
// prometheus/common/version's, empty unless a build sets them (-ldflags -X).
func versionText() string {
	promversion.Version = version
	return promversion.Print("packet-exporter")
}

// writeUsage writes what --help prints: what the program does, its flags
// and endpoints, where its configuration comes from, the environment
// variables it reads and its exit codes.
func writeUsage(w io.Writer, flags *flag.FlagSet) {
	fmt.Fprint(w, `Usage: packet-exporter [flags]

packet-exporter counts every packet crossing this host's network interfaces
with eBPF (tc hooks, or XDP on ingress) and exports the counts as
OpenTelemetry metrics: served to Prometheus on /metrics and, with
otlp.enabled, pushed over OTLP/gRPC. It needs root, or CAP_BPF, CAP_NET_ADMIN
and CAP_PERFMON.

Flags:
`)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	flags.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(tw, "  --%s %s\t%s\n", f.Name, name, usage)
	})
	tw.Flush()
	fmt.Fprintf(w, `
Endpoints, on prometheus.listen_address (default :9743):
  /               the live view
  /metrics        the metrics: Prometheus text, or OpenMetrics when asked for
  %-15s the live view's data (JSON)
  /healthz        200 while the process serves
  /readyz         200 once every selected interface is counted
  /debug/pprof/   the Go profiler, with debug.pprof: true

Configuration, each source winning over the one before: the embedded
defaults; the YAML file of --config (packet-exporter.example.yaml lists every
key); the environment variables below; the flags above.

Environment variables:
`, live.Path)
	for _, v := range config.EnvVariables() {
		fmt.Fprintf(tw, "  %s\t%s\n", v.Name, v.Key)
	}
	tw.Flush()
	fmt.Fprint(w, `
Exit status: 0 success, 1 runtime failure, 2 bad usage or configuration.
`)
}
