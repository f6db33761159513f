package deploy

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"go.yaml.in/yaml/v3"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/packet-exporter/packet-exporter/deploy/internal/helmchart"
)

// chartDir is the Helm chart's directory.
var chartDir = repoPath("deploy", "helm", "packet-exporter")

// renderChart renders the chart with values and decodes every object it
// makes, strictly (decodeManifestData); it returns them with the outputs
// by template file name.
func renderChart(t *testing.T, values map[string]any) (k8sObjects, map[string]string) {
	t.Helper()
	rendered, err := helmchart.Render(chartDir, values)
	if err != nil {
		t.Fatalf("render the chart with %v: %v", values, err)
	}
	var all []string
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for name := range rendered {
			if strings.HasSuffix(name, ".yaml") && !yield(name) {
				return
			}
		}
	}) {
		all = append(all, rendered[name])
	}
	return decodeManifestData(t, "the chart", []byte(strings.Join(all, "\n---\n"))), rendered
}

// TestHelmLint lints the chart as `helm lint --strict` does: a warning fails.
func TestHelmLint(t *testing.T) {
	linter := lint.RunAll(chartDir, nil, helmchart.Release)
	for _, m := range linter.Messages {
		if m.Severity >= support.WarningSev {
			t.Errorf("lint: %s", m)
		} else {
			t.Logf("lint: %s", m)
		}
	}
}

// TestHelmManifestsCurrent: deploy/kubernetes' manifests are the chart
// rendered with its defaults (make manifests writes them).
func TestHelmManifestsCurrent(t *testing.T) {
	for _, m := range helmchart.Manifests {
		want, err := m.Render(chartDir)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(readRepoFile(t, "deploy", filepath.FromSlash(m.File))); got != want {
			t.Errorf("deploy/%s differs from the chart rendered with its defaults: run make manifests", m.File)
		}
	}
}

// TestHelmValues renders the chart with value sets: its defaults, every
// toggle on, every toggle off. Each passes the checks the shipped manifests
// pass (the DaemonSet's security, probes, mounts, a configuration the agent
// accepts), and makes exactly the objects its toggles ask for, consistent
// with each other.
func TestHelmValues(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name   string
		values map[string]any
		// kinds are the kinds of the objects it makes, sorted.
		kinds []string
		image string
		port  int32
	}{{
		name:  "defaults",
		kinds: []string{"ConfigMap", "DaemonSet", "Service", "ServiceAccount"},
		image: "ghcr.io/packet-exporter/packet-exporter:latest", port: 9743,
	}, {
		name: "every toggle on",
		values: map[string]any{
			"namespace":      map[string]any{"create": true},
			"image":          map[string]any{"repository": "registry.example/pe", "digest": digest},
			"port":           9800,
			"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prom"}},
			"podMonitor":     map[string]any{"enabled": true},
			"prometheusRule": map[string]any{"enabled": true},
			"dashboard":      map[string]any{"enabled": true},
			"config":         map[string]any{"events": map[string]any{"enabled": true}, "flows": map[string]any{"enabled": true}},
			"podAnnotations": map[string]any{"example.com/a": "b"},
			"nodeSelector":   map[string]any{"kubernetes.io/os": "linux"},
			"gateway":        map[string]any{"enabled": true},
		},
		kinds: []string{"ConfigMap", "ConfigMap", "ConfigMap", "ConfigMap", "DaemonSet", "Deployment", "Namespace", "PodMonitor", "PrometheusRule", "Service", "Service", "ServiceAccount", "ServiceMonitor"},
		image: "registry.example/pe@" + digest, port: 9800,
	}, {
		name: "every toggle off",
		values: map[string]any{
			"image":            map[string]any{"tag": "v2.1.0"},
			"otlpEnvConfigMap": "",
			"tolerations":      []any{},
			"resources":        map[string]any{"requests": map[string]any{"cpu": "10m", "memory": "32Mi"}, "limits": map[string]any{"cpu": "1", "memory": "128Mi"}},
		},
		kinds: []string{"ConfigMap", "DaemonSet", "Service", "ServiceAccount"},
		image: "ghcr.io/packet-exporter/packet-exporter:v2.1.0", port: 9743,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			objs, rendered := renderChart(t, tc.values)
			var kinds []string
			for _, o := range objs.all {
				kinds = append(kinds, reflect.TypeOf(o).Elem().Name())
			}
			slices.Sort(kinds)
			if !slices.Equal(kinds, tc.kinds) {
				t.Errorf("objects %v, want %v", kinds, tc.kinds)
			}
			c := checkAgentObjects(t, objs)
			if c.Image != tc.image || len(c.Ports) != 1 || c.Ports[0].ContainerPort != tc.port {
				t.Errorf("image %s port %v, want %s and %d", c.Image, c.Ports, tc.image, tc.port)
			}
			ds := find[*appsv1.DaemonSet](t, objs, "packet-exporter")
			for k, v := range map[string]string{"example.com/a": "b"} {
				if _, asked := tc.values["podAnnotations"]; asked && ds.Spec.Template.Annotations[k] != v {
					t.Errorf("pod annotations %v, want %s=%s", ds.Spec.Template.Annotations, k, v)
				}
			}
			if !strings.Contains(rendered["NOTES.txt"], "port-forward ds/packet-exporter") {
				t.Errorf("NOTES.txt does not say how to reach the metrics:\n%s", rendered["NOTES.txt"])
			}
			svc := find[*corev1.Service](t, objs, "packet-exporter")
			for _, o := range objs.all {
				switch o := o.(type) {
				case *monitoringv1.ServiceMonitor:
					if !labels.SelectorFromSet(o.Spec.Selector.MatchLabels).Matches(labels.Set(svc.Labels)) || o.Spec.Endpoints[0].Port != "metrics" {
						t.Errorf("the ServiceMonitor does not scrape the Service's metrics port: %+v", o.Spec)
					}
					if o.Labels["release"] != "prom" {
						t.Errorf("ServiceMonitor labels %v, want release=prom", o.Labels)
					}
				case *monitoringv1.PodMonitor:
					if !labels.SelectorFromSet(o.Spec.Selector.MatchLabels).Matches(labels.Set(ds.Spec.Template.Labels)) ||
						o.Spec.PodMetricsEndpoints[0].Port == nil || *o.Spec.PodMetricsEndpoints[0].Port != "metrics" {
						t.Errorf("the PodMonitor does not scrape the pods' metrics port: %+v", o.Spec)
					}
				case *monitoringv1.PrometheusRule:
					checkRulesAreAlerts(t, o)
				case *corev1.ConfigMap:
					if o.Name == "packet-exporter-dashboard" {
						if o.Labels["grafana_dashboard"] != "1" || o.Data["packet-exporter.json"] != string(readRepoFile(t, "deploy", "grafana", "dashboards", "packet-exporter.json")) {
							t.Errorf("the dashboard ConfigMap: labels %v, not the dashboard's JSON", o.Labels)
						}
					}
				}
			}
		})
	}
}

// checkRulesAreAlerts checks that the PrometheusRule's groups are
// deploy/prometheus/alerts.yml's.
func checkRulesAreAlerts(t *testing.T, rule *monitoringv1.PrometheusRule) {
	t.Helper()
	var alerts monitoringv1.PrometheusRuleSpec
	if err := utilyaml.Unmarshal(readRepoFile(t, "deploy", "prometheus", "alerts.yml"), &alerts); err != nil {
		t.Fatal(err)
	}
	if len(alerts.Groups) == 0 || !reflect.DeepEqual(rule.Spec, alerts) {
		t.Errorf("the PrometheusRule's groups differ from alerts.yml:\n%+v\nwant:\n%+v", rule.Spec, alerts)
	}
}

// TestHelmAgentWithoutHost: with attribution and persistence off in the
// configuration, the pods take nothing of the host's but its network: no
// PID namespace, no host path.
func TestHelmAgentWithoutHost(t *testing.T) {
	objs, _ := renderChart(t, map[string]any{"config": map[string]any{
		"attribution": map[string]any{"enabled": false}, "persistence": map[string]any{"enabled": false},
	}})
	pod := find[*appsv1.DaemonSet](t, objs, "packet-exporter").Spec.Template.Spec
	if pod.HostPID || !pod.HostNetwork {
		t.Errorf("hostPID %v hostNetwork %v, want the host network only", pod.HostPID, pod.HostNetwork)
	}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			t.Errorf("host path %s mounted", v.HostPath.Path)
		}
	}
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	text := mountedConfig(t, objs, pod, pod.Containers[0], "/etc/packet-exporter/config.yaml")
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	checkExporterConfig(t, cfg)
}

// TestHelmBadValues: values the chart cannot use fail at install, with the
// schema's message (or the chart's) naming them.
func TestHelmBadValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   []string // in the error
	}{
		{"a typo'd key", map[string]any{"serviceMonitr": map[string]any{"enabled": true}}, []string{"serviceMonitr"}},
		{"a typo'd nested key", map[string]any{"image": map[string]any{"tga": "v1"}}, []string{"tga"}},
		{"a negative number", map[string]any{"terminationGracePeriodSeconds": -1}, []string{"terminationGracePeriodSeconds", "minimum"}},
		{"a port out of range", map[string]any{"port": 70000}, []string{"port"}},
		{"a wrong type", map[string]any{"dashboard": map[string]any{"enabled": "yes"}}, []string{"enabled", "boolean"}},
		{"a bad digest", map[string]any{"image": map[string]any{"digest": "latest"}}, []string{"digest"}},
		{"attribution without a host root", map[string]any{"config": map[string]any{"attribution": map[string]any{"host_root": ""}}}, []string{"config.attribution.host_root"}},
		{"an unknown mode", map[string]any{"mode": "remove"}, []string{"mode"}},
		{"uninstall outside the node's /sys/fs/bpf", map[string]any{"mode": "uninstall", "config": map[string]any{"persistence": map[string]any{"path": "/run/pe"}}}, []string{"config.persistence.path"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := helmchart.Render(chartDir, tc.values)
			if err == nil {
				t.Fatalf("%v rendered", tc.values)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestHelmUninstallMode: mode uninstall renders the uninstaller alone
// (deploy/kubernetes/uninstall.yaml is that mode rendered, which
// TestKubernetesUninstall checks), with every toggle on; a persistence.path
// other than the default is passed to --uninstall.
func TestHelmUninstallMode(t *testing.T) {
	values := map[string]any{"mode": "uninstall", "serviceMonitor": map[string]any{"enabled": true},
		"podMonitor": map[string]any{"enabled": true}, "prometheusRule": map[string]any{"enabled": true},
		"dashboard": map[string]any{"enabled": true}}
	objs, rendered := renderChart(t, values)
	if names := slices.Sorted(maps.Keys(rendered)); !slices.Equal(names, []string{"NOTES.txt", "uninstall.yaml"}) {
		t.Errorf("mode uninstall renders %q, want the uninstaller and its notes only", names)
	}
	ds := find[*appsv1.DaemonSet](t, objs, "packet-exporter-uninstall")
	if env := ds.Spec.Template.Spec.InitContainers[0].Env; len(env) != 0 {
		t.Errorf("at the default persistence.path the uninstaller has environment %v", env)
	}
	values["config"] = map[string]any{"persistence": map[string]any{"path": "/sys/fs/bpf/pe-team"}}
	objs, _ = renderChart(t, values)
	ds = find[*appsv1.DaemonSet](t, objs, "packet-exporter-uninstall")
	want := []corev1.EnvVar{{Name: "PE_PERSISTENCE_PATH", Value: "/sys/fs/bpf/pe-team"}}
	if env := ds.Spec.Template.Spec.InitContainers[0].Env; !slices.Equal(env, want) {
		t.Errorf("persistence.path /sys/fs/bpf/pe-team: the uninstaller's environment is %v, want %v", env, want)
	}
}

// TestHelmCollectorMode: mode collector runs the Collector with the
// receiver instead of the agent (deploy/otelcol/daemonset.yaml is that mode
// rendered, which TestOtelcolDaemonSet checks), with the agent's counting
// keys in the receiver, and the Service and ServiceMonitor on its port.
func TestHelmCollectorMode(t *testing.T) {
	objs, rendered := renderChart(t, map[string]any{
		"mode":           "collector",
		"config":         map[string]any{"drops": map[string]any{"enabled": false}},
		"serviceMonitor": map[string]any{"enabled": true},
	})
	for _, o := range objs.all {
		if ds, ok := o.(*appsv1.DaemonSet); ok && ds.Name != "otelcol-packet-exporter" {
			t.Errorf("DaemonSet %s beside the Collector's", ds.Name)
		}
	}
	ds := find[*appsv1.DaemonSet](t, objs, "otelcol-packet-exporter")
	pod, c := checkCounterDaemonSet(t, ds)
	text := mountedConfig(t, objs, pod, c, flagValue(c.Args, "--config"))
	_, recv := checkReceiverConfig(t, "the Collector's ConfigMap", []byte(text))
	if cfg := receiverCounting(t, recv); cfg.Drops.Enabled || !cfg.Persistence.Enabled {
		t.Errorf("the receiver's drops.enabled %v and persistence.enabled %v, want the config value's false and true", cfg.Drops.Enabled, cfg.Persistence.Enabled)
	}
	svc := find[*corev1.Service](t, objs, "otelcol-packet-exporter")
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(ds.Spec.Template.Labels)) ||
		containerPort(t, c, svc.Spec.Ports[0].TargetPort) != 8889 {
		t.Errorf("the Service does not reach the Collector's port 8889: %+v", svc.Spec)
	}
	sm := find[*monitoringv1.ServiceMonitor](t, objs, "otelcol-packet-exporter")
	if !labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(svc.Labels)) {
		t.Errorf("the ServiceMonitor does not select the Collector's Service")
	}
	if strings.Contains(rendered["NOTES.txt"], "live view") {
		t.Errorf("NOTES.txt offers the agent's live view in collector mode:\n%s", rendered["NOTES.txt"])
	}
}

// TestHelmValuesTable: the README's table of the chart's values lists each
// value of values.schema.json (a leaf, or an object it describes whole),
// with values.yaml's default.
func TestHelmValuesTable(t *testing.T) {
	var schema map[string]any
	if err := json.Unmarshal(readRepoFile(t, "deploy", "helm", "packet-exporter", "values.schema.json"), &schema); err != nil {
		t.Fatal(err)
	}
	var defaults map[string]any
	if err := yaml.Unmarshal(readRepoFile(t, "deploy", "helm", "packet-exporter", "values.yaml"), &defaults); err != nil {
		t.Fatal(err)
	}
	// paths are the schema's value paths: leaf (true) or object (false).
	paths := map[string]bool{}
	var walk func(node map[string]any, prefix string)
	walk = func(node map[string]any, prefix string) {
		for ref, ok := node["$ref"].(string); ok; ref, ok = node["$ref"].(string) {
			node = schema
			for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
				node = node[part].(map[string]any)
			}
		}
		props, ok := node["properties"].(map[string]any)
		if !ok || node["additionalProperties"] != false {
			paths[prefix] = true
			return
		}
		if prefix != "" {
			paths[prefix] = false
		}
		for k, v := range props {
			walk(v.(map[string]any), strings.TrimPrefix(prefix+"."+k, "."))
		}
	}
	walk(schema, "")

	readme := string(readRepoFile(t, "README.md"))
	start := strings.Index(readme, "### Helm chart values")
	if start < 0 {
		t.Fatal("README.md has no section Helm chart values")
	}
	section := readme[start+1:]
	if end := strings.Index(section, "\n#"); end >= 0 {
		section = section[:end]
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| (`([^`]*)`|\\(see `values.yaml`\\)) \\|")
	listed := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		path, shown := m[1], m[3]
		if _, known := paths[path]; !known {
			t.Errorf("README lists %s, which is not a value of the chart", path)
			continue
		}
		listed[path] = true
		for p, isLeaf := range paths {
			if isLeaf && strings.HasPrefix(p, path+".") {
				listed[p] = true // described whole
			}
		}
		var v any = defaults
		for _, part := range strings.Split(path, ".") {
			v = v.(map[string]any)[part]
		}
		if m[2] == "(see `values.yaml`)" {
			continue
		}
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := v.(string); ok && s != "" {
			want = []byte(s)
		}
		if shown != string(want) {
			t.Errorf("README: %s defaults to %s, values.yaml to %s", path, shown, want)
		}
	}
	for p, isLeaf := range paths {
		if isLeaf && !listed[p] {
			t.Errorf("README's table does not list the chart's value %s", p)
		}
	}
}
