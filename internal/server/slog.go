package server

import (
	"context"
	"log/slog"
	"slices"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newSlogLogger returns a log/slog logger writing to log, for the
// exporter-toolkit, which logs through slog.
func newSlogLogger(log *zap.Logger) *slog.Logger {
	return slog.New(&zapHandler{log: log.WithOptions(zap.AddCallerSkip(3))})
}

// zapHandler is a slog.Handler that writes to a zap logger.
type zapHandler struct {
	log    *zap.Logger
	fields []zap.Field
	prefix string // group names joined with dots, ending in a dot
}

func zapLevel(l slog.Level) zapcore.Level {
	switch {
	case l < slog.LevelInfo:
		return zapcore.DebugLevel
	case l < slog.LevelWarn:
		return zapcore.InfoLevel
	case l < slog.LevelError:
		return zapcore.WarnLevel
	default:
		return zapcore.ErrorLevel
	}
}

func (h *zapHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.log.Core().Enabled(zapLevel(l))
}

func (h *zapHandler) Handle(_ context.Context, r slog.Record) error {
	entry := h.log.Check(zapLevel(r.Level), r.Message)
	if entry == nil {
		return nil
	}
	fields := slices.Clone(h.fields)
	r.Attrs(func(a slog.Attr) bool {
		fields = append(fields, h.field(a))
		return true
	})
	entry.Write(fields...)
	return nil
}

func (h *zapHandler) field(a slog.Attr) zap.Field {
	return zap.Any(h.prefix+a.Key, a.Value.Resolve().Any())
}

func (h *zapHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.fields = slices.Clone(h.fields)
	for _, a := range attrs {
		c.fields = append(c.fields, h.field(a))
	}
	return &c
}

func (h *zapHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + name + "."
	return &c
}
