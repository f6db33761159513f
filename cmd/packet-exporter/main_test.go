package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/packet-exporter/packet-exporter/config"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRunWithoutAttaching covers every path of run that ends before anything
// is loaded: flags, configuration errors and their exit codes.
func TestRunWithoutAttaching(t *testing.T) {
	valid := writeFile(t, "valid.yaml", "interfaces:\n  include: [\"eth*\"]\nprometheus:\n  listen_address: \"127.0.0.1:9100\"\n")
	unknownKey := writeFile(t, "unknown.yaml", "interfaces:\n  include: [\"eth*\"]\nprometheus:\n  listen_adress: \":9100\"\n")
	badMode := writeFile(t, "mode.yaml", "xdp:\n  mode: fast\n")
	badType := writeFile(t, "type.yaml", "egress:\n  enabled: maybe\n")
	cases := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantStdout string
		wantStderr []string
	}{
		{name: "version", args: []string{"--version"}, wantCode: 0, wantStdout: "packet-exporter " + version},
		{name: "check embedded default", args: []string{"--check-config"}, wantCode: 0, wantStdout: "(embedded default) is valid"},
		{name: "check valid file", args: []string{"--check-config", "--config", valid}, wantCode: 0, wantStdout: valid + " is valid"},
		{name: "unknown key", args: []string{"--check-config", "--config", unknownKey}, wantCode: 2,
			wantStderr: []string{unknownKey + ":4:3: prometheus.listen_adress", `did you mean "listen_address"?`}},
		{name: "bad value", args: []string{"--config", badMode}, wantCode: 2, wantStderr: []string{badMode + ":2:9: xdp.mode"}},
		{name: "wrong type", args: []string{"--config", badType}, wantCode: 2, wantStderr: []string{badType + ":2:12: egress.enabled"}},
		{name: "missing file", args: []string{"--config", "/nonexistent/packet-exporter.yaml"}, wantCode: 2, wantStderr: []string{"/nonexistent/packet-exporter.yaml"}},
		{name: "bad PE_PORT", args: []string{"--check-config"}, env: map[string]string{"PE_PORT": "70000"}, wantCode: 2, wantStderr: []string{"PE_PORT"}},
		{name: "PE_PORT", args: []string{"--check-config"}, env: map[string]string{"PE_PORT": "8080"}, wantCode: 0},
		{name: "unknown flag", args: []string{"--frobnicate"}, wantCode: 2, wantStderr: []string{"frobnicate"}},
		{name: "stray argument", args: []string{"eth0"}, wantCode: 2, wantStderr: []string{`unexpected argument "eth0"`}},
		{name: "help", args: []string{"--help"}, wantCode: 0, wantStderr: []string{"-config", "-check-config", "-version"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			getenv := func(k string) string { return tc.env[k] }
			code := run(context.Background(), tc.args, &stdout, &stderr, getenv)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d (stderr: %s)", code, tc.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.wantStdout) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tc.wantStdout)
			}
			for _, w := range tc.wantStderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q lacks %q", stderr.String(), w)
				}
			}
		})
	}
}

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
