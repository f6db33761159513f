package config

import (
	"errors"
	"reflect"
	"testing"
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
