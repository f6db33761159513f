package main

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/packet-exporter/packet-exporter/config"
)

// TestLoggedDurationsHaveUnits checks that a duration is logged with its
// unit in both formats (zap's default writes seconds as a bare number).
func TestLoggedDurationsHaveUnits(t *testing.T) {
	for _, tc := range []struct {
		format, want string
	}{
		{"json", `"interval":"1m30s"`},
		{"console", `"interval": "1m30s"`},
	} {
		t.Run(tc.format, func(t *testing.T) {
			zc, err := loggerConfig(config.Log{Level: "info", Format: tc.format})
			if err != nil {
				t.Fatal(err)
			}
			encoder := zapcore.NewJSONEncoder(zc.EncoderConfig)
			if tc.format == "console" {
				encoder = zapcore.NewConsoleEncoder(zc.EncoderConfig)
			}
			line, err := encoder.EncodeEntry(zapcore.Entry{Message: "pushing metrics over otlp", Time: time.Now()},
				[]zapcore.Field{zap.Duration("interval", 90*time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(line.String(), tc.want) {
				t.Errorf("logged %q, want %s in it", line.String(), tc.want)
			}
		})
	}
}
