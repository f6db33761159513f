// Command packet-exporter counts every packet crossing the host's network
// interfaces with eBPF (XDP on ingress, tcx on egress) and serves the counts as
// OpenTelemetry metrics on a Prometheus /metrics endpoint.
//
// Usage:
//
//	packet-exporter [--config FILE] [--check-config] [--version]
//	    [--web.listen-address ADDRESS] [--web.config.file FILE]
//	    [--log.level LEVEL] [--log.format FORMAT]
//
// Without --config it runs on the embedded default configuration: every
// interface but lo, Prometheus on :9743. Flags win over the environment,
// which wins over the file; --help says more. Exit codes: 0 success, 1 runtime
// failure, 2 bad usage or configuration. It needs root, or CAP_BPF,
// CAP_NET_ADMIN and CAP_PERFMON, and Linux 6.6 or later for egress.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
	// Mozilla's root certificates, used only where the host or the image has
	// none (make image's base is empty): OTLP over TLS without otlp.ca_file.
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/instance"
	"github.com/packet-exporter/packet-exporter/receiver"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run is the whole program; main only wires it to the process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	flags := flag.NewFlagSet("packet-exporter", flag.ContinueOnError)
	flags.SetOutput(io.Discard) // usage is written below, to stdout for --help
	configPath := flags.String("config", "", "YAML configuration `file` (default: the embedded default configuration)")
	checkOnly := flags.Bool("check-config", false, "validate the configuration and exit")
	showVersion := flags.Bool("version", false, "print the version and exit")
	uninstall := flags.Bool("uninstall", false, "detach and remove everything packet-exporter left in this network namespace (persistence.path's pins, legacy tc filters), and exit")
	applyFlags := config.AddFlags(flags)
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeUsage(stdout, flags)
			return exitOK
		}
		fmt.Fprintf(stderr, "packet-exporter: %v\n\n", err)
		writeUsage(stderr, flags)
		return exitUsage
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "packet-exporter: unexpected argument %q\n", flags.Arg(0))
		return exitUsage
	}
	if *showVersion {
		fmt.Fprintln(stdout, versionText())
		return exitOK
	}
	cfg, source, err := loadConfig(*configPath, getenv, applyFlags)
	if err != nil {
		fmt.Fprintf(stderr, "packet-exporter: invalid configuration:\n%v\n", err)
		return exitUsage
	}
	if *checkOnly {
		fmt.Fprintf(stdout, "configuration %s is valid\n", source)
		return exitOK
	}
	log, err := newLogger(cfg.Log)
	if err != nil {
		fmt.Fprintf(stderr, "packet-exporter: %v\n", err)
		return exitUsage
	}
	defer log.Sync() //nolint:errcheck // nothing to do about a failed flush at exit
	if *uninstall {
		return uninstallState(cfg, log)
	}
	err = serve(ctx, cfg, log)
	if errors.Is(err, errHandedOver) {
		// A rolling update's new instance counts now; this one waits to be
		// stopped rather than exit, which would make its supervisor start it again.
		log.Info("handed over to the new instance; idle until stopped")
		<-ctx.Done()
		return exitOK
	}
	if err != nil {
		log.Error("packet-exporter failed", zap.Error(err))
		return exitFailure
	}
	return exitOK
}

// loadConfig reads the file at path, or the embedded default when path is
// empty, applies the environment overrides, then the command-line flags,
// and validates the result: flags win over the environment, which wins over
// the file.
func loadConfig(path string, getenv func(string) string, applyFlags func(*config.Config) error) (config.Config, string, error) {
	var (
		cfg    config.Config
		source = path
		err    error
	)
	if path == "" {
		source = "(embedded default)"
		cfg, err = config.LoadDefault()
	} else {
		cfg, err = config.Load(path)
	}
	if err == nil {
		err = config.ApplyEnv(&cfg, getenv)
	}
	if err == nil {
		err = applyFlags(&cfg)
	}
	if err != nil {
		return cfg, source, err
	}
	return cfg, source, cfg.Validate()
}

// uninstallState removes what packet-exporter left in this network
// namespace (--uninstall).
func uninstallState(cfg config.Config, log *zap.Logger) int {
	// Never under a running exporter, which would lose its attachments (or,
	// stopping, pin them again): a Kubernetes init container retries until
	// the agent's pod is gone.
	lock, err := instance.Acquire(instance.DefaultName)
	if err != nil {
		log.Error("uninstall: stop packet-exporter in this network namespace first", zap.Error(err))
		return exitFailure
	}
	defer lock.Release()
	pins, filters, err := receiver.Uninstall(cfg.Persistence.Path)
	if err != nil {
		log.Error("uninstall", zap.Error(err), zap.Int("pins_removed", pins), zap.Int("tc_filters_removed", filters))
		return exitFailure
	}
	if pins == 0 && filters == 0 {
		log.Info("nothing of packet-exporter's found in this network namespace", zap.String("persistence_path", cfg.Persistence.Path))
		return exitOK
	}
	log.Info("removed what packet-exporter left in this network namespace",
		zap.Int("pins_removed", pins), zap.Int("tc_filters_removed", filters), zap.String("persistence_path", cfg.Persistence.Path))
	return exitOK
}
