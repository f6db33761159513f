package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
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
		{name: "version", args: []string{"--version"}, wantCode: 0, wantStdout: "packet-exporter, version " + version + " (branch: , revision: "},
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
		{name: "help", args: []string{"--help"}, wantCode: 0, wantStdout: "Usage: packet-exporter [flags]"},
		{name: "short help", args: []string{"-h"}, wantCode: 0, wantStdout: "--web.listen-address"},
		{name: "single-dash flag", args: []string{"-check-config"}, wantCode: 0, wantStdout: "(embedded default) is valid"},
		{name: "bad flag value", args: []string{"--check-config", "--log.level", "loud"}, wantCode: 2,
			wantStderr: []string{`command line: --log.level: invalid value "loud" (want debug, info, warn or error)`}},
		{name: "bad listen address flag", args: []string{"--check-config", "--web.listen-address", "9743"}, wantCode: 2,
			wantStderr: []string{`prometheus.listen_address: invalid address "9743"`}},
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

// update rewrites the golden files of the tests that compare with one.
var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestHelpGolden compares --help with testdata/help.golden (go test
// -run TestHelpGolden -update rewrites it): what the program does, its
// flags, endpoints, configuration sources, environment variables and exit
// codes.
func TestHelpGolden(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &stdout, &stderr, func(string) string { return "" }); code != exitOK || stderr.Len() > 0 {
		t.Fatalf("--help: exit %d, stderr %q", code, stderr.String())
	}
	golden := filepath.Join("testdata", "help.golden")
	if *update {
		if err := os.WriteFile(golden, stdout.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if stdout.String() != string(want) {
		t.Errorf("--help differs from %s (go test -run TestHelpGolden -update rewrites it):\n%s", golden, stdout.String())
	}
}

// TestFlagPrecedence checks that each flag wins over the file and the
// environment, and that a key no flag names keeps what they give it.
func TestFlagPrecedence(t *testing.T) {
	file := writeFile(t, "config.yaml", `prometheus:
  listen_address: "127.0.0.1:9100"
log:
  level: warn
  format: console
`)
	webConfig := writeFile(t, "web.yml", "")
	env := map[string]string{"PE_PORT": "9200", "PE_LOG_LEVEL": "error", "PE_WORKERS": "3"}
	listenLevelFormat := func(c config.Config) string {
		return c.Prometheus.ListenAddress + " " + c.Log.Level + " " + c.Log.Format
	}
	for _, tc := range []struct {
		name  string
		args  []string
		env   map[string]string
		check func(config.Config) string
		want  string
	}{
		{"file", nil, nil, listenLevelFormat, "127.0.0.1:9100 warn console"},
		{"environment over the file", nil, env, listenLevelFormat, "127.0.0.1:9200 error console"},
		{"--web.listen-address over PE_PORT and the file", []string{"--web.listen-address", "[::1]:9300"}, env,
			func(c config.Config) string { return c.Prometheus.ListenAddress }, "[::1]:9300"},
		{"--web.config.file over the file", []string{"--web.config.file=" + webConfig}, env,
			func(c config.Config) string { return c.Prometheus.WebConfigFile }, webConfig},
		{"--log.level over PE_LOG_LEVEL and the file", []string{"--log.level", "debug"}, env,
			func(c config.Config) string { return c.Log.Level }, "debug"},
		{"--log.format over the file", []string{"--log.format=json"}, env,
			func(c config.Config) string { return c.Log.Format }, "json"},
		{"a flag leaves the other keys", []string{"--log.level", "debug"}, env, func(c config.Config) string {
			return fmt.Sprint(c.Prometheus.ListenAddress, " ", c.Log.Format, " ", c.Events.Workers)
		}, "127.0.0.1:9200 console 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flags := flag.NewFlagSet("test", flag.ContinueOnError)
			apply := config.AddFlags(flags)
			if err := flags.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			cfg, _, err := loadConfig(file, func(k string) string { return tc.env[k] }, apply)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.check(cfg); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
