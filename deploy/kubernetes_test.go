package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/packet-exporter/packet-exporter/config"
)

// k8sObjects are the decoded objects of one or more manifest files.
type k8sObjects struct {
	all []runtime.Object
}

// decodeManifests decodes every document of the files (paths relative to
// deploy/) strictly into the Kubernetes API types (k8s.io/api, and the Prometheus Operator's for the
// ServiceMonitor): an unknown or duplicated field, or an unknown kind, fails.
func decodeManifests(t testing.TB, files ...string) k8sObjects {
	t.Helper()
	var objs k8sObjects
	for _, f := range files {
		objs.all = append(objs.all, decodeManifestData(t, f, readRepoFile(t, "deploy", filepath.FromSlash(f))).all...)
	}
	return objs
}

// decodeManifestData decodes the documents of data, the manifest called
// name, as decodeManifests does.
func decodeManifestData(t testing.TB, f string, data []byte) k8sObjects {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, monitoringv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	ser := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme,
		json.SerializerOptions{Yaml: true, Strict: true})
	var objs k8sObjects
	{
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for i := 0; ; i++ {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: document %d: %v", f, i, err)
			}
			if len(bytes.TrimSpace(stripComments(doc))) == 0 {
				continue
			}
			obj, gvk, err := ser.Decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("%s: document %d: %v", f, i, err)
			}
			if gvk.Kind != "Namespace" {
				if m, ok := obj.(interface{ GetNamespace() string }); !ok || m.GetNamespace() != "packet-exporter" {
					t.Errorf("%s: %s is not in namespace packet-exporter", f, gvk.Kind)
				}
			}
			objs.all = append(objs.all, obj)
		}
	}
	return objs
}

// stripComments drops the comment lines of a YAML document.
func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out.Write(line)
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

func find[T runtime.Object](t testing.TB, objs k8sObjects, name string) T {
	t.Helper()
	for _, o := range objs.all {
		if v, ok := o.(T); ok {
			if m, ok := o.(interface{ GetName() string }); ok && m.GetName() == name {
				return v
			}
		}
	}
	var zero T
	t.Fatalf("no %T named %q", zero, name)
	return zero
}

// containerPort resolves a probe's or Service's port (number or name).
func containerPort(t testing.TB, c corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	t.Fatalf("container %s has no port named %q", c.Name, p.StrVal)
	return 0
}

// expandK8sEnv expands $(VAR) references as the kubelet does, from env.
func expandK8sEnv(s string, env map[string]string) string {
	return regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := env[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

func TestKubernetesDaemonSet(t *testing.T) {
	objs := decodeManifests(t, "kubernetes/packet-exporter.yaml")
	checkAgentObjects(t, objs)
	find[*corev1.Namespace](t, objs, "packet-exporter")
}

// checkAgentObjects checks the agent's objects (the chart's, as rendered):
// the DaemonSet (checkCounterDaemonSet), its port, probes, configuration
// (which the agent accepts), mounts and environment, and the Service and
// ServiceAccount it uses. It returns the DaemonSet's container.
func checkAgentObjects(t *testing.T, objs k8sObjects) corev1.Container {
	t.Helper()
	ds := find[*appsv1.DaemonSet](t, objs, "packet-exporter")
	pod, c := checkCounterDaemonSet(t, ds)

	// The metrics port.
	if len(c.Ports) != 1 || c.Ports[0].Name != "metrics" {
		t.Fatalf("ports %+v, want one named metrics", c.Ports)
	}
	port := c.Ports[0].ContainerPort

	// Probes: liveness /healthz, readiness /readyz, on the metrics port.
	for _, pr := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}, {"startup", c.StartupProbe, "/healthz"}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", pr.name)
			continue
		}
		if pr.probe.HTTPGet.Path != pr.path || containerPort(t, c, pr.probe.HTTPGet.Port) != port {
			t.Errorf("%s probe GET %s on port %v, want %s on %d", pr.name, pr.probe.HTTPGet.Path, pr.probe.HTTPGet.Port.String(), pr.path, port)
		}
	}

	// The configuration: a ConfigMap key mounted as the file --config names.
	cfgPath := flagValue(c.Args, "--config")
	text := mountedConfig(t, objs, pod, c, cfgPath)
	cfgFile := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// The container's environment, as the kubelet sets it.
	env := map[string]string{"K8S_NODE_NAME": "node-1", "K8S_POD_NAME": "packet-exporter-x1"}
	var envList []string
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			continue
		}
		v := expandK8sEnv(e.Value, env)
		env[e.Name] = v
		envList = append(envList, e.Name+"="+v)
	}
	checkExporterConfig(t, cfgFile, envList...)
	var cfg exporterYAML
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		t.Fatal(err)
	}
	if _, p, _ := net.SplitHostPort(cfg.Prometheus.ListenAddress); p != strconv.Itoa(int(port)) {
		t.Errorf("the exporter listens on %q, the container port is %d", cfg.Prometheus.ListenAddress, port)
	}
	checkAttributionMounts(t, pod, c, cfg.Attribution.HostRoot)
	parsed, err := config.Parse("the ConfigMap's config.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	checkPersistence(t, pod, c, parsed.Persistence)
	if !strings.Contains(env["OTEL_RESOURCE_ATTRIBUTES"], "k8s.node.name=node-1") {
		t.Errorf("OTEL_RESOURCE_ATTRIBUTES %q does not carry the node name", env["OTEL_RESOURCE_ATTRIBUTES"])
	}

	// Scrape annotations name the metrics port.
	ann := ds.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(int(port)) || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("scrape annotations %v, want scrape=true port=%d path=/metrics", ann, port)
	}

	// The Service selects the pods and targets the metrics port.
	svc := find[*corev1.Service](t, objs, "packet-exporter")
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(ds.Spec.Template.Labels)) {
		t.Errorf("Service selector %v does not select the pods %v", svc.Spec.Selector, ds.Spec.Template.Labels)
	}
	if len(svc.Spec.Ports) != 1 || containerPort(t, c, svc.Spec.Ports[0].TargetPort) != port || svc.Spec.Ports[0].Name != "metrics" {
		t.Errorf("Service ports %+v, want metrics -> %d", svc.Spec.Ports, port)
	}
	if pod.ServiceAccountName != "" {
		find[*corev1.ServiceAccount](t, objs, pod.ServiceAccountName)
	}
	return c
}

// checkCounterDaemonSet checks what every DaemonSet that counts the nodes'
// traffic (packet-exporter's, the collector's) must be, and returns its pod
// and its container: the host network, the host PID namespace for
// attribution and nothing else of the host's, no API token, one instance per
// node at all times, one container holding exactly the three capabilities
// (uid 0, everything else dropped, not privileged, no privilege escalation,
// read-only root), the RuntimeDefault seccomp profile, CPU and memory
// requests and limits.
func checkCounterDaemonSet(t *testing.T, ds *appsv1.DaemonSet) (corev1.PodSpec, corev1.Container) {
	t.Helper()
	pod := ds.Spec.Template.Spec

	// Host network, host PID for attribution only, no host IPC, no API token.
	if !pod.HostNetwork || !pod.HostPID || pod.HostIPC {
		t.Errorf("hostNetwork %v hostPID %v hostIPC %v: want host network and PID namespace (attribution) only", pod.HostNetwork, pod.HostPID, pod.HostIPC)
	}
	if pod.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		t.Errorf("dnsPolicy %q, want ClusterFirstWithHostNet (cluster names from the host network)", pod.DNSPolicy)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("the service account token is mounted; nothing in the pod uses the API")
	}
	sel, err := metav1LabelSelector(ds)
	if err != nil || !sel.Matches(labels.Set(ds.Spec.Template.Labels)) {
		t.Errorf("the selector does not match the pod template's labels: %v", err)
	}
	// One instance per network namespace, handed over: the new pod starts
	// beside the old one, which hands its state over (persistence).
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru == nil || ru.MaxSurge == nil || ru.MaxSurge.IntValue() != 1 ||
		ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rollingUpdate %+v, want maxSurge 1 and maxUnavailable 0: the new pod takes the state over from the old one, with no gap", ru)
	}
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("want one container, got %d (and %d init containers)", len(pod.Containers), len(pod.InitContainers))
	}
	c := pod.Containers[0]

	// Capabilities: exactly the three, everything else dropped, not privileged.
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Fatalf("no securityContext.capabilities")
	}
	var added []string
	for _, cp := range sc.Capabilities.Add {
		added = append(added, string(cp))
	}
	if !sameSet(added, requiredCaps) {
		t.Errorf("capabilities.add %q, want %q", added, requiredCaps)
	}
	if !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("capabilities.drop %q, want [ALL]", sc.Capabilities.Drop)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("privileged")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("allowPrivilegeEscalation is not false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("readOnlyRootFilesystem is not true")
	}
	if sc.RunAsUser == nil || *sc.RunAsUser != 0 {
		t.Errorf("runAsUser is not 0: Kubernetes makes added capabilities effective for uid 0 only")
	}
	if psc := pod.SecurityContext; psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("the pod does not use the RuntimeDefault seccomp profile")
	}

	// Requests and limits for CPU and memory.
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okr := c.Resources.Requests[res]
		lim, okl := c.Resources.Limits[res]
		if !okr || !okl || req.IsZero() || req.Cmp(lim) > 0 {
			t.Errorf("%s: request %v limit %v; want both, request <= limit", res, req.String(), lim.String())
		}
	}
	return pod, c
}

// mountedConfig returns the content of the configuration file cfgPath (what
// --config names) of container c: a key of a ConfigMap of objs, mounted
// read-only as that file or in its directory.
func mountedConfig(t *testing.T, objs k8sObjects, pod corev1.PodSpec, c corev1.Container, cfgPath string) string {
	t.Helper()
	if cfgPath == "" {
		t.Fatalf("args %q name no --config file", c.Args)
	}
	var vol *corev1.Volume
	for _, vm := range c.VolumeMounts {
		if vm.MountPath == filepath.Dir(cfgPath) || vm.MountPath == cfgPath {
			if !vm.ReadOnly {
				t.Errorf("the configuration is mounted read-write")
			}
			for i := range pod.Volumes {
				if pod.Volumes[i].Name == vm.Name {
					vol = &pod.Volumes[i]
				}
			}
		}
	}
	if vol == nil || vol.ConfigMap == nil {
		t.Fatalf("no ConfigMap volume mounted for %s", cfgPath)
	}
	cm := find[*corev1.ConfigMap](t, objs, vol.ConfigMap.Name)
	text, ok := cm.Data[filepath.Base(cfgPath)]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s", cm.Name, filepath.Base(cfgPath))
	}
	return text
}

// checkAttributionMounts checks that the host paths attribution reads are
// mounted read-only, each under hostRoot at its own path, and nothing else of
// the host.
func checkAttributionMounts(t *testing.T, pod corev1.PodSpec, c corev1.Container, hostRoot string) {
	t.Helper()
	if hostRoot == "" || hostRoot == "/" {
		t.Fatalf("attribution.host_root %q: the host's files must be mounted apart from the container's", hostRoot)
	}
	want := map[string]bool{"/proc": true, "/var/log/pods": true, "/var/log/containers": true}
	for _, v := range pod.Volumes {
		if v.HostPath == nil || v.HostPath.Path == bpffsPath {
			continue // checkPersistence's
		}
		if !want[v.HostPath.Path] {
			t.Errorf("host path %s mounted; attribution reads only %v", v.HostPath.Path, slices.Sorted(maps.Keys(want)))
			continue
		}
		delete(want, v.HostPath.Path)
		if v.HostPath.Type == nil || *v.HostPath.Type != corev1.HostPathDirectory {
			t.Errorf("host path %s: type %v, want Directory (never created on the node)", v.HostPath.Path, v.HostPath.Type)
		}
		i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == v.Name })
		if i < 0 {
			t.Errorf("host path %s not mounted", v.HostPath.Path)
			continue
		}
		if m := c.VolumeMounts[i]; !m.ReadOnly || m.MountPath != filepath.Join(hostRoot, v.HostPath.Path) {
			t.Errorf("host path %s mounted at %s (read-only %v), want read-only at %s", v.HostPath.Path, m.MountPath, m.ReadOnly,
				filepath.Join(hostRoot, v.HostPath.Path))
		}
	}
	if len(want) > 0 {
		t.Errorf("host paths %v not mounted", slices.Sorted(maps.Keys(want)))
	}
}

// bpffsPath is where nodes mount their BPF filesystem.
const bpffsPath = "/sys/fs/bpf"

// checkPersistence checks that a counting DaemonSet keeps its state across
// pod restarts: persistence is on (per the configuration text, decoded by the
// agent's own config package, under key), and persistence.path is inside the
// node's BPF filesystem, mounted read-write and as the host sees it.
func checkPersistence(t *testing.T, pod corev1.PodSpec, c corev1.Container, persistence config.Persistence) {
	t.Helper()
	if !persistence.Enabled {
		t.Errorf("persistence.enabled is off: every restart and update loses counts and resets the series")
	}
	i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.HostPath != nil && v.HostPath.Path == bpffsPath })
	if i < 0 {
		t.Fatalf("the node's %s is not mounted", bpffsPath)
	}
	v := pod.Volumes[i]
	if v.HostPath.Type == nil || *v.HostPath.Type != corev1.HostPathDirectory {
		t.Errorf("host path %s: type %v, want Directory", bpffsPath, v.HostPath.Type)
	}
	m := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == v.Name })
	if m < 0 {
		t.Fatalf("volume %s (%s) not mounted", v.Name, bpffsPath)
	}
	vm := c.VolumeMounts[m]
	if vm.ReadOnly || vm.MountPropagation == nil || *vm.MountPropagation != corev1.MountPropagationHostToContainer {
		t.Errorf("%s mounted read-only %v, propagation %v; want read-write, HostToContainer", bpffsPath, vm.ReadOnly, vm.MountPropagation)
	}
	if rel, err := filepath.Rel(vm.MountPath, persistence.Path); err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		t.Errorf("persistence.path %s is not a directory inside the BPF filesystem mounted at %s", persistence.Path, vm.MountPath)
	}
}

func metav1LabelSelector(ds *appsv1.DaemonSet) (labels.Selector, error) {
	if ds.Spec.Selector == nil {
		return nil, errors.New("no selector")
	}
	return labels.SelectorFromValidatedSet(ds.Spec.Selector.MatchLabels), nil
}

func TestKubernetesServiceMonitor(t *testing.T) {
	objs := decodeManifests(t, "kubernetes/packet-exporter.yaml", "kubernetes/servicemonitor.yaml")
	sm := find[*monitoringv1.ServiceMonitor](t, objs, "packet-exporter")
	svc := find[*corev1.Service](t, objs, "packet-exporter")
	if !labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not select the Service (labels %v)", sm.Spec.Selector.MatchLabels, svc.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %+v, want the Service's port %q and /metrics", sm.Spec.Endpoints, svc.Spec.Ports[0].Name)
	}
	// job = the Service's app.kubernetes.io/name label: packet-exporter, the
	// dashboard's default job.
	if svc.Labels[sm.Spec.JobLabel] != "packet-exporter" {
		t.Errorf("job label %q takes value %q from the Service, want packet-exporter (the dashboard's default job)", sm.Spec.JobLabel, svc.Labels[sm.Spec.JobLabel])
	}
}

// TestKubernetesCollectorGateway checks the gateway example: a collector
// whose OTLP/gRPC receiver is behind the Service the agents' environment
// points at, and agents that read that environment (envFrom, optional) and
// accept it (--check-config with the variables set).
func TestKubernetesCollectorGateway(t *testing.T) {
	objs := decodeManifests(t, "kubernetes/packet-exporter.yaml", "kubernetes/collector-gateway.yaml")
	ds := find[*appsv1.DaemonSet](t, objs, "packet-exporter")
	c := ds.Spec.Template.Spec.Containers[0]
	var envCM string
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil {
			envCM = ef.ConfigMapRef.Name
			if ef.ConfigMapRef.Optional == nil || !*ef.ConfigMapRef.Optional {
				t.Errorf("envFrom ConfigMap %s is not optional: the DaemonSet would not start without the gateway", envCM)
			}
		}
	}
	if envCM == "" {
		t.Fatalf("the DaemonSet reads no ConfigMap as environment")
	}
	otlpEnv := find[*corev1.ConfigMap](t, objs, envCM)

	// The agents accept the DaemonSet's configuration with these variables.
	cm := find[*corev1.ConfigMap](t, objs, "packet-exporter-config")
	cfgFile := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgFile, []byte(cm.Data["config.yaml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	var env []string
	for k, v := range otlpEnv.Data {
		if !strings.HasPrefix(k, "OTEL_") {
			t.Errorf("%s: %s is not an OTEL_* variable", envCM, k)
		}
		env = append(env, k+"="+v)
	}
	checkExporterConfig(t, cfgFile, env...)
	if !strings.Contains(otlpEnv.Data["OTEL_METRICS_EXPORTER"], "otlp") {
		t.Errorf("OTEL_METRICS_EXPORTER %q does not turn OTLP on", otlpEnv.Data["OTEL_METRICS_EXPORTER"])
	}

	// The endpoint is the gateway Service's OTLP/gRPC port, which reaches
	// the collector's receiver.
	u, err := url.Parse(otlpEnv.Data["OTEL_EXPORTER_OTLP_ENDPOINT"])
	if err != nil || u.Port() == "" {
		t.Fatalf("OTEL_EXPORTER_OTLP_ENDPOINT %q: want http(s)://host:port (%v)", otlpEnv.Data["OTEL_EXPORTER_OTLP_ENDPOINT"], err)
	}
	svcName, rest, _ := strings.Cut(u.Hostname(), ".")
	svcNS, _, _ := strings.Cut(rest, ".")
	svc := find[*corev1.Service](t, objs, svcName)
	if svcNS != svc.Namespace {
		t.Errorf("the endpoint's host %s is not in the Service's namespace %s", u.Hostname(), svc.Namespace)
	}
	dep := find[*appsv1.Deployment](t, objs, "packet-exporter-gateway")
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("Service %s does not select the collector's pods", svc.Name)
	}
	// Neither the agents' DaemonSet nor their Service select the gateway's
	// pods (nor the gateway's Service the agents').
	agentSvc := find[*corev1.Service](t, objs, "packet-exporter")
	agentSelector, err := metav1LabelSelector(ds)
	if err != nil {
		t.Fatal(err)
	}
	if agentSelector.Matches(labels.Set(dep.Spec.Template.Labels)) || labels.SelectorFromSet(agentSvc.Spec.Selector).Matches(labels.Set(dep.Spec.Template.Labels)) ||
		labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(ds.Spec.Template.Labels)) {
		t.Errorf("the agents' and the gateway's selectors overlap: %v, %v, %v", ds.Spec.Selector, agentSvc.Spec.Selector, svc.Spec.Selector)
	}
	col := dep.Spec.Template.Spec.Containers[0]
	var target int32
	for _, sp := range svc.Spec.Ports {
		if strconv.Itoa(int(sp.Port)) == u.Port() {
			target = containerPort(t, col, sp.TargetPort)
		}
	}
	if target == 0 {
		t.Fatalf("Service %s has no port %s", svc.Name, u.Port())
	}

	// The collector's configuration: from its ConfigMap, mounted where
	// --config reads it; the OTLP receiver listens on that target port.
	cfgPath := flagValue(col.Args, "--config")
	var colCM string
	for _, vm := range col.VolumeMounts {
		if vm.MountPath == filepath.Dir(cfgPath) {
			for _, v := range dep.Spec.Template.Spec.Volumes {
				if v.Name == vm.Name && v.ConfigMap != nil {
					colCM = v.ConfigMap.Name
				}
			}
		}
	}
	if colCM == "" {
		t.Fatalf("no ConfigMap mounted for the collector's --config %s", cfgPath)
	}
	colCfg := readCollectorConfig(t, []byte(find[*corev1.ConfigMap](t, objs, colCM).Data[filepath.Base(cfgPath)]))
	if p := endpointPort(t, colCfg.Receivers, "otlp", "protocols", "grpc", "endpoint"); p != strconv.Itoa(int(target)) {
		t.Errorf("the collector receives OTLP/gRPC on %s, the Service sends to %d", p, target)
	}
	if len(colCfg.Service.Pipelines["metrics"].Exporters) == 0 {
		t.Errorf("the gateway's metrics pipeline exports nowhere")
	}
	// The probes reach the health_check extension.
	hp := endpointPort(t, colCfg.Extensions, "health_check", "endpoint")
	for name, pr := range map[string]*corev1.Probe{"liveness": col.LivenessProbe, "readiness": col.ReadinessProbe} {
		if pr == nil || pr.HTTPGet == nil || strconv.Itoa(int(containerPort(t, col, pr.HTTPGet.Port))) != hp {
			t.Errorf("%s probe does not reach health_check on %s", name, hp)
		}
	}
	if sc := col.SecurityContext; sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("the collector should drop every capability")
	}
}

// TestKubernetesUninstall: the uninstall DaemonSet runs the agent's image
// with --uninstall on every node, in the host's network namespace, with the
// node's BPF filesystem mounted read-write where the agent keeps its state,
// and no more privilege than removing tc filters takes.
func TestKubernetesUninstall(t *testing.T) {
	agent := find[*appsv1.DaemonSet](t, decodeManifests(t, "kubernetes/packet-exporter.yaml"), "packet-exporter")
	ds := find[*appsv1.DaemonSet](t, decodeManifests(t, "kubernetes/uninstall.yaml"), "packet-exporter-uninstall")
	pod := ds.Spec.Template.Spec
	if !pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Errorf("hostNetwork %v hostPID %v hostIPC %v: want the host network only", pod.HostNetwork, pod.HostPID, pod.HostIPC)
	}
	if len(pod.Tolerations) != 1 || pod.Tolerations[0].Operator != corev1.TolerationOpExists {
		t.Errorf("tolerations %+v: want every node, as the agent", pod.Tolerations)
	}
	if len(pod.InitContainers) != 1 {
		t.Fatalf("%d init containers, want the one that uninstalls", len(pod.InitContainers))
	}
	c := pod.InitContainers[0]
	if c.Image != agent.Spec.Template.Spec.Containers[0].Image || !slices.Equal(c.Args, []string{"--uninstall"}) {
		t.Errorf("init container runs %s %q, want the agent's image %s with --uninstall", c.Image, c.Args, agent.Spec.Template.Spec.Containers[0].Image)
	}
	if sc := c.SecurityContext; sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Add, []corev1.Capability{"NET_ADMIN"}) ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("init container capabilities %+v, want NET_ADMIN only", c.SecurityContext)
	}
	// The default persistence.path (no --config) inside the mounted BPF filesystem.
	i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == bpffsPath && !m.ReadOnly })
	v := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.HostPath != nil && v.HostPath.Path == bpffsPath })
	if i < 0 || v < 0 || pod.Volumes[v].Name != c.VolumeMounts[i].Name {
		t.Errorf("the node's %s is not mounted read-write at %s", bpffsPath, bpffsPath)
	}
	if def := config.Default().Persistence.Path; !strings.HasPrefix(def, bpffsPath+"/") {
		t.Errorf("the default persistence.path %s is not under %s", def, bpffsPath)
	}
}
