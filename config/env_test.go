package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fakeEnv returns a getenv function backed by a map.
func fakeEnv(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func TestApplyEnv(t *testing.T) {
	tests := []struct {
		name        string
		address     string
		env         map[string]string
		wantAddress string
		wantLevel   string
	}{
		{"nothing set", ":9743", nil, ":9743", "info"},
		{"empty values are unset", ":9743", map[string]string{"PE_PORT": "", "PE_LOG_LEVEL": ""}, ":9743", "info"},
		{"port with empty host", ":9743", map[string]string{"PE_PORT": "8080"}, ":8080", "info"},
		{"port keeps IPv4 host", "127.0.0.1:9743", map[string]string{"PE_PORT": "8080"}, "127.0.0.1:8080", "info"},
		{"port keeps IPv6 host", "[::1]:9743", map[string]string{"PE_PORT": "8080"}, "[::1]:8080", "info"},
		{"port keeps hostname", "localhost:9743", map[string]string{"PE_PORT": "1"}, "localhost:1", "info"},
		{"port highest", ":9743", map[string]string{"PE_PORT": "65535"}, ":65535", "info"},
		{"port leading zeros normalised", ":9743", map[string]string{"PE_PORT": "0080"}, ":80", "info"},
		{"log level", ":9743", map[string]string{"PE_LOG_LEVEL": "debug"}, ":9743", "debug"},
		{"both", "0.0.0.0:9743", map[string]string{"PE_PORT": "9000", "PE_LOG_LEVEL": "error"}, "0.0.0.0:9000", "error"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			cfg := Default()
			cfg.Prometheus.ListenAddress = test.address
			if err := ApplyEnv(&cfg, fakeEnv(test.env)); err != nil {
				t.Fatalf("ApplyEnv error: %v", err)
			}
			if cfg.Prometheus.ListenAddress != test.wantAddress || cfg.Log.Level != test.wantLevel {
				t.Fatalf("got address %q level %q, want %q %q",
					cfg.Prometheus.ListenAddress, cfg.Log.Level, test.wantAddress, test.wantLevel)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate after ApplyEnv: %v", err)
			}
		})
	}
}

func TestApplyEnvErrors(t *testing.T) {
	tests := []struct {
		name    string
		address string
		env     map[string]string
		want    Error
	}{
		{"port zero", ":9743", map[string]string{"PE_PORT": "0"},
			Error{File: "environment", Key: "PE_PORT", Msg: `invalid port "0" (want an integer 1..65535)`}},
		{"port too big", ":9743", map[string]string{"PE_PORT": "65536"},
			Error{File: "environment", Key: "PE_PORT", Msg: `invalid port "65536" (want an integer 1..65535)`}},
		{"port not a number", ":9743", map[string]string{"PE_PORT": "abc"},
			Error{File: "environment", Key: "PE_PORT", Msg: `invalid port "abc" (want an integer 1..65535)`}},
		{"port negative", ":9743", map[string]string{"PE_PORT": "-1"},
			Error{File: "environment", Key: "PE_PORT", Msg: `invalid port "-1" (want an integer 1..65535)`}},
		{"port with space", ":9743", map[string]string{"PE_PORT": " 80"},
			Error{File: "environment", Key: "PE_PORT", Msg: `invalid port " 80" (want an integer 1..65535)`}},
		{"port huge", ":9743", map[string]string{"PE_PORT": "99999999999999999999"},
			Error{File: "environment", Key: "PE_PORT", Msg: `invalid port "99999999999999999999" (want an integer 1..65535)`}},
		{"address without port", "localhost", map[string]string{"PE_PORT": "8080"},
			Error{File: "environment", Key: "PE_PORT", Msg: `cannot set the port of prometheus.listen_address "localhost": address localhost: missing port in address`}},
		{"bad log level", ":9743", map[string]string{"PE_LOG_LEVEL": "trace"},
			Error{File: "environment", Key: "PE_LOG_LEVEL", Msg: `invalid value "trace" (want debug, info, warn or error)`}},
		{"bad level with good port changes nothing", ":9743", map[string]string{"PE_PORT": "8080", "PE_LOG_LEVEL": "INFO"},
			Error{File: "environment", Key: "PE_LOG_LEVEL", Msg: `invalid value "INFO" (want debug, info, warn or error)`}},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			cfg := Default()
			cfg.Prometheus.ListenAddress = test.address
			before := cfg
			err := ApplyEnv(&cfg, fakeEnv(test.env))
			var problem *Error
			if !errors.As(err, &problem) {
				t.Fatalf("ApplyEnv error = %v (%T), want *Error", err, err)
			}
			if *problem != test.want {
				t.Fatalf("ApplyEnv error = %+v, want %+v", *problem, test.want)
			}
			if !reflect.DeepEqual(cfg, before) {
				t.Fatalf("ApplyEnv changed the config on error: %+v", cfg)
			}
		})
	}
}

func TestApplyEnvErrorText(t *testing.T) {
	cfg := Default()
	err := ApplyEnv(&cfg, fakeEnv(map[string]string{"PE_PORT": "abc"}))
	want := `environment: PE_PORT: invalid port "abc" (want an integer 1..65535)`
	if err == nil || err.Error() != want {
		t.Fatalf("ApplyEnv error = %v, want %s", err, want)
	}
}

func TestApplyEnvNilGetenvUsesProcessEnvironment(t *testing.T) {
	t.Setenv("PE_PORT", "9999")
	t.Setenv("PE_LOG_LEVEL", "")
	cfg := Default()
	if err := ApplyEnv(&cfg, nil); err != nil {
		t.Fatal(err)
	}
	if cfg.Prometheus.ListenAddress != ":9999" {
		t.Fatalf("listen address = %q, want :9999", cfg.Prometheus.ListenAddress)
	}
}

func TestApplyEnvOpenTelemetry(t *testing.T) {
	tests := []struct {
		name  string
		file  func(*Config) // the configuration before ApplyEnv; nil for defaults
		env   map[string]string
		apply func(*Config) // the expected changes
	}{
		{"nothing set", nil, nil, func(*Config) {}},
		{"empty values are unset", nil, map[string]string{
			"OTEL_METRICS_EXPORTER": "", "OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_EXPORTER_OTLP_INSECURE": "",
			"OTEL_EXPORTER_OTLP_HEADERS": "", "OTEL_METRIC_EXPORT_INTERVAL": "", "OTEL_RESOURCE_ATTRIBUTES": "",
			"OTEL_SERVICE_NAME": "", "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "",
		}, func(*Config) {}},

		// OTEL_METRICS_EXPORTER decides both exporters.
		{"exporter otlp", nil, map[string]string{"OTEL_METRICS_EXPORTER": "otlp"},
			func(c *Config) { c.OTLP.Enabled = true; c.Prometheus.Enabled = false }},
		{"exporter prometheus disables OTLP from the file", func(c *Config) { c.OTLP.Enabled = true },
			map[string]string{"OTEL_METRICS_EXPORTER": "prometheus"},
			func(c *Config) { c.OTLP.Enabled = false; c.Prometheus.Enabled = true }},
		{"exporter both, spaces and case", func(c *Config) { c.Prometheus.Enabled = false },
			map[string]string{"OTEL_METRICS_EXPORTER": " Prometheus , OTLP,otlp"},
			func(c *Config) { c.OTLP.Enabled = true; c.Prometheus.Enabled = true }},
		{"exporter none", func(c *Config) { c.OTLP.Enabled = true },
			map[string]string{"OTEL_METRICS_EXPORTER": "none"},
			func(c *Config) { c.OTLP.Enabled = false; c.Prometheus.Enabled = false }},

		// Endpoint.
		{"generic endpoint", nil, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4317"},
			func(c *Config) { c.OTLP.Endpoint = "https://collector:4317" }},
		{"metrics endpoint wins", nil, map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT":         "https://generic:4317",
			"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "metrics:4317",
		}, func(c *Config) { c.OTLP.Endpoint = "metrics:4317" }},
		{"endpoint is stored as given", nil, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/v1/metrics"},
			func(c *Config) { c.OTLP.Endpoint = "http://collector:4318/v1/metrics" }},
		{"endpoint overrides the file", func(c *Config) { c.OTLP.Endpoint = "file:4317" },
			map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "env:4317"},
			func(c *Config) { c.OTLP.Endpoint = "env:4317" }},

		// Insecure.
		{"generic insecure", nil, map[string]string{"OTEL_EXPORTER_OTLP_INSECURE": "true"},
			func(c *Config) { c.OTLP.Insecure = true }},
		{"insecure is case-insensitive", nil, map[string]string{"OTEL_EXPORTER_OTLP_INSECURE": "TRUE"},
			func(c *Config) { c.OTLP.Insecure = true }},
		{"insecure false overrides the file", func(c *Config) { c.OTLP.Insecure = true },
			map[string]string{"OTEL_EXPORTER_OTLP_INSECURE": "False"},
			func(c *Config) { c.OTLP.Insecure = false }},
		{"metrics insecure wins and the shadowed one is not read", nil, map[string]string{
			"OTEL_EXPORTER_OTLP_INSECURE":         "not a boolean",
			"OTEL_EXPORTER_OTLP_METRICS_INSECURE": "true",
		}, func(c *Config) { c.OTLP.Insecure = true }},

		// TLS files.
		{"generic TLS files", nil, map[string]string{
			"OTEL_EXPORTER_OTLP_CERTIFICATE":        "/ca.pem",
			"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/cert.pem",
			"OTEL_EXPORTER_OTLP_CLIENT_KEY":         "/key.pem",
		}, func(c *Config) { c.OTLP.CAFile, c.OTLP.CertFile, c.OTLP.KeyFile = "/ca.pem", "/cert.pem", "/key.pem" }},
		{"metrics TLS files win", nil, map[string]string{
			"OTEL_EXPORTER_OTLP_CERTIFICATE":                "/ca.pem",
			"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE":         "/cert.pem",
			"OTEL_EXPORTER_OTLP_CLIENT_KEY":                 "/key.pem",
			"OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE":        "/m-ca.pem",
			"OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE": "/m-cert.pem",
			"OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY":         "/m-key.pem",
		}, func(c *Config) {
			c.OTLP.CAFile, c.OTLP.CertFile, c.OTLP.KeyFile = "/m-ca.pem", "/m-cert.pem", "/m-key.pem"
		}},
		{"TLS files override the file one by one", func(c *Config) { c.OTLP.CAFile, c.OTLP.KeyFile = "file-ca", "file-key" },
			map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": "env-ca", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "env-cert"},
			func(c *Config) { c.OTLP.CAFile, c.OTLP.CertFile, c.OTLP.KeyFile = "env-ca", "env-cert", "file-key" }},

		// Headers.
		{"generic headers", nil, map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20abc%3D%3D,x-team=net"},
			func(c *Config) { c.OTLP.Headers = map[string]string{"authorization": "Bearer abc==", "x-team": "net"} }},
		{"header keys are trimmed and lowercased, values trimmed and decoded", nil,
			map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": " Authorization = Basic+x%2Cy= , X-Empty= ,x.b_c=%25 "},
			func(c *Config) {
				c.OTLP.Headers = map[string]string{"authorization": "Basic+x,y=", "x-empty": "", "x.b_c": "%"}
			}},
		{"headers merge over the file, the environment wins", func(c *Config) {
			c.OTLP.Headers = map[string]string{"authorization": "from-file", "x-file": "kept"}
		}, map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "authorization=from-env,x-env=added"},
			func(c *Config) {
				c.OTLP.Headers = map[string]string{"authorization": "from-env", "x-file": "kept", "x-env": "added"}
			}},
		{"headers merge over a nil map", func(c *Config) { c.OTLP.Headers = nil },
			map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "a=b"},
			func(c *Config) { c.OTLP.Headers = map[string]string{"a": "b"} }},
		{"metrics headers replace the generic ones", nil, map[string]string{
			"OTEL_EXPORTER_OTLP_HEADERS":         "x-generic=1",
			"OTEL_EXPORTER_OTLP_METRICS_HEADERS": "x-metrics=2",
		}, func(c *Config) { c.OTLP.Headers = map[string]string{"x-metrics": "2"} }},

		// Compression.
		{"generic compression", nil, map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "none"},
			func(c *Config) { c.OTLP.Compression = CompressionNone }},
		{"metrics compression wins, case-insensitive", nil, map[string]string{
			"OTEL_EXPORTER_OTLP_COMPRESSION":         "none",
			"OTEL_EXPORTER_OTLP_METRICS_COMPRESSION": "GZip",
		}, func(c *Config) { c.OTLP.Compression = CompressionGzip }},
		{"compression overrides the file", func(c *Config) { c.OTLP.Compression = CompressionNone },
			map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"},
			func(c *Config) { c.OTLP.Compression = CompressionGzip }},

		// Timeout and interval.
		{"generic timeout", nil, map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "2500"},
			func(c *Config) { c.OTLP.Timeout = 2500 * time.Millisecond }},
		{"export timeout", nil, map[string]string{"OTEL_METRIC_EXPORT_TIMEOUT": "3000"},
			func(c *Config) { c.OTLP.Timeout = 3 * time.Second }},
		{"export timeout wins over the generic timeout", nil, map[string]string{
			"OTEL_EXPORTER_OTLP_TIMEOUT": "1000",
			"OTEL_METRIC_EXPORT_TIMEOUT": "2000",
		}, func(c *Config) { c.OTLP.Timeout = 2 * time.Second }},
		{"metrics timeout wins over both", nil, map[string]string{
			"OTEL_EXPORTER_OTLP_TIMEOUT":         "1000",
			"OTEL_METRIC_EXPORT_TIMEOUT":         "2000",
			"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "4",
		}, func(c *Config) { c.OTLP.Timeout = 4 * time.Millisecond }},
		{"timeout overrides the file", func(c *Config) { c.OTLP.Timeout = time.Minute },
			map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "1"},
			func(c *Config) { c.OTLP.Timeout = time.Millisecond }},
		{"interval", nil, map[string]string{"OTEL_METRIC_EXPORT_INTERVAL": "60000"},
			func(c *Config) { c.OTLP.Interval = time.Minute }},
		{"largest interval", nil, map[string]string{"OTEL_METRIC_EXPORT_INTERVAL": "9223372036854"},
			func(c *Config) { c.OTLP.Interval = 9223372036854 * time.Millisecond }},
		{"interval overrides the file", func(c *Config) { c.OTLP.Interval = time.Hour },
			map[string]string{"OTEL_METRIC_EXPORT_INTERVAL": "0500"},
			func(c *Config) { c.OTLP.Interval = 500 * time.Millisecond }},

		// Temporality preference.
		{"temporality delta", nil, map[string]string{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta"},
			func(c *Config) { c.OTLP.Temporality = TemporalityDelta }},
		{"temporality Delta", nil, map[string]string{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "Delta"},
			func(c *Config) { c.OTLP.Temporality = TemporalityDelta }},
		{"temporality cumulative overrides the file", func(c *Config) { c.OTLP.Temporality = TemporalityDelta },
			map[string]string{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "CUMULATIVE"},
			func(c *Config) { c.OTLP.Temporality = TemporalityCumulative }},
		{"temporality lowmemory is cumulative", func(c *Config) { c.OTLP.Temporality = TemporalityDelta },
			map[string]string{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "LowMemory"},
			func(c *Config) { c.OTLP.Temporality = TemporalityCumulative }},

		// Resource.
		{"resource attributes", nil, map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod, host.role = edge%20router ,empty="},
			func(c *Config) {
				c.Resource.Attributes = map[string]string{"deployment.environment": "prod", "host.role": "edge router", "empty": ""}
			}},
		{"resource attribute keys keep their case", nil, map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "Team=NetOps"},
			func(c *Config) { c.Resource.Attributes = map[string]string{"Team": "NetOps"} }},
		{"resource attributes merge over the file, the environment wins", func(c *Config) {
			c.Resource.Attributes = map[string]string{"deployment.environment": "staging", "team": "net"}
		}, map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod"},
			func(c *Config) {
				c.Resource.Attributes = map[string]string{"deployment.environment": "prod", "team": "net"}
			}},
		{"service name", nil, map[string]string{"OTEL_SERVICE_NAME": "edge exporter"},
			func(c *Config) { c.Resource.Attributes = map[string]string{"service.name": "edge exporter"} }},
		{"service name overrides the file", func(c *Config) {
			c.Resource.Attributes = map[string]string{"service.name": "file", "team": "net"}
		}, map[string]string{"OTEL_SERVICE_NAME": "env"},
			func(c *Config) { c.Resource.Attributes = map[string]string{"service.name": "env", "team": "net"} }},
		{"service name wins over the resource attributes", nil, map[string]string{
			"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attributes,team=net",
			"OTEL_SERVICE_NAME":        "from-service-name",
		}, func(c *Config) {
			c.Resource.Attributes = map[string]string{"service.name": "from-service-name", "team": "net"}
		}},
		{"service name merges over a nil map", func(c *Config) { c.Resource.Attributes = nil },
			map[string]string{"OTEL_SERVICE_NAME": "svc"},
			func(c *Config) { c.Resource.Attributes = map[string]string{"service.name": "svc"} }},

		// Everything at once, with the PE_ variables.
		{"everything", nil, map[string]string{
			"PE_PORT":                     "9000",
			"PE_LOG_LEVEL":                "debug",
			"OTEL_METRICS_EXPORTER":       "otlp,prometheus",
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
			"OTEL_EXPORTER_OTLP_HEADERS":  "x-a=1",
			"OTEL_METRIC_EXPORT_INTERVAL": "1000",
			"OTEL_SERVICE_NAME":           "pe",
		}, func(c *Config) {
			c.Prometheus.ListenAddress = ":9000"
			c.Log.Level = "debug"
			c.OTLP.Enabled = true
			c.OTLP.Endpoint = "http://collector:4317"
			c.OTLP.Headers = map[string]string{"x-a": "1"}
			c.OTLP.Interval = time.Second
			c.Resource.Attributes = map[string]string{"service.name": "pe"}
		}},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			cfg, want := Default(), Default()
			if test.file != nil {
				test.file(&cfg)
				test.file(&want)
			}
			test.apply(&want)
			if err := ApplyEnv(&cfg, fakeEnv(test.env)); err != nil {
				t.Fatalf("ApplyEnv error: %v", err)
			}
			if !reflect.DeepEqual(cfg, want) {
				t.Fatalf("ApplyEnv =\n%+v\nwant\n%+v", cfg, want)
			}
		})
	}
}

// TestApplyEnvDoesNotChangeTheMapsOfTheInput checks that the merged maps
// are new maps, so that a Config copied before ApplyEnv keeps its values.
func TestApplyEnvDoesNotChangeTheMapsOfTheInput(t *testing.T) {
	cfg := Default()
	cfg.OTLP.Headers = map[string]string{"x-a": "file"}
	cfg.Resource.Attributes = map[string]string{"team": "file"}
	before := cfg
	err := ApplyEnv(&cfg, fakeEnv(map[string]string{
		"OTEL_EXPORTER_OTLP_HEADERS": "x-a=env",
		"OTEL_RESOURCE_ATTRIBUTES":   "team=env",
		"OTEL_SERVICE_NAME":          "svc",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if before.OTLP.Headers["x-a"] != "file" || len(before.Resource.Attributes) != 1 || before.Resource.Attributes["team"] != "file" {
		t.Fatalf("ApplyEnv changed the maps of its input: %v %v", before.OTLP.Headers, before.Resource.Attributes)
	}
	if cfg.OTLP.Headers["x-a"] != "env" || cfg.Resource.Attributes["team"] != "env" {
		t.Fatalf("ApplyEnv result: %v %v", cfg.OTLP.Headers, cfg.Resource.Attributes)
	}
}

// TestApplyEnvThenValidate checks that values the environment stores as
// given are validated afterwards.
func TestApplyEnvThenValidate(t *testing.T) {
	cfg := Default()
	err := ApplyEnv(&cfg, fakeEnv(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":    "http://collector",
		"OTEL_EXPORTER_OTLP_CERTIFICATE": "/ca.pem",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := "otlp.ca_file: TLS files are set but the connection is plaintext (otlp.endpoint is an http:// URL)"
	if err := cfg.Validate(); err == nil || err.Error() != want {
		t.Fatalf("Validate = %v, want %s", err, want)
	}
	cfg = Default()
	if err := ApplyEnv(&cfg, fakeEnv(map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "collector"})); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), `otlp.endpoint: invalid endpoint "collector"`) {
		t.Fatalf("Validate = %v, want an otlp.endpoint error", err)
	}
}

func TestApplyEnvOpenTelemetryErrors(t *testing.T) {
	const ms = "(want a positive integer number of milliseconds)"
	tests := []struct {
		name     string
		env      map[string]string
		variable string
		msg      string
	}{
		{"unknown exporter", map[string]string{"OTEL_METRICS_EXPORTER": "otlp,logging"},
			"OTEL_METRICS_EXPORTER", `invalid exporter "logging" (want a comma-separated list of otlp and prometheus, or none)`},
		{"empty exporter entry", map[string]string{"OTEL_METRICS_EXPORTER": "otlp,"},
			"OTEL_METRICS_EXPORTER", `invalid exporter "" (want a comma-separated list of otlp and prometheus, or none)`},
		{"none with another exporter", map[string]string{"OTEL_METRICS_EXPORTER": "none,otlp"},
			"OTEL_METRICS_EXPORTER", `invalid value "none,otlp" (none cannot be combined with other exporters)`},
		{"generic insecure", map[string]string{"OTEL_EXPORTER_OTLP_INSECURE": "yes"},
			"OTEL_EXPORTER_OTLP_INSECURE", `invalid boolean "yes" (want true or false)`},
		{"metrics insecure", map[string]string{"OTEL_EXPORTER_OTLP_METRICS_INSECURE": "1", "OTEL_EXPORTER_OTLP_INSECURE": "true"},
			"OTEL_EXPORTER_OTLP_METRICS_INSECURE", `invalid boolean "1" (want true or false)`},
		{"header without equals sign", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "a=b,Bearer secret"},
			"OTEL_EXPORTER_OTLP_HEADERS", `entry 2 is not key=value`},
		{"header trailing comma", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "a=b,"},
			"OTEL_EXPORTER_OTLP_HEADERS", `entry 2 is not key=value`},
		{"header empty key", map[string]string{"OTEL_EXPORTER_OTLP_METRICS_HEADERS": " =secret"},
			"OTEL_EXPORTER_OTLP_METRICS_HEADERS", `entry 1: header name must not be empty`},
		{"header bad key", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "x team=1"},
			"OTEL_EXPORTER_OTLP_HEADERS", `entry 1: invalid header name "x team" (want lowercase letters, digits, '-', '_' and '.')`},
		{"header reserved key", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "GRPC-Timeout=1S"},
			"OTEL_EXPORTER_OTLP_HEADERS", `entry 1: header name "grpc-timeout" is reserved (names starting with "grpc-" belong to gRPC)`},
		{"header duplicate key after lowercasing", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "x-a=1,X-A=2"},
			"OTEL_EXPORTER_OTLP_HEADERS", `entry 2: duplicate key "x-a"`},
		{"header bad percent-encoding, value not shown", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "authorization=secret%zz"},
			"OTEL_EXPORTER_OTLP_HEADERS", `entry 1 (key "authorization"): invalid percent-encoding in the value`},
		{"header decoded control character", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "x-a=a%0Ab"},
			"OTEL_EXPORTER_OTLP_HEADERS", `entry 1 (key "x-a"): the value contains the control character U+000A`},
		{"header decoded invalid UTF-8", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "x-a=%FF"},
			"OTEL_EXPORTER_OTLP_HEADERS", `entry 1 (key "x-a"): the value contains invalid UTF-8`},
		{"generic compression", map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"},
			"OTEL_EXPORTER_OTLP_COMPRESSION", `invalid value "zstd" (want gzip or none)`},
		{"metrics compression", map[string]string{"OTEL_EXPORTER_OTLP_METRICS_COMPRESSION": "deflate"},
			"OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", `invalid value "deflate" (want gzip or none)`},
		{"generic timeout with unit", map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "10s"},
			"OTEL_EXPORTER_OTLP_TIMEOUT", `invalid value "10s" ` + ms},
		{"metrics timeout zero", map[string]string{"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "0"},
			"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", `invalid value "0" ` + ms},
		{"export timeout negative", map[string]string{"OTEL_METRIC_EXPORT_TIMEOUT": "-5"},
			"OTEL_METRIC_EXPORT_TIMEOUT", `invalid value "-5" ` + ms},
		{"export timeout with plus sign", map[string]string{"OTEL_METRIC_EXPORT_TIMEOUT": "+5"},
			"OTEL_METRIC_EXPORT_TIMEOUT", `invalid value "+5" ` + ms},
		{"interval fractional", map[string]string{"OTEL_METRIC_EXPORT_INTERVAL": "1.5"},
			"OTEL_METRIC_EXPORT_INTERVAL", `invalid value "1.5" ` + ms},
		{"interval with space", map[string]string{"OTEL_METRIC_EXPORT_INTERVAL": " 100"},
			"OTEL_METRIC_EXPORT_INTERVAL", `invalid value " 100" ` + ms},
		{"interval too large for a duration", map[string]string{"OTEL_METRIC_EXPORT_INTERVAL": "9223372036855"},
			"OTEL_METRIC_EXPORT_INTERVAL", `invalid value "9223372036855" ` + ms},
		{"interval overflowing int64", map[string]string{"OTEL_METRIC_EXPORT_INTERVAL": "99999999999999999999"},
			"OTEL_METRIC_EXPORT_INTERVAL", `invalid value "99999999999999999999" ` + ms},
		{"temporality", map[string]string{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "low_memory"},
			"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", `invalid value "low_memory" (want cumulative, delta or lowmemory)`},
		{"resource attribute without equals sign", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "a=b,c"},
			"OTEL_RESOURCE_ATTRIBUTES", `entry 2 is not key=value`},
		{"resource attribute empty key", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "=b"},
			"OTEL_RESOURCE_ATTRIBUTES", `entry 1: attribute name must not be empty`},
		{"resource attribute key with control character", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "a\x01=b"},
			"OTEL_RESOURCE_ATTRIBUTES", `entry 1: attribute name contains the control character U+0001`},
		{"resource attribute duplicate key", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "a=1,a=2"},
			"OTEL_RESOURCE_ATTRIBUTES", `entry 2: duplicate key "a"`},
		{"resource attribute bad percent-encoding", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "a=100%"},
			"OTEL_RESOURCE_ATTRIBUTES", `entry 1 (key "a"): invalid percent-encoding in the value`},
		{"resource attribute decoded control character", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "a=%7F"},
			"OTEL_RESOURCE_ATTRIBUTES", `entry 1 (key "a"): the value contains the control character U+007F`},
		{"service name with control character", map[string]string{"OTEL_SERVICE_NAME": "svc\t1"},
			"OTEL_SERVICE_NAME", `the service name contains the control character U+0009`},
		{"a bad value late in the order changes nothing", map[string]string{
			"PE_PORT":                     "8080",
			"OTEL_METRICS_EXPORTER":       "otlp",
			"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317",
			"OTEL_EXPORTER_OTLP_HEADERS":  "x-a=1",
			"OTEL_RESOURCE_ATTRIBUTES":    "a=1",
			"OTEL_SERVICE_NAME":           "svc\x00",
		}, "OTEL_SERVICE_NAME", `the service name contains the control character U+0000`},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			cfg := Default()
			cfg.OTLP.Headers = map[string]string{"x-file": "1"}
			cfg.Resource.Attributes = map[string]string{"team": "net"}
			before := Default()
			before.OTLP.Headers = map[string]string{"x-file": "1"}
			before.Resource.Attributes = map[string]string{"team": "net"}
			err := ApplyEnv(&cfg, fakeEnv(test.env))
			var problem *Error
			if !errors.As(err, &problem) {
				t.Fatalf("ApplyEnv error = %v (%T), want *Error", err, err)
			}
			want := Error{File: "environment", Key: test.variable, Msg: test.msg}
			if *problem != want {
				t.Fatalf("ApplyEnv error = %+v, want %+v", *problem, want)
			}
			if !reflect.DeepEqual(cfg, before) {
				t.Fatalf("ApplyEnv changed the config on error: %+v", cfg)
			}
		})
	}
}

func TestApplyEnvHeaderErrorsDoNotShowValues(t *testing.T) {
	for _, value := range []string{"authorization=Bearer%zzsecret", "Bearer secret", "authorization=secret\x00"} {
		cfg := Default()
		err := ApplyEnv(&cfg, fakeEnv(map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": value}))
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("ApplyEnv(%q) error = %v, want an error without the value", value, err)
		}
	}
}

func TestApplyEnvWorkers(t *testing.T) {
	cases := []struct {
		value   string
		want    int
		wantErr string
	}{
		{"", 5, ""},
		{"1", 1, ""},
		{"64", 64, ""},
		{"0", 5, `environment: PE_WORKERS: invalid value "0" (want an integer from 1 to 64)`},
		{"65", 5, `environment: PE_WORKERS: invalid value "65" (want an integer from 1 to 64)`},
		{"many", 5, `environment: PE_WORKERS: invalid value "many" (want an integer from 1 to 64)`},
	}
	for _, tc := range cases {
		cfg := Default()
		err := ApplyEnv(&cfg, func(k string) string {
			if k == "PE_WORKERS" {
				return tc.value
			}
			return ""
		})
		if got := fmt.Sprint(err); (tc.wantErr == "" && err != nil) || (tc.wantErr != "" && got != tc.wantErr) {
			t.Errorf("PE_WORKERS=%q: error %v, want %q", tc.value, err, tc.wantErr)
		}
		if cfg.Events.Workers != tc.want {
			t.Errorf("PE_WORKERS=%q: workers %d, want %d", tc.value, cfg.Events.Workers, tc.want)
		}
	}
}

// TestEnvOverridesAreDocumented checks that the README's tables of
// variables name every variable ApplyEnv reads (X_[METRICS_]Y names both
// X_METRICS_Y and X_Y), and nothing reads a variable twice.
func TestEnvOverridesAreDocumented(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(readme) + strings.ReplaceAll(string(readme), "[METRICS_]", "METRICS_") + strings.ReplaceAll(string(readme), "[METRICS_]", "")
	seen := map[string]bool{}
	for _, override := range envOverrides {
		for _, variable := range override.variables {
			if seen[variable] {
				t.Errorf("%s is read twice", variable)
			}
			seen[variable] = true
			if !regexp.MustCompile("`" + variable + "`").MatchString(doc) {
				t.Errorf("README.md does not document %s", variable)
			}
		}
	}
}
