package config

import (
	_ "embed"
	"fmt"
	"io"
	"os"
	"path"
)

// DefaultYAML is the embedded default configuration file (config/default.yaml).
// It writes every default out explicitly, with comments; [LoadDefault] parses it.
//
//go:embed default.yaml
var DefaultYAML []byte

// Config is the whole configuration.
type Config struct {
	Interfaces Interfaces `yaml:"interfaces"`
	Egress     Egress     `yaml:"egress"`
	XDP        XDP        `yaml:"xdp"`
	Prometheus Prometheus `yaml:"prometheus"`
	Log        Log        `yaml:"log"`
	Limits     Limits     `yaml:"limits"`
}

// Interfaces selects the network interfaces whose packets are counted.
type Interfaces struct {
	// Include holds glob patterns (path.Match syntax) matched against
	// interface names; an interface must match at least one. Default ["*"].
	Include []string `yaml:"include"`
	// Exclude holds glob patterns for interfaces that are never counted,
	// even when they match Include. Default ["lo"].
	Exclude []string `yaml:"exclude"`
}

// Egress configures counting of packets sent by the interfaces.
type Egress struct {
	// Enabled turns egress counting on. Default true.
	Enabled bool `yaml:"enabled"`
}

// XDP configures how the ingress XDP program is attached.
type XDP struct {
	// Mode is one of XDPModeAuto, XDPModeNative or XDPModeGeneric. Default auto.
	Mode string `yaml:"mode"`
}

// The accepted values of XDP.Mode.
const (
	// XDPModeAuto uses native mode where the driver supports it, generic otherwise.
	XDPModeAuto = "auto"
	// XDPModeNative attaches in the driver (fails when the driver lacks XDP support).
	XDPModeNative = "native"
	// XDPModeGeneric attaches in the kernel network stack (works with every driver).
	XDPModeGeneric = "generic"
)

// Prometheus configures the Prometheus /metrics HTTP endpoint.
type Prometheus struct {
	// Enabled turns the endpoint on. Default true.
	Enabled bool `yaml:"enabled"`
	// ListenAddress is host:port; the host may be empty (all addresses), an IP
	// address (IPv6 in brackets) or a hostname, the port is 1..65535.
	// Default ":9743".
	ListenAddress string `yaml:"listen_address"`
}

// Log configures the agent's own logging.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is json or console. Default json.
	Format string `yaml:"format"`
}

// Limits bounds resource usage.
type Limits struct {
	// MaxInterfaces is how many interfaces can be counted at once (it sizes the
	// kernel maps and the metric cardinality limit); 1..65536, default 1024.
	MaxInterfaces int `yaml:"max_interfaces"`
}

// Default returns the built-in defaults. Every call returns fresh slices.
func Default() Config {
	return Config{
		Interfaces: Interfaces{
			Include: []string{"*"},
			Exclude: []string{"lo"},
		},
		Egress:     Egress{Enabled: true},
		XDP:        XDP{Mode: XDPModeAuto},
		Prometheus: Prometheus{Enabled: true, ListenAddress: ":9743"},
		Log:        Log{Level: "info", Format: "json"},
		Limits:     Limits{MaxInterfaces: 1024},
	}
}

// Match reports whether name matches at least one include pattern and no
// exclude pattern. Malformed patterns match nothing; Validate reports them.
func (i Interfaces) Match(name string) bool {
	return matchesAny(i.Include, name) && !matchesAny(i.Exclude, name)
}

func matchesAny(patterns []string, name string) bool {
	for _, pattern := range patterns {
		if matched, err := path.Match(pattern, name); err == nil && matched {
			return true
		}
	}
	return false
}

// Load reads the configuration file at path and parses it with [Parse].
// A read error is wrapped as "read config: %w".
func Load(path string) (Config, error) {
	data, err := readAtMost(path, maxFileSize+1)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// readAtMost reads up to limit bytes of the file, so that an oversized file
// (or a device such as /dev/zero) is not read completely; Parse then rejects
// anything over maxFileSize.
func readAtMost(path string, limit int64) ([]byte, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	return io.ReadAll(io.LimitReader(file, limit))
}

// LoadDefault parses the embedded default configuration [DefaultYAML].
func LoadDefault() (Config, error) {
	return Parse("embedded default", DefaultYAML)
}
