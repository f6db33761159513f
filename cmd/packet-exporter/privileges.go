package main

import (
	"fmt"

	"github.com/prometheus/exporter-toolkit/web"
	"go.uber.org/zap"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/capability"
)

// dropPrivileges runs once the existing interfaces are attached: it keeps
// only capability.Steady (see there) and drops every other capability of every
// thread, or warns and goes on where the kernel does not allow it.
// It fails only when the web configuration or its TLS files, which every
// request reads again, have become unreadable without the dropped capabilities.
func dropPrivileges(cfg config.Config, log *zap.Logger) error {
	result, err := capability.Drop(capability.Steady)
	if err != nil {
		log.Warn("capabilities not dropped (completely)", zap.Error(err),
			zap.Stringer("kept", result.Kept), zap.Stringer("to_drop", result.Dropped))
		return nil
	}
	log.Info("dropped capabilities no longer needed", zap.Stringer("kept", result.Kept),
		zap.Stringer("dropped", result.Dropped), zap.Bool("bounding_set", result.Bounding), zap.Bool("no_new_privs", true))
	if path := cfg.Prometheus.WebConfigFile; path != "" {
		if err := web.Validate(path); err != nil {
			return fmt.Errorf("the web configuration file %s cannot be used without the dropped capabilities "+
				"(make it and the files it names readable by the exporter's user without CAP_DAC_OVERRIDE): %w", path, err)
		}
	}
	return nil
}
