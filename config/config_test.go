package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

const exampleFile = "../packet-exporter.example.yaml"

func TestDefault(t *testing.T) {
	want := Config{
		Interfaces: Interfaces{Include: []string{"*"}, Exclude: []string{"lo"}},
		Egress:     Egress{Enabled: true, Hook: "auto"},
		XDP:        XDP{Mode: "auto"},
		Ingress:    Ingress{Hook: "auto"},
		Prometheus: Prometheus{Enabled: true, ListenAddress: ":9743"},
		OTLP: OTLP{
			Enabled:     false,
			Endpoint:    "localhost:4317",
			Insecure:    false,
			Headers:     map[string]string{},
			Compression: "gzip",
			Interval:    15 * time.Second,
			Timeout:     10 * time.Second,
			Temporality: "cumulative",
			// The final export at shutdown.
			ShutdownTimeout: 2 * time.Second,
		},
		Resource:    Resource{Attributes: map[string]string{}},
		Log:         Log{Level: "info", Format: "json"},
		Limits:      Limits{MaxInterfaces: 4096},
		Events:      Events{Enabled: false, SampleRate: 1, RingSize: 4194304, Workers: 5, DrainInterval: 10 * time.Millisecond},
		Flows:       Flows{Enabled: false, Ports: true, MaxSeries: 10000, IdleTimeout: 5 * time.Minute},
		Drops:       Drops{Enabled: true},
		Tunnels:     Tunnels{Enabled: true, VXLANPorts: []int{4789, 8472}, GenevePorts: []int{6081}, MaxInterfaces: 64},
		Attribution: Attribution{Enabled: true, HostRoot: "/", ContainersStorageRoot: "/var/lib/containers/storage"},
		Conventions: Conventions{PodMetrics: true},
		Persistence: Persistence{Path: "/sys/fs/bpf/packet-exporter", HandoverTimeout: time.Minute},
		Metrics:     map[string]MetricSwitch{},
	}
	for _, d := range metricdef.All {
		want.Metrics[d.Name] = MetricSwitch{Enabled: d.Enabled}
	}
	if got := Default(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Default() = %+v, want %+v", got, want)
	}
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

func TestDefaultReturnsFreshSlices(t *testing.T) {
	first := Default()
	first.Interfaces.Include[0] = "changed"
	first.Interfaces.Exclude[0] = "changed"
	first.OTLP.Headers["authorization"] = "changed"
	first.Resource.Attributes["service.name"] = "changed"
	second := Default()
	if second.Interfaces.Include[0] != "*" || second.Interfaces.Exclude[0] != "lo" {
		t.Fatalf("Default() shares slices between calls: %+v", second.Interfaces)
	}
	if len(second.OTLP.Headers) != 0 || len(second.Resource.Attributes) != 0 {
		t.Fatalf("Default() shares maps between calls: %v %v", second.OTLP.Headers, second.Resource.Attributes)
	}
}

func TestLoadDefaultEqualsDefault(t *testing.T) {
	got, err := LoadDefault()
	if err != nil {
		t.Fatalf("LoadDefault() error: %v", err)
	}
	if !reflect.DeepEqual(got, Default()) {
		t.Fatalf("LoadDefault() = %+v, want Default() %+v", got, Default())
	}
}

func TestExampleFileEqualsDefault(t *testing.T) {
	got, err := Load(exampleFile)
	if err != nil {
		t.Fatalf("Load(%s) error: %v", exampleFile, err)
	}
	if !reflect.DeepEqual(got, Default()) {
		t.Fatalf("example file = %+v, want Default() %+v", got, Default())
	}
}

// TestFilesSpellOutEveryKey makes sure the default and example files write
// every setting explicitly instead of relying on omitted keys.
func TestFilesSpellOutEveryKey(t *testing.T) {
	example, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"embedded default": DefaultYAML, exampleFile: example}
	for name, data := range files {
		_, positions, err := parseWithPositions(name, data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, key := range leafKeys(reflect.TypeFor[Config](), "") {
			if _, found := positions[key]; !found {
				t.Errorf("%s does not set %s", name, key)
			}
		}
	}
}

// leafKeys lists the key paths of all non-struct settings of t.
func leafKeys(t reflect.Type, prefix string) []string {
	var keys []string
	fields := yamlFields(t)
	for _, name := range fields.names {
		key := fieldPath(prefix, name)
		field := t.Field(fields.index[name]).Type
		if field.Kind() == reflect.Struct && field != durationType {
			keys = append(keys, leafKeys(field, key)...)
		} else {
			keys = append(keys, key)
		}
	}
	return keys
}

func TestLeafKeysCoverConfig(t *testing.T) {
	want := []string{
		"interfaces.include", "interfaces.exclude", "egress.enabled", "egress.hook", "xdp.mode",
		"ingress.hook", "prometheus.enabled", "prometheus.listen_address", "prometheus.web_config_file",
		"otlp.enabled", "otlp.endpoint", "otlp.insecure", "otlp.ca_file", "otlp.cert_file",
		"otlp.key_file", "otlp.headers", "otlp.compression", "otlp.interval", "otlp.timeout",
		"otlp.shutdown_timeout", "otlp.temporality", "resource.attributes", "log.level", "log.format",
		"limits.max_interfaces", "events.enabled", "events.sample_rate", "events.ring_size",
		"events.workers", "events.drain_interval", "flows.enabled", "flows.ports", "flows.max_series",
		"flows.idle_timeout", "drops.enabled",
		"tunnels.enabled", "tunnels.vxlan_ports", "tunnels.geneve_ports", "tunnels.max_interfaces", "attribution.enabled",
		"attribution.on_series", "attribution.host_root", "attribution.docker_data_root",
		"attribution.containers_storage_root", "conventions.pod_metrics", "persistence.enabled", "persistence.path",
		"persistence.handover_timeout", "debug.pprof", "metrics",
	}
	if got := leafKeys(reflect.TypeFor[Config](), ""); !slices.Equal(got, want) {
		t.Fatalf("leafKeys = %q, want %q", got, want)
	}
}

func TestConfigUsesOnlySupportedTypes(t *testing.T) {
	var check func(t reflect.Type) error
	check = func(typ reflect.Type) error {
		switch typ.Kind() {
		case reflect.Struct:
			fields := yamlFields(typ)
			if len(fields.names) != typ.NumField() {
				return errors.New("a field of " + typ.String() + " has no yaml tag")
			}
			for _, name := range fields.names {
				if err := check(typ.Field(fields.index[name]).Type); err != nil {
					return err
				}
			}
			return nil
		case reflect.Slice:
			return check(typ.Elem())
		case reflect.Map:
			if typ.Key().Kind() != reflect.String {
				return errors.New("map key " + typ.Key().String())
			}
			return check(typ.Elem())
		}
		if _, ok := scalarTypes[typ]; !ok {
			return errors.New("unsupported " + typ.String())
		}
		return nil
	}
	if err := check(reflect.TypeFor[Config]()); err != nil {
		t.Fatal(err)
	}
}

// TestREADMEConfigTable checks the README's table of settings against
// Default: each default it gives, written into a document, parses to
// Default(), and it names every setting.
func TestREADMEConfigTable(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, found := strings.Cut(string(data), "\n| key | default | meaning |\n|---|---|---|\n")
	if !found {
		t.Fatal("README.md has no table of settings (| key | default | meaning |)")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	listed := map[string]bool{}
	for row := range strings.SplitSeq(table, "\n") {
		cells := strings.Split(row, "|")
		if len(cells) < 4 {
			t.Errorf("README.md: malformed row %q", row)
			continue
		}
		value := strings.Trim(strings.TrimSpace(cells[2]), "`")
		for key := range strings.SplitSeq(strings.TrimSpace(cells[1]), ", ") {
			key = strings.Trim(key, "`")
			listed[key] = true
			document := fmt.Appendf(nil, "%s: %s\n", key, value) // a top-level key
			if section, name, nested := strings.Cut(key, "."); nested {
				document = fmt.Appendf(nil, "%s:\n  %s: %s\n", section, name, value)
			}
			cfg, err := Parse("README.md", document)
			if err != nil || !reflect.DeepEqual(cfg, Default()) {
				t.Errorf("README.md gives %s the default %s, which is not Default()'s (%v)", key, value, err)
			}
		}
	}
	for _, key := range leafKeys(reflect.TypeFor[Config](), "") {
		if !listed[key] {
			t.Errorf("README.md's table of settings lacks %s", key)
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name       string
		interfaces Interfaces
		matches    []string
		rejects    []string
	}{
		{
			name:       "defaults: everything but loopback",
			interfaces: Default().Interfaces,
			matches:    []string{"eth0", "wlan0", "lo0", "veth1234", "docker0"},
			rejects:    []string{"lo"},
		},
		{
			name:       "star prefix",
			interfaces: Interfaces{Include: []string{"eth*"}},
			matches:    []string{"eth", "eth0", "eth10"},
			rejects:    []string{"ens3", "veth0", "lo"},
		},
		{
			name:       "question mark and class",
			interfaces: Interfaces{Include: []string{"eth?", "en[a-s]3"}},
			matches:    []string{"eth0", "ethX", "ens3", "ena3"},
			rejects:    []string{"eth10", "eth", "ent3", "ens33"},
		},
		{
			name:       "exclude wins over include",
			interfaces: Interfaces{Include: []string{"*"}, Exclude: []string{"lo", "veth*", "docker?"}},
			matches:    []string{"eth0", "docker10", "br-abc"},
			rejects:    []string{"lo", "veth0", "docker0"},
		},
		{
			name:       "exact name only",
			interfaces: Interfaces{Include: []string{"eth0"}},
			matches:    []string{"eth0"},
			rejects:    []string{"eth01", "eth", "ETH0"},
		},
		{
			name:       "no include matches nothing",
			interfaces: Interfaces{Exclude: []string{"lo"}},
			rejects:    []string{"eth0", "lo"},
		},
		{
			name:       "bad patterns match nothing",
			interfaces: Interfaces{Include: []string{"[", "eth0"}, Exclude: []string{"e[th"}},
			matches:    []string{"eth0"},
			rejects:    []string{"["},
		},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			for _, name := range test.matches {
				if !test.interfaces.Match(name) {
					t.Errorf("%+v.Match(%q) = false, want true", test.interfaces, name)
				}
			}
			for _, name := range test.rejects {
				if test.interfaces.Match(name) {
					t.Errorf("%+v.Match(%q) = true, want false", test.interfaces, name)
				}
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	writeFile(t, good, "xdp:\n  mode: generic\n")
	cfg, err := Load(good)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.XDP.Mode != XDPModeGeneric {
		t.Fatalf("xdp.mode = %q, want generic", cfg.XDP.Mode)
	}

	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "xdp:\n  mode: fast\n")
	_, err = Load(bad)
	wantMsg := bad + `:2:9: xdp.mode: invalid value "fast" (want auto, native or generic)`
	if err == nil || err.Error() != wantMsg {
		t.Fatalf("Load(bad) error = %v, want %s", err, wantMsg)
	}
}

func TestLoadReadErrors(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{filepath.Join(dir, "missing.yaml"), dir} {
		_, err := Load(path)
		if err == nil || !strings.HasPrefix(err.Error(), "read config: ") {
			t.Errorf("Load(%s) error = %v, want a \"read config: \" error", path, err)
		}
	}
	_, err := Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) error %v does not wrap fs.ErrNotExist", err)
	}
}

func TestLoadRejectsHugeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.yaml")
	writeFile(t, path, strings.Repeat("#", 3<<20))
	_, err := Load(path)
	want := path + ": file is larger than the limit of 1048576 bytes (1 MiB)"
	if err == nil || err.Error() != want {
		t.Fatalf("Load(huge) error = %v, want %s", err, want)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
