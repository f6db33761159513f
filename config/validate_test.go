package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateConfigBuiltInCode(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // "" for valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"every xdp mode", func(c *Config) { c.XDP.Mode = XDPModeNative }, ""},
		{"empty exclude", func(c *Config) { c.Interfaces.Exclude = nil }, ""},
		{"bad xdp mode", func(c *Config) { c.XDP.Mode = "Auto" },
			`xdp.mode: invalid value "Auto" (want auto, native or generic)`},
		{"bad ingress hook", func(c *Config) { c.Ingress.Hook = "tc2" },
			`ingress.hook: invalid value "tc2" (want auto, xdp, tcx or tc)`},
		{"bad egress hook", func(c *Config) { c.Egress.Hook = "xdp" },
			`egress.hook: invalid value "xdp" (want auto, tcx or tc)`},
		{"events sample rate 0", func(c *Config) { c.Events.SampleRate = 0 },
			`events.sample_rate: value 0 out of range (want 1..1048576)`},
		{"events ring size not a power of two", func(c *Config) { c.Events.RingSize = 5000 },
			`events.ring_size: value 5000 invalid (want a power of two from 4096 to 1073741824)`},
		{"events ring size too small", func(c *Config) { c.Events.RingSize = 2048 },
			`events.ring_size: value 2048 invalid (want a power of two from 4096 to 1073741824)`},
		{"events workers", func(c *Config) { c.Events.Workers = 65 },
			`events.workers: value 65 out of range (want 1..64)`},
		{"events drain interval", func(c *Config) { c.Events.DrainInterval = 2 * time.Second },
			`events.drain_interval: value 2s out of range (want 1ms..1s)`},
		{"flows without events", func(c *Config) { c.Flows.Enabled = true },
			`flows.enabled: flows are fed by the event stream: set events.enabled to true as well`},
		{"flows with events", func(c *Config) { c.Flows.Enabled, c.Events.Enabled = true, true }, ""},
		{"tunnel port 0", func(c *Config) { c.Tunnels.VXLANPorts = []int{0, 4789} },
			`tunnels.vxlan_ports[0]: port 0 out of range (want 1..65535)`},
		{"tunnel port beyond 65535", func(c *Config) { c.Tunnels.GenevePorts = []int{65536} },
			`tunnels.geneve_ports[0]: port 65536 out of range (want 1..65535)`},
		{"tunnel port twice", func(c *Config) { c.Tunnels.VXLANPorts = []int{4789, 8472, 4789} },
			`tunnels.vxlan_ports[2]: port 4789 listed twice`},
		{"tunnel port of both types", func(c *Config) { c.Tunnels.GenevePorts = []int{6081, 8472} },
			`tunnels.geneve_ports[1]: port 8472 is a VXLAN port too (tunnels.vxlan_ports): a port carries one tunnel type`},
		{"no tunnel ports", func(c *Config) { c.Tunnels.VXLANPorts, c.Tunnels.GenevePorts = nil, nil }, ""},
		{"tunnel interfaces 0", func(c *Config) { c.Tunnels.MaxInterfaces = 0 },
			`tunnels.max_interfaces: value 0 out of range (want 1..65536)`},
		{"flows max series", func(c *Config) { c.Flows.MaxSeries = 0 },
			`flows.max_series: value 0 out of range (want 1..1000000)`},
		{"flows idle timeout", func(c *Config) { c.Flows.IdleTimeout = -time.Second },
			`flows.idle_timeout: value -1s out of range (want more than 0)`},
		{"attribution host root relative", func(c *Config) { c.Attribution.HostRoot = "host" },
			`attribution.host_root: must be an absolute path, got "host"`},
		{"attribution host root empty", func(c *Config) { c.Attribution.HostRoot = "" },
			`attribution.host_root: must be an absolute path, got ""`},
		{"attribution host root elsewhere", func(c *Config) { c.Attribution.HostRoot = "/host" }, ""},
		{"docker data root relative", func(c *Config) { c.Attribution.DockerDataRoot = "data/docker" },
			`attribution.docker_data_root: must be an absolute path or empty, got "data/docker"`},
		{"docker data root elsewhere", func(c *Config) { c.Attribution.DockerDataRoot = "/data/docker" }, ""},
		{"containers storage root empty", func(c *Config) { c.Attribution.ContainersStorageRoot = "" },
			`attribution.containers_storage_root: must be an absolute path, got ""`},
		{"empty log level", func(c *Config) { c.Log.Level = "" },
			`log.level: invalid value "" (want debug, info, warn or error)`},
		{"bad log format", func(c *Config) { c.Log.Format = "logfmt" },
			`log.format: invalid value "logfmt" (want json or console)`},
		{"no include", func(c *Config) { c.Interfaces.Include = nil },
			`interfaces.include: must not be empty`},
		{"bad patterns", func(c *Config) {
			c.Interfaces.Include = []string{"eth*", "", "[z-a"}
			c.Interfaces.Exclude = []string{`\`}
		}, "interfaces.include[1]: pattern must not be empty\n" +
			"interfaces.include[2]: invalid glob pattern \"[z-a\" (syntax error in pattern)\n" +
			`interfaces.exclude[0]: invalid glob pattern "\\" (syntax error in pattern)`},
		{"max interfaces", func(c *Config) { c.Limits.MaxInterfaces = -1 },
			`limits.max_interfaces: value -1 out of range (want 1..65536)`},
		{"address checked even when disabled", func(c *Config) {
			c.Prometheus.Enabled = false
			c.Prometheus.ListenAddress = ""
		}, `prometheus.listen_address: invalid address "" (want host:port, e.g. ":9743" or "127.0.0.1:9743")`},
		{"OTLP enabled with defaults", func(c *Config) { c.OTLP.Enabled = true }, ""},
		{"nil maps", func(c *Config) { c.OTLP.Headers = nil; c.Resource.Attributes = nil }, ""},
		{"TLS file names are not read while disabled", func(c *Config) {
			c.OTLP.CAFile, c.OTLP.CertFile, c.OTLP.KeyFile = "/nonexistent/ca", "/nonexistent/c", "/nonexistent/k"
		}, ""},
		{"OTLP endpoint checked even when disabled", func(c *Config) { c.OTLP.Endpoint = "collector" },
			`otlp.endpoint: invalid endpoint "collector" (want host:port or an http:// or https:// URL, e.g. "localhost:4317" or "https://collector.example.com:4317")`},
		{"OTLP durations", func(c *Config) { c.OTLP.Interval = 0; c.OTLP.Timeout = -time.Millisecond },
			"otlp.interval: value 0s out of range (want more than 0)\n" +
				"otlp.timeout: value -1ms out of range (want more than 0)"},
		{"OTLP enums are case-sensitive", func(c *Config) { c.OTLP.Compression = "GZIP"; c.OTLP.Temporality = "" },
			"otlp.compression: invalid value \"GZIP\" (want gzip or none)\n" +
				`otlp.temporality: invalid value "" (want cumulative or delta)`},
		{"TLS files with an insecure host:port", func(c *Config) {
			c.OTLP.Insecure = true
			c.OTLP.CertFile, c.OTLP.KeyFile = "c.pem", "k.pem"
		}, `otlp.cert_file: TLS files are set but the connection is plaintext (otlp.insecure is true)`},
		{"TLS key with an http URL", func(c *Config) {
			c.OTLP.Endpoint = "http://collector"
			c.OTLP.KeyFile = "k.pem"
		}, "otlp.key_file: is set without otlp.cert_file (a client key needs its certificate)\n" +
			`otlp.key_file: TLS files are set but the connection is plaintext (otlp.endpoint is an http:// URL)`},
		{"an invalid endpoint is not also reported as plaintext", func(c *Config) {
			c.OTLP.Endpoint = "http://"
			c.OTLP.CAFile = "ca.pem"
		}, `otlp.endpoint: missing host in endpoint "http://"`},
		{"headers in name order", func(c *Config) {
			c.OTLP.Headers = map[string]string{
				"x-ok": "fine", "grpc-status": "0", "b\xff": "v", "x-bad": "a\xffb", "": "", "a_b.c-1": "ünïcode ok",
			}
		}, "otlp.headers[\"\"]: header name must not be empty\n" +
			"otlp.headers[\"b\\xff\"]: invalid header name \"b\\xff\" (want lowercase letters, digits, '-', '_' and '.')\n" +
			"otlp.headers.grpc-status: header name \"grpc-status\" is reserved (names starting with \"grpc-\" belong to gRPC)\n" +
			"otlp.headers.x-bad: header value contains invalid UTF-8"},
		{"resource attributes", func(c *Config) {
			c.Resource.Attributes = map[string]string{
				"": "x", "ok": "", "service.name": "bad\x00", "k\u2028": "line separator is not a control character", "\xfe": "v",
			}
		}, "resource.attributes[\"\"]: attribute name must not be empty\n" +
			"resource.attributes[\"service.name\"]: attribute value contains the control character U+0000\n" +
			"resource.attributes[\"\\xfe\"]: attribute name contains invalid UTF-8"},
		{"all problems in order", func(c *Config) {
			c.Interfaces.Include = []string{}
			c.XDP.Mode = ""
			c.Log.Format = ""
			c.Limits.MaxInterfaces = 0
		}, "interfaces.include: must not be empty\n" +
			"xdp.mode: invalid value \"\" (want auto, native or generic)\n" +
			"log.format: invalid value \"\" (want json or console)\n" +
			"limits.max_interfaces: value 0 out of range (want 1..65536)"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			cfg := Default()
			test.modify(&cfg)
			err := cfg.Validate()
			if test.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != test.want {
				t.Fatalf("Validate() =\n%v\nwant:\n%s", err, test.want)
			}
			var list Errors
			if !errors.As(err, &list) {
				t.Fatalf("Validate() returned %T, want Errors", err)
			}
			for _, problem := range list {
				if problem.File != "" || problem.Line != 0 || problem.Column != 0 {
					t.Errorf("problem %+v has a location, want none", *problem)
				}
			}
		})
	}
}

func TestValidateListenAddress(t *testing.T) {
	valid := []string{
		":9743", ":1", ":65535", "0.0.0.0:9743", "127.0.0.1:80", "localhost:9743",
		"metrics.example.com:9743", "metrics.example.com.:9743", "[::]:9743", "[::1]:9743",
		"[fe80::1%eth0]:9743", "[::ffff:127.0.0.1]:9743", "host-1:9743", "0:9743",
	}
	invalid := []string{
		"", "9743", ":", ":0", ":65536", ":-1", ":+80", ":http", ":09743x", "localhost",
		"::1:9743", "[::1]", "[127.0.0.1]:9743", "[localhost]:9743", "-host:9743", "host-:9743",
		"bad_host:9743", "a..b:9743", "exa mple:80", strings.Repeat("a", 64) + ":80",
		strings.Repeat("a.", 127) + "ab:80", "http://localhost:9743",
	}
	for _, address := range valid {
		if msg := listenAddressProblem(address); msg != "" {
			t.Errorf("listenAddressProblem(%q) = %s, want valid", address, msg)
		}
	}
	for _, address := range invalid {
		if listenAddressProblem(address) == "" {
			t.Errorf("listenAddressProblem(%q) accepted an invalid address", address)
		}
	}
}

func TestListAlternatives(t *testing.T) {
	tests := map[string][]string{
		"":              nil,
		"a":             {"a"},
		"a or b":        {"a", "b"},
		"a, b, c or d":  {"a", "b", "c", "d"},
		"json or plain": {"json", "plain"},
	}
	for want, words := range tests {
		if got := listAlternatives(words); got != want {
			t.Errorf("listAlternatives(%q) = %q, want %q", words, got, want)
		}
	}
}
