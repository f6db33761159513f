package config

import (
	"errors"
	"strings"
	"testing"
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
