package config

import (
	"errors"
	"os"
	"testing"
)

func FuzzParse(f *testing.F) {
	example, err := os.ReadFile(exampleFile)
	if err != nil {
		f.Fatal(err)
	}
	seeds := []string{
		string(example),
		string(DefaultYAML),
		"",
		"# only a comment\n",
		"~",
		"- a\n- b\n",
		"xdp: {mode: fast}\n",
		"xdp:\n  mode: native\n  mode: generic\n",
		"prometheus:\n  listen_adress: ':1'\n  enabled: yes\n",
		"interfaces:\n  include: []\n  exclude: ['[']\n",
		"a: 1\n---\nb: 2\n",
		"a: b: c\n",
		"x: &a [*a]\n",
		"interfaces: &i\n  include: *i\n",
		"<<: {xdp: {}}\n",
		"limits: {max_interfaces: 0x10}\n",
		"\xff\xfe\x00a",
		"\x00\x01\x02\x03",
		"{[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[: 1}",
		"log:\n\tlevel: debug\n",
		"otlp:\n  enabled: true\n  endpoint: https://collector:4317/v1\n  headers: {authorization: Bearer x}\n",
		"otlp: {endpoint: 'http://[::1]', insecure: true, ca_file: ca.pem, interval: 0s}\n",
		"otlp:\n  cert_file: /nonexistent\n  headers: {Grpc-X: \"\\t\", '': ''}\n  temporality: lowmemory\n",
		"resource:\n  attributes:\n    service.name: edge\n    \"\\x01\": \"\\u0085\"\n",
		// Endpoint security and debugging keys: missing, special and
		// empty web configuration files, pprof of the wrong type.
		"prometheus:\n  web_config_file: /nonexistent/web.yml\n",
		"prometheus:\n  web_config_file: /dev/zero\n  enabled: false\n",
		"prometheus: {web_config_file: '', listen_address: '[::1]:9743'}\ndebug:\n  pprof: true\n",
		"debug: {pprof: yes, profiler: on}\n",
		"debug: []\n",
		"debug:\n",
		" \n\t\n",
		"{}",
		"k0: 1\nk1: 2\nk2: 3\nk3: 4\nk4: 5\nk5: 6\n",
		"x: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
	}
	for _, seed := range seeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if err != nil {
			var problem *Error
			if !errors.As(err, &problem) || problem.File != "fuzz.yaml" {
				t.Fatalf("Parse error %v (%T) is not a located *Error", err, err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse succeeded but Validate failed: %v", err)
		}
	})
}
