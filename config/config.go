package config

import (
	_ "embed"
	"fmt"
	"io"
	"os"
	"path"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// DefaultYAML is the embedded default configuration file (config/default.yaml).
// It writes every default out explicitly, with comments; [LoadDefault] parses it.
//
//go:embed default.yaml
var DefaultYAML []byte

// Config is the whole configuration. Each key is declared once, as a field
// of its section with these tags, from which everything else follows:
//
//   - yaml: its name;
//   - default: its default, written as in a YAML file ([Default]);
//   - check: the checks [Config.Validate] runs on it, comma-separated rules
//     (see rules in validate.go; a section's rules run after its keys');
//   - env: the environment variables that override it ([ApplyEnv]), in
//     order of precedence, after "NAME:" where a setter other than the
//     one of the field's type applies them (see envSetters in env.go);
//     groups of variables applied one after the other are separated by ";";
//   - flag: the command-line flag that overrides it, the file and the
//     environment ([AddFlags]).
type Config struct {
	Interfaces  Interfaces  `yaml:"interfaces"`
	Egress      Egress      `yaml:"egress"`
	XDP         XDP         `yaml:"xdp"`
	Ingress     Ingress     `yaml:"ingress"`
	Prometheus  Prometheus  `yaml:"prometheus"`
	OTLP        OTLP        `yaml:"otlp" check:"tls"`
	Resource    Resource    `yaml:"resource"`
	Log         Log         `yaml:"log"`
	Limits      Limits      `yaml:"limits"`
	Events      Events      `yaml:"events"`
	Flows       Flows       `yaml:"flows"`
	Drops       Drops       `yaml:"drops"`
	Tunnels     Tunnels     `yaml:"tunnels" check:"tunnelports"`
	Attribution Attribution `yaml:"attribution"`
	Conventions Conventions `yaml:"conventions"`
	Persistence Persistence `yaml:"persistence"`
	Debug       Debug       `yaml:"debug"`
	// Metrics switches metrics on or off by name, as the OpenTelemetry
	// Collector's receivers do: metrics: {<name>: {enabled: false}}. Its keys
	// and defaults are internal/metricdef/metadata.yaml's metrics; a name
	// given overlays its default.
	Metrics map[string]MetricSwitch `yaml:"metrics"`
}

// MetricSwitch turns one metric on or off.
type MetricSwitch struct {
	// Enabled exports the metric.
	Enabled bool `yaml:"enabled"`
}

// MetricEnabled reports whether the metric named name is exported.
func (c Config) MetricEnabled(name string) bool {
	if s, ok := c.Metrics[name]; ok {
		return s.Enabled
	}
	d, ok := metricdef.ByName(name)
	return ok && d.Enabled
}

// DisabledMetrics lists the metrics switched off, in metadata.yaml's order.
func (c Config) DisabledMetrics() []string {
	var off []string
	for _, d := range metricdef.All {
		if !c.MetricEnabled(d.Name) {
			off = append(off, d.Name)
		}
	}
	return off
}

// Interfaces selects the network interfaces whose packets are counted.
type Interfaces struct {
	// Include holds glob patterns (path.Match syntax) matched against
	// interface names; an interface must match at least one.
	Include []string `yaml:"include" default:"['*']" check:"nonempty,glob"`
	// Exclude holds glob patterns for interfaces that are never counted,
	// even when they match Include.
	Exclude []string `yaml:"exclude" default:"[lo]" check:"glob"`
}

// Egress configures counting of packets sent by the interfaces.
type Egress struct {
	// Enabled turns egress counting on.
	Enabled bool `yaml:"enabled" default:"true"`
	// Hook is one of HookAuto, HookTCX or HookTC.
	Hook string `yaml:"hook" default:"auto" check:"oneof=auto tcx tc"`
}

// XDP configures the XDP program of ingress.hook xdp.
type XDP struct {
	// Mode is one of XDPModeAuto, XDPModeNative or XDPModeGeneric.
	Mode string `yaml:"mode" default:"auto" check:"oneof=auto native generic"`
}

// Ingress chooses the hook that counts received packets.
type Ingress struct {
	// Hook is one of HookAuto, HookXDP, HookTCX or HookTC.
	Hook string `yaml:"hook" default:"auto" check:"oneof=auto xdp tcx tc"`
}

// The accepted values of Ingress.Hook and Egress.Hook, and of XDP.Mode.
const (
	// HookAuto uses tcx, which costs the traffic nothing beyond the program,
	// or legacy tc where the kernel has no tcx (before Linux 6.6).
	HookAuto = "auto"
	// HookXDP, on ingress only, uses XDP as xdp.mode says; interfaces whose
	// XDP hook another program holds are skipped. Native XDP on a veth costs
	// TCP through it most of its throughput (the kernel turns off the peer's
	// segmentation offload).
	HookXDP = "xdp"
	// HookTCX uses tcx only.
	HookTCX = "tcx"
	// HookTC uses legacy tc only: a direct-action cls_bpf filter on clsact.
	HookTC = "tc"

	// XDPModeAuto uses native mode where the driver supports it and tcx
	// ingress elsewhere; never generic mode.
	XDPModeAuto = "auto"
	// XDPModeNative attaches in the driver (fails when the driver lacks XDP support).
	XDPModeNative = "native"
	// XDPModeGeneric attaches in the kernel network stack (works with every
	// driver, but copies frames and turns off the device's LRO and hardware GRO).
	XDPModeGeneric = "generic"
)

// Prometheus configures the Prometheus /metrics HTTP endpoint.
type Prometheus struct {
	// Enabled turns the endpoint on.
	Enabled bool `yaml:"enabled" default:"true"`
	// ListenAddress is host:port; the host may be empty (all addresses), an IP
	// address (IPv6 in brackets) or a hostname, the port is 1..65535.
	// PE_PORT replaces its port and keeps its host.
	ListenAddress string `yaml:"listen_address" default:"':9743'" check:"listen" env:"port:PE_PORT" flag:"web.listen-address"`
	// WebConfigFile is an exporter-toolkit web configuration file (TLS,
	// client certificates, basic authentication) protecting every HTTP
	// endpoint; empty serves plain HTTP without authentication. A relative
	// path is relative to the working directory.
	WebConfigFile string `yaml:"web_config_file" check:"webconfig" flag:"web.config.file"`
}

// OTLP configures pushing the metrics to an OTLP receiver over gRPC.
type OTLP struct {
	// Enabled turns the periodic push on. OTEL_METRICS_EXPORTER, when set,
	// decides it and Prometheus.Enabled.
	Enabled bool `yaml:"enabled" env:"exporters:OTEL_METRICS_EXPORTER"`
	// Endpoint is "host:port", or a URL "http://host[:port]" (plaintext) or
	// "https://host[:port]" (TLS) whose port defaults to 4317 and whose path
	// is ignored; the host is an IP address (IPv6 in brackets) or a hostname.
	Endpoint string `yaml:"endpoint" default:"localhost:4317" check:"endpoint" env:"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT OTEL_EXPORTER_OTLP_ENDPOINT"`
	// Insecure selects plaintext gRPC instead of TLS for a host:port
	// Endpoint (a URL's scheme decides for itself).
	Insecure bool `yaml:"insecure" env:"OTEL_EXPORTER_OTLP_METRICS_INSECURE OTEL_EXPORTER_OTLP_INSECURE"`
	// CAFile is a PEM bundle of the CA certificates that verify the
	// server's certificate; empty means the system's roots.
	CAFile string `yaml:"ca_file" env:"OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE OTEL_EXPORTER_OTLP_CERTIFICATE"`
	// CertFile is the PEM client certificate for mutual TLS; it needs KeyFile.
	CertFile string `yaml:"cert_file" env:"OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"`
	// KeyFile is the PEM private key of CertFile.
	KeyFile string `yaml:"key_file" env:"OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY OTEL_EXPORTER_OTLP_CLIENT_KEY"`
	// Headers are gRPC metadata sent with every export, such as
	// "authorization". Names are lowercase.
	Headers map[string]string `yaml:"headers" default:"{}" check:"headers" env:"OTEL_EXPORTER_OTLP_METRICS_HEADERS OTEL_EXPORTER_OTLP_HEADERS"`
	// Compression is CompressionGzip or CompressionNone.
	Compression string `yaml:"compression" default:"gzip" check:"oneof=gzip none" env:"lower:OTEL_EXPORTER_OTLP_METRICS_COMPRESSION OTEL_EXPORTER_OTLP_COMPRESSION"`
	// Interval is the time between two exports; more than 0.
	Interval time.Duration `yaml:"interval" default:"15s" check:"positive" env:"OTEL_METRIC_EXPORT_INTERVAL"`
	// Timeout bounds each export; more than 0.
	Timeout time.Duration `yaml:"timeout" default:"10s" check:"positive" env:"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT OTEL_METRIC_EXPORT_TIMEOUT OTEL_EXPORTER_OTLP_TIMEOUT"`
	// ShutdownTimeout bounds the final export, so that a stop with the
	// collector down is prompt; more than 0.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" default:"2s" check:"positive"`
	// Temporality is TemporalityCumulative or TemporalityDelta.
	Temporality string `yaml:"temporality" default:"cumulative" check:"oneof=cumulative delta" env:"temporality:OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"`
}

// The accepted values of OTLP.Temporality and OTLP.Compression.
const (
	// TemporalityCumulative exports counters as totals since the exporter started.
	TemporalityCumulative = "cumulative"
	// TemporalityDelta exports counters as the change since the previous export.
	TemporalityDelta = "delta"
	// CompressionGzip compresses every export with gzip.
	CompressionGzip = "gzip"
	// CompressionNone sends exports uncompressed.
	CompressionNone = "none"
)

// Target resolves Endpoint into the host:port to dial (port 4317 for a URL
// without one, the port in decimal without leading zeros) and whether the
// connection is plaintext: true for http://, false for https://, o.Insecure
// for host:port. An invalid Endpoint is returned unchanged with o.Insecure.
func (o OTLP) Target() (hostPort string, plaintext bool) {
	endpoint, problem := parseOTLPEndpoint(o.Endpoint)
	if problem != "" {
		return o.Endpoint, o.Insecure
	}
	return endpoint.hostPort, endpoint.scheme == "http" || endpoint.scheme == "" && o.Insecure
}

// Resource is the OpenTelemetry resource: the entity producing the metrics.
type Resource struct {
	// Attributes add to and override the attributes the exporter detects,
	// e.g. deployment.environment. OTEL_SERVICE_NAME sets service.name.
	Attributes map[string]string `yaml:"attributes" default:"{}" check:"attributes" env:"OTEL_RESOURCE_ATTRIBUTES;service.name:OTEL_SERVICE_NAME"`
}

// Log configures the agent's own logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level" default:"info" check:"oneof=debug info warn error" env:"PE_LOG_LEVEL" flag:"log.level"`
	// Format is json or console.
	Format string `yaml:"format" default:"json" check:"oneof=json console" flag:"log.format"`
}

// Limits bounds resource usage.
type Limits struct {
	// MaxInterfaces is how many interfaces can be counted at once (it sizes
	// the kernel maps and the metric cardinality limit).
	MaxInterfaces int `yaml:"max_interfaces" default:"4096" check:"range=1..65536"`
}

// Events configures the event stream: per-packet records written by the
// kernel programs into a ring buffer and read by user space.
type Events struct {
	// Enabled turns the stream on.
	Enabled bool `yaml:"enabled"`
	// SampleRate N writes one record per N frames on each CPU.
	SampleRate int `yaml:"sample_rate" default:"1" check:"range=1..1048576"`
	// RingSize is the ring buffer's size in bytes.
	RingSize int `yaml:"ring_size" default:"4194304" check:"pow2=4096..1073741824"`
	// Workers is how many goroutines turn records into metrics.
	Workers int `yaml:"workers" default:"5" check:"range=1..64" env:"PE_WORKERS"`
	// DrainInterval is how often the reader drains the ring (records are
	// written without waking it).
	DrainInterval time.Duration `yaml:"drain_interval" default:"10ms" check:"range=1ms..1s"`
}

// Flows configures the flow metrics fed by the event stream.
type Flows struct {
	// Enabled turns the flow metrics on; it needs events.enabled.
	Enabled bool `yaml:"enabled" check:"needsevents"`
	// Ports adds source.port and destination.port to the flow attributes.
	Ports bool `yaml:"ports" default:"true"`
	// MaxSeries bounds the flows reported; further flows go to one overflow
	// series.
	MaxSeries int `yaml:"max_series" default:"10000" check:"range=1..1000000"`
	// IdleTimeout is how long a flow without traffic is still reported.
	IdleTimeout time.Duration `yaml:"idle_timeout" default:"5m" check:"positive"`
}

// Drops configures the counting of the kernel's packet drops by reason.
type Drops struct {
	// Enabled attaches a program to the kernel's drop tracepoint, which runs
	// only when a packet is dropped.
	Enabled bool `yaml:"enabled" default:"true"`
}

// Tunnels configures the counting of the packets inside tunnels
// (packet_exporter.network.tunnel.packets and .io).
type Tunnels struct {
	// Enabled makes the kernel programs find the tunnels of frames (VXLAN
	// and Geneve by UDP port, GRE and IP-in-IP by IP protocol) and count
	// them by the class of the packet inside.
	Enabled bool `yaml:"enabled" default:"true"`
	// VXLANPorts are the UDP destination ports of VXLAN.
	VXLANPorts []int `yaml:"vxlan_ports" default:"[4789, 8472]" check:"ports"`
	// GenevePorts are the UDP destination ports of Geneve.
	GenevePorts []int `yaml:"geneve_ports" default:"[6081]" check:"ports"`
	// MaxInterfaces is how many interfaces can have tunnel series at once:
	// an interface takes tunnel counters with its first tunnel frame, and
	// keeps them while it is counted.
	MaxInterfaces int `yaml:"max_interfaces" default:"64" check:"range=1..65536"`
}

// Attribution configures what packet_exporter.interface.info tells of the
// workload (container, pod) behind a veth whose peer is in another netns.
type Attribution struct {
	// Enabled looks the workloads up, off the counting path, from the host's
	// processes and the kubelet's and runtimes' files.
	Enabled bool `yaml:"enabled" default:"true"`
	// OnSeries also puts k8s.namespace.name, k8s.pod.name and container.name
	// on the interface's traffic series.
	OnSeries bool `yaml:"on_series"`
	// HostRoot is the absolute path where the host's file system is seen:
	// /proc, /var/log/pods and the runtimes' directories are read under it.
	HostRoot string `yaml:"host_root" default:"/" check:"abs"`
	// DockerDataRoot is docker's data root on the host (dockerd's
	// data-root), whose containers directory holds the records that name
	// docker's containers. Empty: the data-root of the daemon's
	// configuration, etc/docker/daemon.json under HostRoot, or else
	// /var/lib/docker.
	DockerDataRoot string `yaml:"docker_data_root" check:"abs_or_empty"`
	// ContainersStorageRoot is the root of containers/storage on the host
	// (graphroot in storage.conf), where podman and CRI-O keep their
	// containers' records.
	ContainersStorageRoot string `yaml:"containers_storage_root" default:"/var/lib/containers/storage" check:"abs"`
}

// Conventions configures the metrics published under the OpenTelemetry
// semantic conventions' names besides packet-exporter's own.
type Conventions struct {
	// PodMetrics publishes k8s.pod.network.io and k8s.pod.network.errors
	// for the veths attribution finds a Kubernetes pod behind (none
	// without attribution).
	PodMetrics bool `yaml:"pod_metrics" default:"true"`
}

// Persistence keeps the kernel state (the counters and the programs'
// attachments) pinned in a BPF filesystem across the exporter's restarts, so
// that counting never stops and no counter restarts from zero.
type Persistence struct {
	// Enabled pins the state under Path and adopts, at start, the state a
	// previous run of the exporter left there.
	Enabled bool `yaml:"enabled" env:"PE_PERSISTENCE_ENABLED"`
	// Path is a directory on a BPF filesystem (bpffs); the state of each
	// network namespace is kept in a directory of its own under it.
	Path string `yaml:"path" default:"/sys/fs/bpf/packet-exporter" check:"abs" env:"PE_PERSISTENCE_PATH"`
	// HandoverTimeout bounds how long a start waits for the exporter
	// running in the same network namespace to exit.
	HandoverTimeout time.Duration `yaml:"handover_timeout" default:"60s" check:"positive"`
}

// Debug configures debugging aids that are off unless asked for.
type Debug struct {
	// Pprof serves the Go profiler under /debug/pprof/ on the HTTP server.
	Pprof bool `yaml:"pprof"`
}

// setting is one field of Config: a key or a section.
type setting struct {
	key   string // the key path, e.g. otlp.endpoint
	index []int  // for reflect.Value.FieldByIndex
	tag   reflect.StructTag
	// fallback is the default tag, parsed; nil for the zero value.
	fallback *yaml.Node
}

// settings are the fields of Config in declaration order, sections after
// their keys.
var settings = listSettings(reflect.TypeFor[Config](), "", nil)

func listSettings(t reflect.Type, prefix string, index []int) []setting {
	var list []setting
	for i := range t.NumField() {
		field := t.Field(i)
		s := setting{key: fieldPath(prefix, field.Tag.Get("yaml")), index: append(index[:len(index):len(index)], i), tag: field.Tag}
		if field.Type.Kind() == reflect.Struct {
			list = append(list, listSettings(field.Type, s.key, s.index)...)
		}
		for rule := range strings.SplitSeq(field.Tag.Get("check"), ",") {
			if name, _, _ := strings.Cut(rule, "="); rule != "" && rules[name] == nil {
				panic("config: the check tag of " + s.key + " names no rule: " + rule)
			}
		}
		if text, ok := field.Tag.Lookup("default"); ok {
			var document yaml.Node
			if yaml.Unmarshal([]byte(text), &document) != nil || len(document.Content) != 1 {
				panic("config: the default tag of " + s.key + " is not YAML")
			}
			s.fallback = document.Content[0]
		}
		list = append(list, s)
	}
	return list
}

// rule returns the argument of the check rule name of s, if it has it.
func (s setting) rule(name string) (string, bool) {
	for rule := range strings.SplitSeq(s.tag.Get("check"), ",") {
		if found, arg, _ := strings.Cut(rule, "="); found == name {
			return arg, true
		}
	}
	return "", false
}

// Default returns the built-in defaults: the default tags of the fields.
// Every call returns fresh slices and maps; the maps are empty, not nil.
func Default() Config {
	var c Config
	dec := &decoder{file: "default tag", positions: map[string]position{}, failed: map[string]bool{}}
	for _, s := range settings {
		if s.fallback != nil {
			dec.decode(s.fallback, s.key, reflect.ValueOf(&c).Elem().FieldByIndex(s.index))
		}
	}
	if len(dec.errs) > 0 {
		panic("config: a default tag does not decode:\n" + dec.errs.Error())
	}
	c.Metrics = make(map[string]MetricSwitch, len(metricdef.All))
	for _, d := range metricdef.All {
		c.Metrics[d.Name] = MetricSwitch{Enabled: d.Enabled}
	}
	return c
}

// Match reports whether name matches at least one include pattern and no
// exclude pattern. Malformed patterns match nothing; Validate reports them.
func (i Interfaces) Match(name string) bool {
	matches := func(pattern string) bool {
		matched, err := path.Match(pattern, name)
		return err == nil && matched
	}
	return slices.ContainsFunc(i.Include, matches) && !slices.ContainsFunc(i.Exclude, matches)
}

// Load reads the configuration file at path and parses it with [Parse].
// A read error is wrapped as "read config: %w". A file that is empty or holds
// only white space is an error (see the package documentation).
func Load(path string) (Config, error) {
	data, err := readAtMost(path, maxFileSize+1)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	if strings.Trim(string(data), " \t\n\r") == "" {
		return Config{}, Errors{{File: path, Msg: `the file is empty; write "{}" to run on the defaults, or leave out --config`}}
	}
	return Parse(path, data)
}

// readAtMost reads up to limit bytes of the file, so that an oversized file
// (or /dev/zero) is not read whole.
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
