package deploy

import (
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	"github.com/packet-exporter/packet-exporter/config"
)

// loadCompose loads docker-compose.yaml with the compose-spec loader (the one
// `docker compose` uses): schema validation, interpolation with an empty
// environment (so defaults apply), paths resolved against the repository.
func loadCompose(t testing.TB) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{repoPath("docker-compose.yaml")},
		cli.WithWorkingDirectory(repoRoot),
		cli.WithEnv([]string{}),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yaml: %v", err)
	}
	return p
}

// mountSource returns the host path mounted at the container path target of
// svc (target itself or a directory above it), with the mount.
func mountSource(svc types.ServiceConfig, target string) (string, *types.ServiceVolumeConfig) {
	for i, v := range svc.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if target == v.Target {
			return v.Source, &svc.Volumes[i]
		}
		if rel, ok := strings.CutPrefix(target, strings.TrimSuffix(v.Target, "/")+"/"); ok {
			return filepath.Join(v.Source, filepath.FromSlash(rel)), &svc.Volumes[i]
		}
	}
	return "", nil
}

// flagValue returns the value of --name=value or --name value in args.
func flagValue(args []string, name string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// promConfig is the part of a Prometheus configuration the tests read.
type promConfig struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		ScrapeTimeout      string `yaml:"scrape_timeout"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	} `yaml:"global"`
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName        string `yaml:"job_name"`
		ScrapeInterval string `yaml:"scrape_interval"`
		ScrapeTimeout  string `yaml:"scrape_timeout"`
		StaticConfigs  []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

func readPromConfig(t testing.TB) promConfig {
	t.Helper()
	var c promConfig
	if err := yaml.Unmarshal(readRepoFile(t, "deploy", "prometheus", "prometheus.yml"), &c); err != nil {
		t.Fatalf("deploy/prometheus/prometheus.yml: %v", err)
	}
	return c
}

// jobTargets returns the static targets of a scrape job.
func (c promConfig) jobTargets(job string) []string {
	var res []string
	for _, sc := range c.ScrapeConfigs {
		if sc.JobName == job {
			for _, s := range sc.StaticConfigs {
				res = append(res, s.Targets...)
			}
		}
	}
	return res
}

// exporterYAML is the part of packet-exporter's configuration the tests read.
type exporterYAML struct {
	Prometheus struct {
		ListenAddress string `yaml:"listen_address"`
	} `yaml:"prometheus"`
	OTLP struct {
		Enabled  bool   `yaml:"enabled"`
		Endpoint string `yaml:"endpoint"`
	} `yaml:"otlp"`
	Attribution struct {
		HostRoot string `yaml:"host_root"`
	} `yaml:"attribution"`
}

// checkExporterConfig runs the exporter's --check-config on a configuration
// file, with extra environment variables.
func checkExporterConfig(t testing.TB, file string, env ...string) {
	t.Helper()
	cmd := exec.Command(exporterBinary(t), "--check-config", "--config", file)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("packet-exporter --check-config --config %s (env %q): %v\n%s", file, env, err, out)
	}
}

func TestComposeFile(t *testing.T) {
	p := loadCompose(t)
	want := []string{"grafana", "otel-collector", "packet-exporter", "prometheus"}
	if got := p.ServiceNames(); !sameSet(got, want) {
		t.Fatalf("services %q, want %q", got, want)
	}

	// Every file or directory the stack mounts or builds from exists, in the
	// repository; the host paths attribution reads are mounted read-only
	// under /host, into packet-exporter only.
	attributionPaths := map[string]bool{"/proc": true, "/var/lib/docker/containers": true}
	for _, name := range p.ServiceNames() {
		svc := p.Services[name]
		for _, v := range svc.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if name == "packet-exporter" && attributionPaths[v.Source] {
				if !v.ReadOnly || v.Target != "/host"+v.Source {
					t.Errorf("%s mounted at %s (read-only %v), want read-only at /host%s", v.Source, v.Target, v.ReadOnly, v.Source)
				}
				continue
			}
			if name == "packet-exporter" && v.Source == bpffsPath {
				// Persistence: the host's BPF filesystem, read-write where it is
				// on the host (the default persistence.path is under it).
				if v.ReadOnly || v.Target != bpffsPath {
					t.Errorf("%s mounted at %s (read-only %v), want read-write at %s", v.Source, v.Target, v.ReadOnly, bpffsPath)
				}
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("service %s mounts %s, which does not exist: %v", name, v.Source, err)
			}
			if rel, err := filepath.Rel(repoRoot, v.Source); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("service %s mounts %s, outside the repository", name, v.Source)
			}
			if !v.ReadOnly {
				t.Errorf("service %s mounts %s read-write", name, v.Source)
			}
		}
		if svc.Build != nil {
			df := svc.Build.Dockerfile
			if df == "" {
				df = "Dockerfile"
			}
			if !fileExists(filepath.Join(svc.Build.Context, df)) {
				t.Errorf("service %s builds from %s/%s, which does not exist", name, svc.Build.Context, df)
			}
		} else if tag := svc.Image[strings.LastIndex(svc.Image, ":")+1:]; !strings.Contains(svc.Image, ":") || tag == "latest" {
			t.Errorf("service %s uses image %q: pin a version", name, svc.Image)
		}
		if svc.Privileged {
			t.Errorf("service %s is privileged", name)
		}
	}

	t.Run("packet-exporter", func(t *testing.T) {
		svc := p.Services["packet-exporter"]
		if svc.Build == nil || svc.Build.Context != repoRoot {
			t.Errorf("packet-exporter is not built from the repository's Dockerfile: %+v", svc.Build)
		}
		if svc.NetworkMode != "host" {
			t.Errorf("network_mode %q, want host (it counts the host's interfaces)", svc.NetworkMode)
		}
		if svc.Pid != "host" {
			t.Errorf("pid %q, want host (attribution)", svc.Pid)
		}
		if !slices.Equal(svc.CapDrop, []string{"ALL"}) {
			t.Errorf("cap_drop %q, want [ALL]", svc.CapDrop)
		}
		if !sameSet(svc.CapAdd, requiredCaps) {
			t.Errorf("cap_add %q, want %q", svc.CapAdd, requiredCaps)
		}
		if !svc.ReadOnly {
			t.Errorf("read_only is not set")
		}
		if !slices.Contains(svc.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("security_opt %q lacks no-new-privileges:true", svc.SecurityOpt)
		}
		if len(svc.Command) != 0 || len(svc.Entrypoint) != 0 {
			t.Errorf("command/entrypoint overridden (%q %q): the image's CMD names the mounted configuration", svc.Entrypoint, svc.Command)
		}
		// The configuration is a file mounted where the image's CMD reads it.
		cfgPath := imageConfigPath(t)
		src, m := mountSource(svc, cfgPath)
		if m == nil || m.Target != cfgPath {
			t.Fatalf("no file mounted at %s (the image's --config)", cfgPath)
		}
		if st, err := os.Stat(src); err != nil || !st.Mode().IsRegular() {
			t.Fatalf("%s is mounted at %s but is not a file: %v", src, cfgPath, err)
		}
		checkExporterConfig(t, src)

		var cfg exporterYAML
		if err := yaml.Unmarshal(mustRead(t, src), &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.Attribution.HostRoot != "/host" {
			t.Errorf("attribution.host_root %q, want /host, where the host's files are mounted", cfg.Attribution.HostRoot)
		}
		// Prometheus scrapes the port it listens on.
		_, port, err := net.SplitHostPort(cfg.Prometheus.ListenAddress)
		if err != nil {
			t.Fatalf("listen_address %q: %v", cfg.Prometheus.ListenAddress, err)
		}
		targets := readPromConfig(t).jobTargets("packet-exporter")
		if len(targets) != 1 {
			t.Fatalf("prometheus.yml: job packet-exporter has targets %q, want one", targets)
		}
		host, tport, _ := net.SplitHostPort(targets[0])
		if tport != port {
			t.Errorf("Prometheus scrapes port %s, packet-exporter listens on %s", tport, port)
		}
		// From Prometheus's bridge network, the host network is host-gateway.
		if got := p.Services["prometheus"].ExtraHosts[host]; !slices.Contains(got, "host-gateway") {
			t.Errorf("Prometheus scrapes %s, which its extra_hosts maps to %q, not host-gateway", host, got)
		}
		// The OTLP push reaches the collector's published port.
		if !cfg.OTLP.Enabled {
			t.Errorf("otlp is not enabled: the collector would receive nothing")
		}
		ohost, oport, err := net.SplitHostPort(cfg.OTLP.Endpoint)
		if err != nil {
			t.Fatalf("otlp.endpoint %q: %v", cfg.OTLP.Endpoint, err)
		}
		if !publishes(p.Services["otel-collector"], ohost, oport, collectorGRPCPort(t)) {
			t.Errorf("otlp.endpoint %s is not a published port of otel-collector's OTLP/gRPC receiver (%s): %+v",
				cfg.OTLP.Endpoint, collectorGRPCPort(t), p.Services["otel-collector"].Ports)
		}
	})

	t.Run("otel-collector", func(t *testing.T) {
		svc := p.Services["otel-collector"]
		cfg := flagValue(svc.Command, "--config")
		src, _ := mountSource(svc, cfg)
		if src != repoPath("otel-collector.yaml") {
			t.Errorf("the collector reads %q, mounted from %q, want otel-collector.yaml", cfg, src)
		}
		target := readPromConfig(t).jobTargets("otel-collector")
		if len(target) != 1 {
			t.Fatalf("prometheus.yml: job otel-collector has targets %q, want one", target)
		}
		host, port, _ := net.SplitHostPort(target[0])
		if host != "otel-collector" || port != collectorPromPort(t) {
			t.Errorf("Prometheus scrapes the collector at %s, want otel-collector:%s (its prometheus exporter)", target[0], collectorPromPort(t))
		}
	})

	t.Run("prometheus", func(t *testing.T) {
		svc := p.Services["prometheus"]
		cfg := flagValue(svc.Command, "--config.file")
		src, _ := mountSource(svc, cfg)
		if src != repoPath("deploy", "prometheus", "prometheus.yml") {
			t.Fatalf("Prometheus reads %q, mounted from %q, want deploy/prometheus/prometheus.yml", cfg, src)
		}
		for _, rf := range readPromConfig(t).RuleFiles {
			in := rf
			if !path.IsAbs(in) {
				in = path.Join(path.Dir(cfg), rf)
			}
			src, _ := mountSource(svc, in)
			if src != repoPath("deploy", "prometheus", rf) {
				t.Errorf("rule file %s (%s in the container) is mounted from %q, want deploy/prometheus/%s", rf, in, src, rf)
			}
		}
		if !publishes(svc, "127.0.0.1", "9090", "9090") {
			t.Errorf("Prometheus's port 9090 is not published on 127.0.0.1:9090: %+v", svc.Ports)
		}
	})

	t.Run("grafana", func(t *testing.T) {
		svc := p.Services["grafana"]
		src, _ := mountSource(svc, "/etc/grafana/provisioning")
		if src != repoPath("deploy", "grafana", "provisioning") {
			t.Fatalf("/etc/grafana/provisioning is mounted from %q, want deploy/grafana/provisioning", src)
		}
		// The dashboard provider's folder is mounted from deploy/grafana/dashboards.
		prov := readDashboardProvider(t)
		dsrc, _ := mountSource(svc, prov)
		if dsrc != repoPath("deploy", "grafana", "dashboards") {
			t.Errorf("the dashboard provider reads %s, mounted from %q, want deploy/grafana/dashboards", prov, dsrc)
		}
		home := svc.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
		if home == nil {
			t.Errorf("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH not set")
		} else if hsrc, _ := mountSource(svc, *home); hsrc != repoPath("deploy", "grafana", "dashboards", "packet-exporter.json") {
			t.Errorf("home dashboard %s is %q on the host, want deploy/grafana/dashboards/packet-exporter.json", *home, hsrc)
		}
		// The data source is the stack's Prometheus, by service name and port.
		ds := readDatasource(t)
		u, err := url.Parse(ds.URL)
		if err != nil {
			t.Fatal(err)
		}
		if u.Hostname() != "prometheus" || u.Port() != "9090" {
			t.Errorf("data source URL %s, want the prometheus service on 9090", ds.URL)
		}
		if !slices.Contains(svc.GetDependencies(), "prometheus") {
			t.Errorf("grafana does not depend on prometheus")
		}
	})
}

// publishes reports whether svc publishes container port target on
// hostIP:hostPort.
func publishes(svc types.ServiceConfig, hostIP, hostPort, target string) bool {
	for _, pc := range svc.Ports {
		if pc.HostIP == hostIP && pc.Published == hostPort && target == strconv.FormatUint(uint64(pc.Target), 10) {
			return true
		}
	}
	return false
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// imageConfigPath is the configuration file the image's CMD names
// (CMD ["--config", FILE]).
func imageConfigPath(t testing.TB) string {
	t.Helper()
	img, err := parseDockerfile(t).Image(testBuildArgs)
	if err != nil {
		t.Fatal(err)
	}
	if v := flagValue(img.Cmd, "--config"); v != "" {
		return v
	}
	t.Fatalf("Dockerfile: the image's CMD does not name a --config file")
	return ""
}

// collectorConfig is the part of an OpenTelemetry Collector configuration the
// tests read.
type collectorConfig struct {
	Receivers  map[string]any `yaml:"receivers"`
	Processors map[string]any `yaml:"processors"`
	Exporters  map[string]any `yaml:"exporters"`
	Extensions map[string]any `yaml:"extensions"`
	Service    struct {
		Extensions []string `yaml:"extensions"`
		Pipelines  map[string]struct {
			Receivers  []string `yaml:"receivers"`
			Processors []string `yaml:"processors"`
			Exporters  []string `yaml:"exporters"`
		} `yaml:"pipelines"`
	} `yaml:"service"`
}

func readCollectorConfig(t testing.TB, b []byte) collectorConfig {
	t.Helper()
	var c collectorConfig
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("collector configuration: %v", err)
	}
	// Every component a pipeline names is configured.
	for name, pl := range c.Service.Pipelines {
		for kind, list := range map[string][]string{"receivers": pl.Receivers, "processors": pl.Processors, "exporters": pl.Exporters} {
			defined := map[string]map[string]any{"receivers": c.Receivers, "processors": c.Processors, "exporters": c.Exporters}[kind]
			for _, id := range list {
				if _, ok := defined[id]; !ok {
					t.Errorf("pipeline %s uses %s %q, which is not configured", name, kind, id)
				}
			}
		}
	}
	for _, id := range c.Service.Extensions {
		if _, ok := c.Extensions[id]; !ok {
			t.Errorf("service uses extension %q, which is not configured", id)
		}
	}
	return c
}

// endpointPort returns the port of a component's endpoint setting found at
// path (keys) in m.
func endpointPort(t testing.TB, m map[string]any, keys ...string) string {
	t.Helper()
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("collector configuration: no %s", strings.Join(keys, "."))
		}
		cur = mm[k]
	}
	s, _ := cur.(string)
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		t.Fatalf("collector configuration: %s = %v: %v", strings.Join(keys, "."), cur, err)
	}
	return port
}

func collectorGRPCPort(t testing.TB) string {
	c := readCollectorConfig(t, readRepoFile(t, "otel-collector.yaml"))
	return endpointPort(t, c.Receivers, "otlp", "protocols", "grpc", "endpoint")
}

func collectorPromPort(t testing.TB) string {
	c := readCollectorConfig(t, readRepoFile(t, "otel-collector.yaml"))
	return endpointPort(t, c.Exporters, "prometheus", "endpoint")
}

// TestComposeCollectorConfig checks otel-collector.yaml, which the stack's
// collector runs: OTLP/gRPC in, batch, the Prometheus exporter Prometheus
// scrapes, every component a pipeline names configured.
func TestComposeCollectorConfig(t *testing.T) {
	c := readCollectorConfig(t, readRepoFile(t, "otel-collector.yaml"))
	pl, ok := c.Service.Pipelines["metrics"]
	if !ok {
		t.Fatalf("no metrics pipeline")
	}
	if !slices.Contains(pl.Receivers, "otlp") || !slices.Contains(pl.Exporters, "prometheus") {
		t.Errorf("metrics pipeline %+v: want otlp in, prometheus out", pl)
	}
}

// TestComposePersistence: the compose stack's exporter keeps its state across
// container restarts, in the host's BPF filesystem that the stack mounts.
func TestComposePersistence(t *testing.T) {
	cfg, err := config.Parse("deploy/compose/packet-exporter.yaml", readRepoFile(t, "deploy", "compose", "packet-exporter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Persistence.Enabled || !strings.HasPrefix(cfg.Persistence.Path, bpffsPath+"/") {
		t.Errorf("persistence %+v: want it on, under %s", cfg.Persistence, bpffsPath)
	}
	mounted := slices.ContainsFunc(loadCompose(t).Services["packet-exporter"].Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Source == bpffsPath && v.Target == bpffsPath && !v.ReadOnly
	})
	if !mounted {
		t.Errorf("packet-exporter does not mount the host's %s read-write", bpffsPath)
	}
}
