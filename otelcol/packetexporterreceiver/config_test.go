package packetexporterreceiver

import (
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.yaml.in/yaml/v3"

	"github.com/packet-exporter/packet-exporter/config"
)

func TestCreateDefaultConfig(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	if err := componenttest.CheckConfigStruct(cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.CollectionInterval != 15*time.Second || cfg.InitialDelay != time.Second || cfg.Timeout != 0 {
		t.Errorf("scraper defaults: collection_interval %v, initial_delay %v, timeout %v; want 15s, 1s, 0",
			cfg.CollectionInterval, cfg.InitialDelay, cfg.Timeout)
	}
	if !reflect.DeepEqual(cfg.Counting, config.Default()) {
		t.Errorf("counting defaults differ from the agent's:\n got %+v\nwant %+v", cfg.Counting, config.Default())
	}
	if err := confmap.Validate(cfg); err != nil {
		t.Errorf("default configuration invalid: %v", err)
	}
}

func TestLoadConfig(t *testing.T) {
	custom := config.Default()
	custom.Interfaces = config.Interfaces{Include: []string{"eth*", "veth*"}, Exclude: []string{"veth9*"}}
	custom.Egress.Enabled = false
	custom.Ingress.Hook = config.HookXDP
	custom.XDP.Mode = config.XDPModeNative
	custom.Limits.MaxInterfaces = 256
	custom.Events.Enabled, custom.Events.SampleRate = true, 10
	custom.Flows.Enabled, custom.Flows.MaxSeries = true, 500
	custom.Drops.Enabled = false
	custom.Tunnels.VXLANPorts, custom.Tunnels.GenevePorts = []int{4789}, []int{6081, 6082}

	tests := []struct {
		id                              component.ID
		interval, initialDelay, timeout time.Duration
		counting                        config.Config
	}{
		{component.NewID(componentType), 15 * time.Second, time.Second, 0, config.Default()},
		{component.NewIDWithName(componentType, "custom"), 30 * time.Second, 2 * time.Second, 5 * time.Second, custom},
	}
	conf, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := loadConfig(t, conf, tt.id)
			if cfg.CollectionInterval != tt.interval || cfg.InitialDelay != tt.initialDelay || cfg.Timeout != tt.timeout {
				t.Errorf("scraper settings %v %v %v, want %v %v %v", cfg.CollectionInterval, cfg.InitialDelay, cfg.Timeout,
					tt.interval, tt.initialDelay, tt.timeout)
			}
			if !reflect.DeepEqual(cfg.Counting, tt.counting) {
				t.Errorf("counting:\n got %+v\nwant %+v", cfg.Counting, tt.counting)
			}
			if err := confmap.Validate(cfg); err != nil {
				t.Error(err)
			}
		})
	}
}

// loadConfig decodes the receiver id of a collector configuration's
// receivers section over the defaults, as the collector does.
func loadConfig(t *testing.T, conf *confmap.Conf, id component.ID) *Config {
	t.Helper()
	sub, err := conf.Sub("receivers::" + id.String())
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestAgentKeysAreSorted checks that every top-level key of the agent's
// configuration is either taken or refused with a reason: a key added to
// the agent must be decided on here.
func TestAgentKeysAreSorted(t *testing.T) {
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		key, _, _ := strings.Cut(typ.Field(i).Tag.Get("yaml"), ",")
		_, refused := agentOnlyKeys[key]
		if taken := slices.Contains(countingKeys, key); taken == refused {
			t.Errorf("agent key %q: taken %t, refused %t; want exactly one", key, taken, refused)
		}
	}
}

// TestSameErrorsAsAgent decodes bad values with the receiver and with the
// agent: the receiver reports the agent's problems, key and message, without
// the file positions.
func TestSameErrorsAsAgent(t *testing.T) {
	tests := []struct {
		name string
		yaml string
	}{
		{"bad glob", "interfaces:\n  include: [\"eth*\", \"[z-a\"]\n"},
		{"empty include", "interfaces:\n  include: []\n"},
		{"bad egress hook", "egress:\n  hook: xdp\n"},
		{"bad ingress hook", "ingress:\n  hook: tc2\n"},
		{"bad xdp mode", "xdp:\n  mode: fast\n"},
		{"not a boolean", "egress:\n  enabled: maybe\n"},
		{"not an integer", "limits:\n  max_interfaces: many\n"},
		{"out of range", "limits:\n  max_interfaces: -1\n"},
		{"sample rate", "events:\n  sample_rate: 0\n"},
		{"ring size", "events:\n  ring_size: 5000\n"},
		{"bad duration", "flows:\n  idle_timeout: soon\n"},
		{"flows without events", "flows:\n  enabled: true\n"},
		{"misspelt key", "interfacs:\n  include: [eth0]\n"},
		{"misspelt nested key", "egress:\n  enabeld: true\n"},
		{"several problems", "xdp:\n  mode: fast\nlimits:\n  max_interfaces: 0\n"},
		{"relative host root", "attribution:\n  host_root: host\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, agentErr := config.Parse("agent.yaml", []byte(tt.yaml))
			if agentErr == nil {
				t.Fatal("the agent accepts it; the test is meant for bad values")
			}
			want := keysAndMessages(t, agentErr)

			var raw map[string]any
			if err := yaml.Unmarshal([]byte(tt.yaml), &raw); err != nil {
				t.Fatal(err)
			}
			cfg := NewFactory().CreateDefaultConfig().(*Config)
			err := confmap.NewFromStringMap(raw).Unmarshal(cfg)
			if err == nil {
				err = confmap.Validate(cfg)
			}
			if err == nil {
				t.Fatalf("the receiver accepts it; the agent says:\n%s", want)
			}
			if got := err.Error(); !strings.Contains(got, want) {
				t.Errorf("receiver's error:\n%s\nwant the agent's:\n%s", got, want)
			}
		})
	}
}

// keysAndMessages formats the agent's problems as "KEY: MESSAGE" lines,
// ordered by key.
func keysAndMessages(t *testing.T, err error) string {
	t.Helper()
	var problems config.Errors
	if !errors.As(err, &problems) {
		t.Fatalf("agent error %v is not a config.Errors", err)
	}
	lines := make([]string, 0, len(problems))
	for _, p := range problems {
		if p.Line == 0 {
			t.Fatalf("agent problem %q has no position: the comparison would prove nothing", p)
		}
		q := *p
		q.File, q.Line, q.Column = "", 0, 0
		lines = append(lines, q.Error())
	}
	slices.Sort(lines) // by key: the receiver's order
	return strings.Join(lines, "\n")
}

func TestAgentOnlyKeysAreRefused(t *testing.T) {
	for key, reason := range agentOnlyKeys {
		t.Run(key, func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig().(*Config)
			err := confmap.NewFromStringMap(map[string]any{key: map[string]any{}}).Unmarshal(cfg)
			want := key + ": not a key of the packetexporter receiver: " + reason
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v, want it to contain %q", err, want)
			}
		})
	}
}

func TestValidateConfigBuiltInCode(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.Counting.Limits.MaxInterfaces = 0
	cfg.Counting.XDP.Mode = "fast"
	want := config.Default()
	want.Limits.MaxInterfaces = 0
	want.XDP.Mode = "fast"
	agentErr := want.Validate()
	if agentErr == nil {
		t.Fatal("the agent accepts it")
	}
	err := confmap.Validate(cfg)
	if err == nil || !strings.Contains(err.Error(), agentErr.Error()) {
		t.Errorf("error %v, want the agent's %v", err, agentErr)
	}
	cfg = NewFactory().CreateDefaultConfig().(*Config)
	cfg.CollectionInterval = 0
	if err := confmap.Validate(cfg); err == nil {
		t.Error("collection_interval 0 accepted")
	}
}
