package config

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

func TestParseOverridesEachKey(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		modify func(*Config)
	}{
		{"interfaces.include", "interfaces:\n  include: [eth0, 'ens*']\n",
			func(c *Config) { c.Interfaces.Include = []string{"eth0", "ens*"} }},
		{"interfaces.exclude", "interfaces:\n  exclude:\n    - lo\n    - veth*\n",
			func(c *Config) { c.Interfaces.Exclude = []string{"lo", "veth*"} }},
		{"interfaces.exclude empty", "interfaces:\n  exclude: []\n",
			func(c *Config) { c.Interfaces.Exclude = []string{} }},
		{"interfaces.exclude null", "interfaces:\n  exclude:\n",
			func(c *Config) { c.Interfaces.Exclude = nil }},
		{"egress.enabled", "egress:\n  enabled: false\n",
			func(c *Config) { c.Egress.Enabled = false }},
		{"xdp.mode native", "xdp:\n  mode: native\n",
			func(c *Config) { c.XDP.Mode = XDPModeNative }},
		{"xdp.mode generic", "xdp: {mode: generic}\n",
			func(c *Config) { c.XDP.Mode = XDPModeGeneric }},
		{"ingress.hook xdp", "ingress:\n  hook: xdp\n",
			func(c *Config) { c.Ingress.Hook = HookXDP }},
		{"ingress.hook tcx", "ingress: {hook: tcx}\n",
			func(c *Config) { c.Ingress.Hook = HookTCX }},
		{"ingress.hook tc", "ingress: {hook: tc}\n",
			func(c *Config) { c.Ingress.Hook = HookTC }},
		{"egress.hook tc", "egress:\n  hook: tc\n",
			func(c *Config) { c.Egress.Hook = HookTC }},
		{"prometheus.enabled", "prometheus:\n  enabled: false\n",
			func(c *Config) { c.Prometheus.Enabled = false }},
		{"prometheus.listen_address", "prometheus:\n  listen_address: 127.0.0.1:9100\n",
			func(c *Config) { c.Prometheus.ListenAddress = "127.0.0.1:9100" }},
		{"prometheus.listen_address ipv6", "prometheus:\n  listen_address: '[::1]:9743'\n",
			func(c *Config) { c.Prometheus.ListenAddress = "[::1]:9743" }},
		{"log.level", "log:\n  level: debug\n",
			func(c *Config) { c.Log.Level = "debug" }},
		{"log.format", "log:\n  format: console\n",
			func(c *Config) { c.Log.Format = "console" }},
		{"limits.max_interfaces", "limits:\n  max_interfaces: 65536\n",
			func(c *Config) { c.Limits.MaxInterfaces = 65536 }},
		{"otlp.enabled", "otlp:\n  enabled: true\n",
			func(c *Config) { c.OTLP.Enabled = true }},
		{"otlp.endpoint host:port", "otlp:\n  endpoint: collector.example.com:4318\n",
			func(c *Config) { c.OTLP.Endpoint = "collector.example.com:4318" }},
		{"otlp.endpoint https URL", "otlp:\n  endpoint: https://collector.example.com/otlp\n",
			func(c *Config) { c.OTLP.Endpoint = "https://collector.example.com/otlp" }},
		{"otlp.endpoint IPv6", "otlp:\n  endpoint: '[::1]:4317'\n",
			func(c *Config) { c.OTLP.Endpoint = "[::1]:4317" }},
		{"otlp.insecure", "otlp:\n  insecure: true\n",
			func(c *Config) { c.OTLP.Insecure = true }},
		{"otlp.ca_file", "otlp:\n  ca_file: /etc/ssl/collector-ca.pem\n",
			func(c *Config) { c.OTLP.CAFile = "/etc/ssl/collector-ca.pem" }},
		{"otlp.cert_file and key_file", "otlp:\n  cert_file: client.pem\n  key_file: client-key.pem\n",
			func(c *Config) { c.OTLP.CertFile = "client.pem"; c.OTLP.KeyFile = "client-key.pem" }},
		{"otlp.headers", "otlp:\n  headers:\n    authorization: Bearer abc\n    x-scope.org_id: '42'\n",
			func(c *Config) {
				c.OTLP.Headers = map[string]string{"authorization": "Bearer abc", "x-scope.org_id": "42"}
			}},
		{"otlp.headers null", "otlp:\n  headers:\n",
			func(c *Config) { c.OTLP.Headers = nil }},
		{"otlp.compression", "otlp:\n  compression: none\n",
			func(c *Config) { c.OTLP.Compression = CompressionNone }},
		{"otlp.interval", "otlp:\n  interval: 1m30s\n",
			func(c *Config) { c.OTLP.Interval = 90 * time.Second }},
		{"otlp.timeout", "otlp:\n  timeout: 500ms\n",
			func(c *Config) { c.OTLP.Timeout = 500 * time.Millisecond }},
		{"otlp.shutdown_timeout", "otlp:\n  shutdown_timeout: 5s\n",
			func(c *Config) { c.OTLP.ShutdownTimeout = 5 * time.Second }},
		{"otlp.temporality", "otlp:\n  temporality: delta\n",
			func(c *Config) { c.OTLP.Temporality = TemporalityDelta }},
		{"resource.attributes", "resource:\n  attributes:\n    deployment.environment: production\n    \"host role\": édge\n",
			func(c *Config) {
				c.Resource.Attributes = map[string]string{"deployment.environment": "production", "host role": "édge"}
			}},
		{"resource.attributes null", "resource:\n  attributes: ~\n",
			func(c *Config) { c.Resource.Attributes = nil }},
		{"quoted scalars are read by value", "egress:\n  enabled: \"false\"\nlimits:\n  max_interfaces: '7'\n",
			func(c *Config) { c.Egress.Enabled = false; c.Limits.MaxInterfaces = 7 }},
		{"null section keeps defaults", "xdp:\nlog: ~\n", func(*Config) {}},
		{"empty section keeps defaults", "prometheus: {}\n", func(*Config) {}},
		{"CRLF line endings", "xdp:\r\n  mode: native\r\n",
			func(c *Config) { c.XDP.Mode = XDPModeNative }},
		{"aliases are resolved", "interfaces:\n  include: &nics [eth0, eth1]\n  exclude: *nics\n",
			func(c *Config) {
				c.Interfaces.Include = []string{"eth0", "eth1"}
				c.Interfaces.Exclude = []string{"eth0", "eth1"}
			}},
		{"everything at once", `
interfaces: {include: ["en*"], exclude: []}
egress: {enabled: false, hook: tcx}
xdp: {mode: generic}
ingress: {hook: tcx}
prometheus: {enabled: false, listen_address: "localhost:1"}
otlp: {enabled: true, endpoint: "http://collector", insecure: true, headers: {x-team: net},
  compression: none, interval: 1m, timeout: 1ms, shutdown_timeout: 3s, temporality: delta}
resource: {attributes: {service.name: edge}}
log: {level: error, format: console}
limits: {max_interfaces: 1}
events: {enabled: true, sample_rate: 10, ring_size: 65536, workers: 2, drain_interval: 50ms}
flows: {enabled: true, ports: false, max_series: 7, idle_timeout: 30s}
drops: {enabled: false}
tunnels: {enabled: false, vxlan_ports: [4790], geneve_ports: [], max_interfaces: 3}
attribution: {enabled: false, on_series: true, host_root: /host, docker_data_root: /data/docker,
  containers_storage_root: /data/containers}
conventions: {pod_metrics: false}
persistence: {enabled: true, path: /sys/fs/bpf/pe, handover_timeout: 5s}
metrics: {packet_exporter.network.packet.size: {enabled: false}}
`, func(c *Config) {
			metrics := c.Metrics
			metrics["packet_exporter.network.packet.size"] = MetricSwitch{Enabled: false}
			*c = Config{
				Metrics:    metrics,
				Interfaces: Interfaces{Include: []string{"en*"}, Exclude: []string{}},
				Egress:     Egress{Hook: "tcx"},
				XDP:        XDP{Mode: "generic"},
				Ingress:    Ingress{Hook: "tcx"},
				Prometheus: Prometheus{ListenAddress: "localhost:1"},
				OTLP: OTLP{
					Enabled:     true,
					Endpoint:    "http://collector",
					Insecure:    true,
					Headers:     map[string]string{"x-team": "net"},
					Compression: "none",
					Interval:    time.Minute,
					Timeout:     time.Millisecond,
					Temporality: "delta",
					// Set in the document too.
					ShutdownTimeout: 3 * time.Second,
				},
				Resource:    Resource{Attributes: map[string]string{"service.name": "edge"}},
				Log:         Log{Level: "error", Format: "console"},
				Limits:      Limits{MaxInterfaces: 1},
				Events:      Events{Enabled: true, SampleRate: 10, RingSize: 65536, Workers: 2, DrainInterval: 50 * time.Millisecond},
				Flows:       Flows{Enabled: true, MaxSeries: 7, IdleTimeout: 30 * time.Second},
				Tunnels:     Tunnels{VXLANPorts: []int{4790}, GenevePorts: []int{}, MaxInterfaces: 3},
				Attribution: Attribution{OnSeries: true, HostRoot: "/host", DockerDataRoot: "/data/docker", ContainersStorageRoot: "/data/containers"},
				Conventions: Conventions{PodMetrics: false},
				Persistence: Persistence{Enabled: true, Path: "/sys/fs/bpf/pe", HandoverTimeout: 5 * time.Second},
			}
		}},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			want := Default()
			test.modify(&want)
			got, err := Parse("cfg.yaml", []byte(test.yaml))
			if err != nil {
				t.Fatalf("Parse error: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Parse = %+v\nwant    %+v", got, want)
			}
		})
	}
}

func TestParseEmptyDocumentsYieldDefaults(t *testing.T) {
	inputs := map[string]string{
		"empty":                 "",
		"newlines":              "\n\n\n",
		"comments only":         "# nothing here\n  # indented comment\n",
		"document marker":       "---\n",
		"document end marker":   "---\n...\n",
		"top-level null":        "~\n",
		"byte order mark":       "\ufeff# comment\n",
		"comments and sections": "# sections left empty\ninterfaces:\nprometheus:\n",
	}
	for name, input := range inputs {
		t.Run(name, func(t *testing.T) {
			got, err := Parse("cfg.yaml", []byte(input))
			if err != nil {
				t.Fatalf("Parse error: %v", err)
			}
			if !reflect.DeepEqual(got, Default()) {
				t.Fatalf("Parse = %+v, want defaults", got)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // the complete error text, one line per problem
	}{
		// Unknown keys.
		{"unknown key with suggestion", "prometheus:\n  listen_adress: :9100\n",
			`cfg.yaml:2:3: prometheus.listen_adress: unknown key "prometheus.listen_adress"; did you mean "listen_address"?`},
		{"unknown top-level key with suggestion", "promethus:\n  enabled: false\n",
			`cfg.yaml:1:1: promethus: unknown key "promethus"; did you mean "prometheus"?`},
		{"unknown key differing in case", "log:\n  Level: debug\n",
			`cfg.yaml:2:3: log.Level: unknown key "log.Level"; did you mean "level"?`},
		{"unknown key with dash", "limits:\n  max-interfaces: 4\n",
			`cfg.yaml:2:3: limits.max-interfaces: unknown key "limits.max-interfaces"; did you mean "max_interfaces"?`},
		{"unknown metric with suggestion", "metrics:\n  packet_exporter.network.packet.sizes: {enabled: false}\n",
			`cfg.yaml:2:3: metrics["packet_exporter.network.packet.sizes"]: unknown key "metrics[\"packet_exporter.network.packet.sizes\"]"; did you mean "packet_exporter.network.packet.size"?`},
		{"metric switch not a boolean", "metrics:\n  system.network.errors: {enabled: no}\n",
			`cfg.yaml:2:36: metrics["system.network.errors"].enabled: invalid boolean "no" (want true or false)`},
		{"unknown key without suggestion", "tracing:\n  endpoint: x\n",
			`cfg.yaml:1:1: tracing: unknown key "tracing"`},
		{"unknown key that is not a simple name", "xdp:\n  \"mode x\": auto\n",
			`cfg.yaml:2:3: xdp["mode x"]: unknown key "xdp[\"mode x\"]"`},

		// Wrong kinds.
		{"list where a mapping is expected", "xdp:\n  - native\n",
			`cfg.yaml:2:3: xdp: expected a mapping, got a list`},
		{"scalar where a mapping is expected", "egress: true\n",
			`cfg.yaml:1:9: egress: expected a mapping, got "true"`},
		{"mapping where a scalar is expected", "xdp:\n  mode: {native: true}\n",
			`cfg.yaml:2:9: xdp.mode: expected a string, got a mapping`},
		{"list where a scalar is expected", "log:\n  level: [debug]\n",
			`cfg.yaml:2:10: log.level: expected a string, got a list`},
		{"scalar where a list is expected", "interfaces:\n  include: eth0\n",
			`cfg.yaml:2:12: interfaces.include: expected a list, got "eth0"`},
		{"mapping inside a list of strings", "interfaces:\n  include:\n    - eth0\n    - name: eth1\n",
			`cfg.yaml:4:7: interfaces.include[1]: expected a string, got a mapping`},
		{"null for a scalar", "log:\n  level:\n",
			`cfg.yaml:2:9: log.level: expected a string, got null`},
		{"null list item", "interfaces:\n  exclude: [lo, ~]\n",
			`cfg.yaml:2:17: interfaces.exclude[1]: expected a string, got null`},

		// Wrong scalar types.
		{"bool in words", "egress:\n  enabled: yes please\n",
			`cfg.yaml:2:12: egress.enabled: invalid boolean "yes please" (want true or false)`},
		{"YAML 1.1 bool", "prometheus:\n  enabled: yes\n",
			`cfg.yaml:2:12: prometheus.enabled: invalid boolean "yes" (want true or false)`},
		{"bool as number", "egress:\n  enabled: 1\n",
			`cfg.yaml:2:12: egress.enabled: invalid boolean "1" (want true or false)`},
		{"hex integer", "limits:\n  max_interfaces: 0x10\n",
			`cfg.yaml:2:19: limits.max_interfaces: invalid integer "0x10" (want a base-10 integer)`},
		{"fractional integer", "limits:\n  max_interfaces: 12.5\n",
			`cfg.yaml:2:19: limits.max_interfaces: invalid integer "12.5" (want a base-10 integer)`},
		{"integer with underscores", "limits:\n  max_interfaces: 1_024\n",
			`cfg.yaml:2:19: limits.max_interfaces: invalid integer "1_024" (want a base-10 integer)`},
		{"integer overflow", "limits:\n  max_interfaces: 99999999999999999999\n",
			`cfg.yaml:2:19: limits.max_interfaces: invalid integer "99999999999999999999" (out of range)`},

		// Duplicates and odd keys.
		{"duplicate key", "xdp:\n  mode: native\n  mode: generic\n",
			`cfg.yaml:3:3: xdp.mode: duplicate key "xdp.mode" (first defined at line 2)`},
		{"duplicate section", "log: {level: debug}\nlog: {format: console}\n",
			`cfg.yaml:2:1: log: duplicate key "log" (first defined at line 1)`},
		{"merge key", "base: &base {mode: native}\nxdp:\n  <<: *base\n",
			"cfg.yaml:1:1: base: unknown key \"base\"\n" +
				`cfg.yaml:3:3: xdp: merge keys (<<) are not supported`},
		{"complex key", "xdp:\n  ? [a, b]\n  : native\n",
			`cfg.yaml:2:5: xdp: mapping keys must be scalars, got a list`},

		// Whole-document problems.
		{"top level list", "- interfaces\n- xdp\n",
			`cfg.yaml:1:1: the top level must be a mapping of sections, got a list`},
		{"top level scalar", "hello\n",
			`cfg.yaml:1:1: the top level must be a mapping of sections, got "hello"`},
		{"two documents", "xdp: {mode: auto}\n---\nlog: {level: info}\n",
			`cfg.yaml:2:1: found a second YAML document; only one document is allowed`},
		{"trailing empty document", "xdp: {mode: auto}\n---\n",
			`cfg.yaml:2:1: found a second YAML document; only one document is allowed`},
		{"syntax error with line", "xdp:\n  mode: auto\n    extra: 1\n",
			`cfg.yaml:3: invalid YAML: mapping values are not allowed in this context`},
		{"unterminated quote", "log:\n  level: 'debug\n",
			`cfg.yaml:2: invalid YAML: found unexpected end of stream`},
		{"tab indentation", "xdp:\n\tmode: auto\n",
			`cfg.yaml:2:1: invalid YAML: a tab in the indentation; tabs cannot indent YAML: use spaces`},
		{"tab after spaces", "interfaces:\n  include:\n  \t- eth0\n",
			`cfg.yaml:3:3: invalid YAML: a tab in the indentation; tabs cannot indent YAML: use spaces`},
		{"tab on a line of its own", "log: {level: debug}\nxdp:\n\t\n",
			`cfg.yaml:3:1: invalid YAML: a tab in the indentation; tabs cannot indent YAML: use spaces`},
		{"tab inside a value is text", "log:\n  format: \"a\tb\"\n",
			`cfg.yaml:2:11: log.format: invalid value "a\tb" (want json or console)`},
		{"other character that cannot start a token", "xdp:\n  mode: @auto\n",
			`cfg.yaml:2: invalid YAML: found character that cannot start any token`},
		{"unknown alias", "xdp:\n  mode: *missing\n",
			`cfg.yaml: invalid YAML: unknown anchor 'missing' referenced`},
		{"invalid UTF-8", "log:\n  level: d\xffbug\n",
			`cfg.yaml:2:11: invalid UTF-8 byte 0xff`},
		{"NUL byte", "xdp:\n  mode: \x00\n",
			`cfg.yaml:2:9: character U+0000 is not allowed`},
		{"control character after multibyte text", "# é\x07\n",
			`cfg.yaml:1:4: character U+0007 is not allowed`},
		{"UTF-16 without content", "\xff\xfe\x00",
			`cfg.yaml: invalid YAML: incomplete UTF-16 character`},

		// Validation problems, located at their value.
		{"bad value with CRLF line endings", "log:\r\n  format: text\r\n",
			`cfg.yaml:2:11: log.format: invalid value "text" (want json or console)`},
		{"bad xdp mode", "xdp:\n  mode: fast\n",
			`cfg.yaml:2:9: xdp.mode: invalid value "fast" (want auto, native or generic)`},
		{"bad log level", "log:\n  level: verbose\n",
			`cfg.yaml:2:10: log.level: invalid value "verbose" (want debug, info, warn or error)`},
		{"bad log format", "log:\n  format: text\n",
			`cfg.yaml:2:11: log.format: invalid value "text" (want json or console)`},
		{"listen address without port", "prometheus:\n  listen_address: 9743\n",
			`cfg.yaml:2:19: prometheus.listen_address: invalid address "9743" (want host:port, e.g. ":9743" or "127.0.0.1:9743")`},
		{"listen address port 0", "prometheus:\n  listen_address: ':0'\n",
			`cfg.yaml:2:19: prometheus.listen_address: invalid port "0" in address ":0" (want an integer 1..65535)`},
		{"listen address named port", "prometheus:\n  listen_address: localhost:http\n",
			`cfg.yaml:2:19: prometheus.listen_address: invalid port "http" in address "localhost:http" (want an integer 1..65535)`},
		{"listen address bad host", "prometheus:\n  listen_address: bad_host:80\n",
			`cfg.yaml:2:19: prometheus.listen_address: invalid host "bad_host" in address "bad_host:80" (want nothing, an IP address or a hostname)`},
		{"empty include", "interfaces:\n  include: []\n",
			`cfg.yaml:2:12: interfaces.include: must not be empty`},
		{"null include", "interfaces:\n  include:\n",
			`cfg.yaml:2:11: interfaces.include: must not be empty`},
		{"bad glob", "interfaces:\n  include:\n    - eth0\n    - 'eth[0'\n",
			`cfg.yaml:4:7: interfaces.include[1]: invalid glob pattern "eth[0" (syntax error in pattern)`},
		{"empty pattern", "interfaces:\n  exclude: [lo, \"\"]\n",
			`cfg.yaml:2:17: interfaces.exclude[1]: pattern must not be empty`},
		{"max interfaces zero", "limits:\n  max_interfaces: 0\n",
			`cfg.yaml:2:19: limits.max_interfaces: value 0 out of range (want 1..65536)`},
		{"max interfaces too big", "limits:\n  max_interfaces: 65537\n",
			`cfg.yaml:2:19: limits.max_interfaces: value 65537 out of range (want 1..65536)`},
		// OTLP and resource validation, located at their value. The endpoint
		// is checked although otlp.enabled is false.
		{"otlp endpoint without port", "otlp:\n  endpoint: localhost\n",
			`cfg.yaml:2:13: otlp.endpoint: invalid endpoint "localhost" (want host:port or an http:// or https:// URL, e.g. "localhost:4317" or "https://collector.example.com:4317")`},
		{"otlp endpoint empty", "otlp:\n  endpoint: ''\n",
			`cfg.yaml:2:13: otlp.endpoint: invalid endpoint "" (want host:port or an http:// or https:// URL, e.g. "localhost:4317" or "https://collector.example.com:4317")`},
		{"otlp endpoint ftp URL", "otlp:\n  endpoint: ftp://x:1\n",
			`cfg.yaml:2:13: otlp.endpoint: unsupported scheme "ftp" in endpoint "ftp://x:1" (want http or https)`},
		{"otlp endpoint URL without host", "otlp:\n  endpoint: http://\n",
			`cfg.yaml:2:13: otlp.endpoint: missing host in endpoint "http://"`},
		{"otlp endpoint URL with port only", "otlp:\n  endpoint: https://:4317\n",
			`cfg.yaml:2:13: otlp.endpoint: missing host in endpoint "https://:4317"`},
		{"otlp endpoint without host", "otlp:\n  endpoint: ':4317'\n",
			`cfg.yaml:2:13: otlp.endpoint: invalid host "" in endpoint ":4317" (want an IP address or a hostname)`},
		{"otlp endpoint port 0", "otlp:\n  endpoint: host:0\n",
			`cfg.yaml:2:13: otlp.endpoint: invalid port "0" in endpoint "host:0" (want an integer 1..65535)`},
		{"otlp endpoint port too big", "otlp:\n  endpoint: host:99999\n",
			`cfg.yaml:2:13: otlp.endpoint: invalid port "99999" in endpoint "host:99999" (want an integer 1..65535)`},
		{"otlp endpoint URL port 0", "otlp:\n  endpoint: http://host:0\n",
			`cfg.yaml:2:13: otlp.endpoint: invalid port "0" in endpoint "http://host:0" (want an integer 1..65535)`},
		{"otlp endpoint URL empty port", "otlp:\n  endpoint: 'http://host:'\n",
			`cfg.yaml:2:13: otlp.endpoint: invalid port "" in endpoint "http://host:" (want an integer 1..65535)`},
		{"otlp endpoint URL named port", "otlp:\n  endpoint: http://host:otlp\n",
			`cfg.yaml:2:13: otlp.endpoint: invalid endpoint URL "http://host:otlp" (invalid port ":otlp" after host)`},
		{"otlp endpoint bad host", "otlp:\n  endpoint: bad_host:4317\n",
			`cfg.yaml:2:13: otlp.endpoint: invalid host "bad_host" in endpoint "bad_host:4317" (want an IP address or a hostname)`},
		{"otlp endpoint URL bad host", "otlp:\n  endpoint: https://bad_host\n",
			`cfg.yaml:2:13: otlp.endpoint: invalid host "bad_host" in endpoint "https://bad_host" (want an IP address or a hostname)`},
		{"otlp endpoint URL with credentials", "otlp:\n  endpoint: https://user:secret@host\n",
			`cfg.yaml:2:13: otlp.endpoint: endpoint "https://user:secret@host" must not contain user information (send credentials in otlp.headers)`},
		{"otlp endpoint URL with query", "otlp:\n  endpoint: https://host/?a=b\n",
			`cfg.yaml:2:13: otlp.endpoint: endpoint "https://host/?a=b" must not contain a query or fragment`},
		{"otlp endpoint gRPC target syntax", "otlp:\n  endpoint: dns:///collector:4317\n",
			`cfg.yaml:2:13: otlp.endpoint: unsupported scheme "dns" in endpoint "dns:///collector:4317" (want http or https)`},
		{"otlp interval zero", "otlp:\n  interval: 0s\n",
			`cfg.yaml:2:13: otlp.interval: value 0s out of range (want more than 0)`},
		{"otlp timeout negative", "otlp:\n  timeout: -1s\n",
			`cfg.yaml:2:12: otlp.timeout: value -1s out of range (want more than 0)`},
		{"otlp timeout without unit", "otlp:\n  timeout: 10\n",
			`cfg.yaml:2:12: otlp.timeout: invalid duration "10" (want a number with a unit, e.g. 500ms, 30s, 1h30m)`},
		{"otlp temporality", "otlp:\n  temporality: Delta\n",
			`cfg.yaml:2:16: otlp.temporality: invalid value "Delta" (want cumulative or delta)`},
		{"otlp temporality lowmemory is for the environment only", "otlp:\n  temporality: lowmemory\n",
			`cfg.yaml:2:16: otlp.temporality: invalid value "lowmemory" (want cumulative or delta)`},
		{"otlp compression", "otlp:\n  compression: zstd\n",
			`cfg.yaml:2:16: otlp.compression: invalid value "zstd" (want gzip or none)`},
		{"otlp cert_file without key_file", "otlp:\n  cert_file: client.pem\n",
			`cfg.yaml:2:14: otlp.cert_file: is set without otlp.key_file (a client certificate needs its key)`},
		{"otlp key_file without cert_file", "otlp:\n  key_file: client-key.pem\n",
			`cfg.yaml:2:13: otlp.key_file: is set without otlp.cert_file (a client key needs its certificate)`},
		{"otlp TLS files with insecure", "otlp:\n  insecure: true\n  ca_file: ca.pem\n",
			`cfg.yaml:3:12: otlp.ca_file: TLS files are set but the connection is plaintext (otlp.insecure is true)`},
		{"otlp TLS files with http URL", "otlp:\n  endpoint: http://collector:4317\n  cert_file: c.pem\n  key_file: k.pem\n",
			`cfg.yaml:3:14: otlp.cert_file: TLS files are set but the connection is plaintext (otlp.endpoint is an http:// URL)`},
		{"otlp header name empty", "otlp:\n  headers:\n    '': x\n",
			`cfg.yaml:3:9: otlp.headers[""]: header name must not be empty`},
		{"otlp header name uppercase", "otlp:\n  headers:\n    Authorization: Bearer x\n",
			`cfg.yaml:3:20: otlp.headers.Authorization: invalid header name "Authorization" (want lowercase letters, digits, '-', '_' and '.')`},
		{"otlp header name with space", "otlp:\n  headers:\n    'x team': a\n",
			`cfg.yaml:3:15: otlp.headers["x team"]: invalid header name "x team" (want lowercase letters, digits, '-', '_' and '.')`},
		{"otlp header name reserved", "otlp:\n  headers:\n    grpc-timeout: 1S\n",
			`cfg.yaml:3:19: otlp.headers.grpc-timeout: header name "grpc-timeout" is reserved (names starting with "grpc-" belong to gRPC)`},
		{"otlp header value with newline", "otlp:\n  headers:\n    x-token: \"a\\nb\"\n",
			`cfg.yaml:3:14: otlp.headers.x-token: header value contains the control character U+000A`},
		{"otlp header value with tab", "otlp:\n  headers:\n    x-token: \"a\tb\"\n",
			`cfg.yaml:3:14: otlp.headers.x-token: header value contains the control character U+0009`},
		{"otlp header name with dot and value problems", "otlp:\n  headers:\n    X.Y: \"\\x7f\"\n",
			"cfg.yaml:3:10: otlp.headers[\"X.Y\"]: invalid header name \"X.Y\" (want lowercase letters, digits, '-', '_' and '.')\n" +
				`cfg.yaml:3:10: otlp.headers["X.Y"]: header value contains the control character U+007F`},
		{"resource attribute name empty", "resource:\n  attributes:\n    '': x\n",
			`cfg.yaml:3:9: resource.attributes[""]: attribute name must not be empty`},
		{"resource attribute name with control character", "resource:\n  attributes:\n    \"a\\x01\": x\n",
			`cfg.yaml:3:14: resource.attributes["a\x01"]: attribute name contains the control character U+0001`},
		{"resource attribute value with control character", "resource:\n  attributes:\n    service.name: \"edge\\u0085\"\n",
			`cfg.yaml:3:19: resource.attributes["service.name"]: attribute value contains the control character U+0085`},
		{"resource attributes as a list", "resource:\n  attributes: [a]\n",
			`cfg.yaml:2:15: resource.attributes: expected a mapping, got a list`},
		{"otlp headers value not a string", "otlp:\n  headers: {x-a: {b: c}}\n",
			`cfg.yaml:2:18: otlp.headers.x-a: expected a string, got a mapping`},
		{"unknown otlp key with suggestion", "otlp:\n  endpont: localhost:4317\n",
			`cfg.yaml:2:3: otlp.endpont: unknown key "otlp.endpont"; did you mean "endpoint"?`},
		{"unknown key with one letter missing", "egres: {enabled: false}\n",
			`cfg.yaml:1:1: egres: unknown key "egres"; did you mean "egress"?`},
		{"aliased bad value is located where it is used", "interfaces:\n  include: &empty []\n  exclude: *empty\nxdp:\n  mode: &fast fast\n",
			"cfg.yaml:2:12: interfaces.include: must not be empty\n" +
				`cfg.yaml:5:9: xdp.mode: invalid value "fast" (want auto, native or generic)`},
		{"decode failure is not reported twice", "interfaces:\n  include: [[eth0]]\n",
			`cfg.yaml:2:13: interfaces.include[0]: expected a string, got a list`},
		{"invalid value before duplicate is still reported", "xdp:\n  mode: fast\n  mode: auto\n",
			"cfg.yaml:2:9: xdp.mode: invalid value \"fast\" (want auto, native or generic)\n" +
				`cfg.yaml:3:3: xdp.mode: duplicate key "xdp.mode" (first defined at line 2)`},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			cfg, err := Parse("cfg.yaml", []byte(test.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want error:\n%s", cfg, test.want)
			}
			if got := err.Error(); got != test.want {
				t.Fatalf("Parse error:\n%s\nwant:\n%s", got, test.want)
			}
			if !reflect.DeepEqual(cfg, Config{}) {
				t.Errorf("Parse returned %+v with an error, want the zero Config", cfg)
			}
			var list Errors
			if !errors.As(err, &list) {
				t.Fatalf("Parse error is %T, want Errors", err)
			}
		})
	}
}

func TestParseErrorFields(t *testing.T) {
	_, err := Parse("/etc/pe.yaml", []byte("interfaces:\n  include:\n    - eth0\n    - ''\n"))
	var problem *Error
	if !errors.As(err, &problem) {
		t.Fatalf("errors.As(%v, *Error) failed", err)
	}
	want := Error{File: "/etc/pe.yaml", Line: 4, Column: 7, Key: "interfaces.include[1]", Msg: "pattern must not be empty"}
	if *problem != want {
		t.Fatalf("error = %+v, want %+v", *problem, want)
	}
}

func TestParseReportsAllProblems(t *testing.T) {
	input := `interfaces:
  include: []
  exclude: ["[", "veth*"]
egress:
  enabled: maybe
xdp:
  mode: turbo
prometheus:
  listen_adress: ":9100"
  listen_address: ":99999"
log:
  level: loud
  format: xml
limits:
  max_interfaces: -5
extra: 1
`
	want := []string{
		`cfg.yaml:2:12: interfaces.include: must not be empty`,
		`cfg.yaml:3:13: interfaces.exclude[0]: invalid glob pattern "[" (syntax error in pattern)`,
		`cfg.yaml:5:12: egress.enabled: invalid boolean "maybe" (want true or false)`,
		`cfg.yaml:7:9: xdp.mode: invalid value "turbo" (want auto, native or generic)`,
		`cfg.yaml:9:3: prometheus.listen_adress: unknown key "prometheus.listen_adress"; did you mean "listen_address"?`,
		`cfg.yaml:10:19: prometheus.listen_address: invalid port "99999" in address ":99999" (want an integer 1..65535)`,
		`cfg.yaml:12:10: log.level: invalid value "loud" (want debug, info, warn or error)`,
		`cfg.yaml:13:11: log.format: invalid value "xml" (want json or console)`,
		`cfg.yaml:15:19: limits.max_interfaces: value -5 out of range (want 1..65536)`,
		`cfg.yaml:16:1: extra: unknown key "extra"`,
	}
	_, err := Parse("cfg.yaml", []byte(input))
	var list Errors
	if !errors.As(err, &list) {
		t.Fatalf("Parse error %v is not Errors", err)
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(list) != len(want) {
		t.Fatalf("len(Errors) = %d, want %d", len(list), len(want))
	}
}

func TestParseManyUnknownKeys(t *testing.T) {
	var input strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&input, "unknown_%d: %d\n", i, i)
	}
	_, err := Parse("cfg.yaml", []byte(input.String()))
	var list Errors
	if !errors.As(err, &list) {
		t.Fatalf("Parse error %v is not Errors", err)
	}
	if len(list) != maxReportedErrors+1 {
		t.Fatalf("len(Errors) = %d, want %d", len(list), maxReportedErrors+1)
	}
	if got, want := list[0].Error(), `cfg.yaml:1:1: unknown_0: unknown key "unknown_0"`; got != want {
		t.Errorf("first error = %s, want %s", got, want)
	}
	if got, want := list[maxReportedErrors].Error(), "cfg.yaml: too many problems: 950 more not shown"; got != want {
		t.Errorf("last error = %s, want %s", got, want)
	}
}

func TestParseFileSizeLimit(t *testing.T) {
	justFits := "xdp: {mode: native}\n" + strings.Repeat("#", maxFileSize-21) + "\n"
	if len(justFits) != maxFileSize {
		t.Fatalf("test input has %d bytes", len(justFits))
	}
	cfg, err := Parse("cfg.yaml", []byte(justFits))
	if err != nil || cfg.XDP.Mode != XDPModeNative {
		t.Fatalf("Parse(1 MiB) = %+v, %v; want xdp.mode native", cfg, err)
	}
	_, err = Parse("cfg.yaml", []byte(justFits+" "))
	if want := "cfg.yaml: file is larger than the limit of 1048576 bytes (1 MiB)"; err == nil || err.Error() != want {
		t.Fatalf("Parse(1 MiB + 1) error = %v, want %s", err, want)
	}
}

func TestParseNestingDepth(t *testing.T) {
	tooDeep := "cfg.yaml:33:33: k1.k2.k3.k4.k5.k6.k7.k8.k9.k10.k11.k12.k13.k14.k15.k16.k17.k18.k19.k20.k21.k22.k23.k24.k25.k26.k27.k28.k29.k30.k31.k32: nesting exceeds the maximum depth of 32"
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"flow lists 100 deep", "interfaces:\n  include: " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "\n",
			"cfg.yaml:2:42: interfaces.include" + strings.Repeat("[0]", 30) + ": nesting exceeds the maximum depth of 32"},
		{"block mappings 100 deep", nestedMappings(100), tooDeep},
		{"33 levels are too deep", nestedMappings(33), tooDeep},
		{"32 levels are fine", nestedMappings(32), `cfg.yaml:1:1: k1: unknown key "k1"`},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			_, err := Parse("cfg.yaml", []byte(test.yaml))
			if err == nil || err.Error() != test.want {
				t.Fatalf("Parse error:\n%v\nwant:\n%s", err, test.want)
			}
		})
	}
}

// nestedMappings returns a document of exactly levels nested block
// mappings: k1: k2: ... leaf: 1.
func nestedMappings(levels int) string {
	var doc strings.Builder
	for level := 1; level < levels; level++ {
		fmt.Fprintf(&doc, "%sk%d:\n", strings.Repeat(" ", level-1), level)
	}
	fmt.Fprintf(&doc, "%sleaf: 1\n", strings.Repeat(" ", levels-1))
	return doc.String()
}

func TestParseBinaryGarbage(t *testing.T) {
	random := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		garbage := make([]byte, 1+random.IntN(512))
		for j := range garbage {
			garbage[j] = byte(random.UintN(256))
		}
		_, err := Parse("garbage.bin", garbage)
		if err == nil {
			t.Fatalf("input %d: Parse(%q) succeeded", i, garbage)
		}
		var problem *Error
		if !errors.As(err, &problem) || problem.File != "garbage.bin" {
			t.Fatalf("input %d: error %v lacks the file name", i, err)
		}
	}
}

// TestMetricSwitches checks that the metrics section overlays the defaults
// of metadata.yaml: a name given changes only that metric, an empty entry or
// a null section keep the defaults.
func TestMetricSwitches(t *testing.T) {
	const size, packets = "packet_exporter.network.packet.size", "packet_exporter.network.packets"
	for _, tc := range []struct {
		name, yaml string
		off        []string
	}{
		{"none", "{}", nil},
		{"null", "metrics: ~", nil},
		{"empty entry", "metrics: {" + size + ": {}}", nil},
		{"one off", "metrics: {" + size + ": {enabled: false}}", []string{size}},
		{"two off, one on", "metrics: {" + size + ": {enabled: false}, " + packets + ": {enabled: false}, system.network.errors: {enabled: true}}",
			[]string{packets, size}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("cfg.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.DisabledMetrics(); !slices.Equal(got, tc.off) {
				t.Errorf("disabled %v, want %v", got, tc.off)
			}
			if len(c.Metrics) != len(metricdef.All) {
				t.Errorf("%d metrics, want every one of metadata.yaml's %d", len(c.Metrics), len(metricdef.All))
			}
		})
	}
}

// TestDecode checks that a configuration read into Go values decodes as
// its YAML text parses: the same result, the same problems (without
// positions).
func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value map[string]any
		yaml  string
	}{
		{"empty", nil, ""},
		{"values", map[string]any{"interfaces": map[string]any{"include": []any{"eth*"}}, "limits": map[string]any{"max_interfaces": 8},
			"flows": map[string]any{"idle_timeout": "1m"}, "metrics": map[string]any{"system.network.errors": map[string]any{"enabled": false}}},
			"interfaces: {include: [eth*]}\nlimits: {max_interfaces: 8}\nflows: {idle_timeout: 1m}\nmetrics: {system.network.errors: {enabled: false}}\n"},
		{"problems", map[string]any{"limits": map[string]any{"max_interface": 8}, "egress": map[string]any{"hook": "xdp"}},
			"limits: {max_interface: 8}\negress: {hook: xdp}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, gotErr := Decode("collector", tc.value)
			want, wantErr := Parse("collector", []byte(tc.yaml))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Decode = %+v, Parse = %+v", got, want)
			}
			if messages(gotErr) != messages(wantErr) || (gotErr != nil) != (tc.name == "problems") {
				t.Errorf("Decode: %v\nParse: %v", gotErr, wantErr)
			}
		})
	}
}

// messages lists the key and message of each problem of err.
func messages(err error) string {
	var problems Errors
	if !errors.As(err, &problems) {
		return fmt.Sprint(err)
	}
	var out []string
	for _, p := range problems {
		out = append(out, p.Key+": "+p.Msg)
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}
