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
