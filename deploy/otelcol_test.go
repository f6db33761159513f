package deploy

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/testing/otelcolbuild"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// scraperKeys are the packetexporter receiver's own keys; its other keys are
// the agent's counting keys.
var scraperKeys = []string{"collection_interval", "initial_delay", "timeout"}

// checkReceiverConfig checks the packetexporter receiver of a collector
// configuration: a pipeline takes its metrics to an exporter, and its
// counting keys are a configuration the agent accepts (--check-config: the
// receiver decodes them with the agent's decoder). It returns the receiver's
// settings.
func checkReceiverConfig(t *testing.T, name string, text []byte) (collectorConfig, map[string]any) {
	t.Helper()
	col := readCollectorConfig(t, text)
	recv, ok := col.Receivers["packetexporter"].(map[string]any)
	if !ok {
		t.Fatalf("%s: no packetexporter receiver settings", name)
	}
	fed := false
	for _, pl := range col.Service.Pipelines {
		fed = fed || (slices.Contains(pl.Receivers, "packetexporter") && len(pl.Exporters) > 0)
	}
	if !fed {
		t.Errorf("%s: no pipeline takes the packetexporter receiver's metrics to an exporter", name)
	}
	counting := map[string]any{}
	for k, v := range recv {
		if !slices.Contains(scraperKeys, k) {
			counting[k] = v
		}
	}
	b, err := yaml.Marshal(counting)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "counting.yaml")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	checkExporterConfig(t, file)
	return col, recv
}

// TestOtelcolConfig: the collector configuration shipped beside the builder
// manifest is consistent (the e2e tests run it in the collector built from
// the manifest).
// receiverCounting decodes the agent keys of a packetexporter receiver's
// settings with the agent's config package.
func receiverCounting(t *testing.T, recv map[string]any) config.Config {
	t.Helper()
	keys := maps.Clone(recv)
	for _, scraper := range scraperKeys {
		delete(keys, scraper)
	}
	text, err := yaml.Marshal(keys)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("the receiver's settings", text)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestOtelcolConfig(t *testing.T) {
	_, recv := checkReceiverConfig(t, "otelcol/config.yaml", readRepoFile(t, "deploy", "otelcol", "config.yaml"))
	if _, ok := recv["collection_interval"]; !ok {
		t.Errorf("otelcol/config.yaml does not show collection_interval")
	}
}

// TestOtelcolDaemonSet checks the collector-as-agent example: what every
// counting DaemonSet must be (checkCounterDaemonSet, the attribution mounts),
// its ConfigMap's configuration equal to the shipped config.yaml but for the
// node's files under /host, the Prometheus exporter's port the container's
// metrics port, which the scrape annotations and the probes name.
func TestOtelcolDaemonSet(t *testing.T) {
	objs := decodeManifests(t, "otelcol/daemonset.yaml")
	ds := find[*appsv1.DaemonSet](t, objs, "otelcol-packet-exporter")
	pod, c := checkCounterDaemonSet(t, ds)
	text := mountedConfig(t, objs, pod, c, flagValue(c.Args, "--config"))

	col, recv := checkReceiverConfig(t, "the DaemonSet's ConfigMap", []byte(text))
	attribution, _ := recv["attribution"].(map[string]any)
	hostRoot, _ := attribution["host_root"].(string)
	checkAttributionMounts(t, pod, c, hostRoot)
	checkPersistence(t, pod, c, receiverCounting(t, recv).Persistence)

	// The ConfigMap holds config.yaml, with host_root where the node's files
	// are mounted.
	var got, want map[string]any
	if err := yaml.Unmarshal([]byte(text), &got); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(readRepoFile(t, "deploy", "otelcol", "config.yaml"), &want); err != nil {
		t.Fatal(err)
	}
	if r, ok := want["receivers"].(map[string]any)["packetexporter"].(map[string]any); ok {
		if a, ok := r["attribution"].(map[string]any); ok {
			a["host_root"] = hostRoot
		}
		// The shipped file runs anywhere; the DaemonSet keeps its state in
		// the node's BPF filesystem.
		r["persistence"] = recv["persistence"]
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the ConfigMap's configuration is not otelcol/config.yaml with attribution.host_root: %s:\n%v\nwant:\n%v", hostRoot, got, want)
	}

	// The Prometheus exporter listens on the metrics port.
	if len(c.Ports) != 1 || c.Ports[0].Name != "metrics" {
		t.Fatalf("ports %+v, want one named metrics", c.Ports)
	}
	port := c.Ports[0].ContainerPort
	if p := endpointPort(t, col.Exporters, "prometheus", "endpoint"); p != strconv.Itoa(int(port)) {
		t.Errorf("the Prometheus exporter listens on %s, the container port is %d", p, port)
	}
	ann := ds.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(int(port)) || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("scrape annotations %v, want scrape=true port=%d path=/metrics", ann, port)
	}
	// Probes reach it: an HTTP GET of /metrics or a TCP connection.
	for name, pr := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
		var target intstr.IntOrString
		switch {
		case pr == nil:
			t.Errorf("no %s probe", name)
			continue
		case pr.HTTPGet != nil:
			if pr.HTTPGet.Path != "/metrics" {
				t.Errorf("%s probe GET %s, want /metrics", name, pr.HTTPGet.Path)
			}
			target = pr.HTTPGet.Port
		case pr.TCPSocket != nil:
			target = pr.TCPSocket.Port
		default:
			t.Errorf("%s probe is neither HTTP nor TCP", name)
			continue
		}
		if containerPort(t, c, target) != port {
			t.Errorf("%s probe on port %s, want the metrics port %d", name, target.String(), port)
		}
	}

	if pod.ServiceAccountName != "" {
		find[*corev1.ServiceAccount](t, objs, pod.ServiceAccountName)
	}
	find[*corev1.Namespace](t, objs, "packet-exporter")
}

// TestOtelcolManifest: the builder manifest decodes strictly (an unknown key
// fails: extend otelcolbuild.Manifest) and, built from the repository root as
// the README runs ocb, builds the packetexporter receiver from this checkout:
// its replaces, resolved from dist.output_path, point at the directories of
// the receiver's module and the product's. The collector every test builds
// is this manifest's (internal/testing/otelcolbuild); make test-e2e builds and runs
// it.
func TestOtelcolManifest(t *testing.T) {
	shipped := readRepoFile(t, filepath.FromSlash(otelcolbuild.ShippedManifest))
	orig, err := otelcolbuild.ParseManifest(shipped)
	if err != nil {
		t.Fatal(err)
	}
	d, err := otelcolbuild.Derive(shipped, repoRoot, otelcolbuild.Variant{})
	if err != nil {
		t.Fatal(err)
	}
	m := d.Manifest
	if !slices.Equal(m.Receivers, orig.Receivers) || !slices.Equal(m.Processors, orig.Processors) ||
		!slices.Equal(m.Exporters, orig.Exporters) || !slices.Equal(m.Providers, orig.Providers) {
		t.Errorf("components differ from the manifest's:\n%+v\nshipped:\n%+v", m, orig)
	}
	if m.Dist.Module != orig.Dist.Module || m.Dist.Name != orig.Dist.Name {
		t.Errorf("dist %+v, shipped %+v", m.Dist, orig.Dist)
	}
	want := map[string]string{
		testexporter.ModulePath:     repoRoot,
		otelcolbuild.ReceiverModule: repoPath("otelcol", "packetexporterreceiver"),
	}
	if !maps.Equal(m.ReplaceDirs(), want) {
		t.Errorf("replaces %q, want %v", m.Replaces, want)
	}
}

// TestOtelcolBuilderVersion: the ocb version the README and the shipped
// manifest tell users to install is the one the tests build collectors with
// (pinned by otelcol/go.mod).
func TestOtelcolBuilderVersion(t *testing.T) {
	pinned, err := otelcolbuild.BuilderVersion(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	want := "go install " + otelcolbuild.BuilderModule + "@" + pinned
	for _, f := range []string{"README.md", otelcolbuild.ShippedManifest} {
		if b := readRepoFile(t, filepath.FromSlash(f)); !strings.Contains(string(b), want) {
			t.Errorf("%s does not say %q", f, want)
		}
	}
}
