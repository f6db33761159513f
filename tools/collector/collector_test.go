package collector

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/packet-exporter/packet-exporter/internal/testing/otelcolbuild"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// repoConfig is the configuration under test, relative to this package.
var repoConfig = filepath.Join("..", "..", "otel-collector.yaml")

// The two listen addresses of otel-collector.yaml, as paths of mapping keys.
var (
	otlpEndpointPath = []string{"receivers", "otlp", "protocols", "grpc", "endpoint"}
	promEndpointPath = []string{"exporters", "prometheus", "endpoint"}
)

// Bounds of the waits.
const (
	buildTimeout   = 15 * time.Minute // ocb, cold: about 3 min on 2 cores
	commandTimeout = time.Minute      // validate, components
	readyTimeout   = 30 * time.Second // the collector's endpoints answer
	exportTimeout  = 20 * time.Second // the OTLP export call
	scrapeTimeout  = 20 * time.Second // the data point shows on /metrics
	stopTimeout    = 20 * time.Second // graceful shutdown after SIGTERM
)

// What the run test sends, and what it expects on the prometheus endpoint.
const (
	serviceName    = "pecollector-test"
	environment    = "collector-test"
	metricName     = "pecollector.test.exports"
	promMetricName = "pecollector_test_exports_total"
	counterValue   = 4217
)

// otelcol is the collector under test: the distribution of
// deploy/otelcol/manifest.yaml reduced to the components otel-collector.yaml
// uses, at the manifest's versions, built with ocb by the repository's
// collector build helper once per test binary (by the first test that needs
// it), or found in its cache.
var otelcol = &otelcolbuild.Collector{
	Variant: otelcolbuild.Variant{Keep: []string{
		"go.opentelemetry.io/collector/receiver/otlpreceiver",
		"go.opentelemetry.io/collector/processor/batchprocessor",
		"go.opentelemetry.io/collector/exporter/debugexporter",
		"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusexporter",
	}},
	Timeout: buildTimeout,
}

func TestMain(m *testing.M) {
	os.Exit(testexporter.Run(m))
}

// runCommand runs the collector with args to completion and returns its
// combined output.
func runCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := otelcol.Path(t) // before the command's timeout starts
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = testexporter.Environ() // as Start runs it
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("collector %s did not finish within %v:\n%s", strings.Join(args, " "), commandTimeout, out)
	}
	return string(out), err
}

func TestValidateRepoConfig(t *testing.T) {
	if out, err := runCommand(t, "validate", "--config", repoConfig); err != nil {
		t.Fatalf("collector validate --config %s: %v\n%s", repoConfig, err, out)
	}
}

// TestValidateRejectsUnknownOption makes sure that validate does check the
// prometheus exporter's settings, so that TestValidateRepoConfig means something.
func TestValidateRejectsUnknownOption(t *testing.T) {
	doc := readConfig(t)
	prom := lookup(t, doc, promEndpointPath[:len(promEndpointPath)-1])
	prom.Content = append(prom.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "no_such_option"},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
	path := writeConfig(t, doc)
	out, err := runCommand(t, "validate", "--config", path)
	if err == nil {
		t.Fatalf("validate accepted an unknown prometheus exporter option:\n%s", out)
	}
	if !strings.Contains(out, "no_such_option") {
		t.Errorf("validate failed without naming the unknown option: %v\n%s", err, out)
	}
}

// TestComponents checks that the distribution has exactly the components of
// otel-collector.yaml.
func TestComponents(t *testing.T) {
	out, err := runCommand(t, "components")
	if err != nil {
		t.Fatalf("collector components: %v\n%s", err, out)
	}
	type named []struct{ Name string }
	var c struct {
		Receivers, Processors, Exporters, Connectors, Extensions named
	}
	if err := yaml.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("collector components: %v\n%s", err, out)
	}
	names := func(n named) []string {
		var s []string
		for _, x := range n {
			s = append(s, x.Name)
		}
		slices.Sort(s)
		return s
	}
	for _, tc := range []struct {
		kind string
		got  named
		want []string
	}{
		{"receivers", c.Receivers, []string{"otlp"}},
		{"processors", c.Processors, []string{"batch"}},
		{"exporters", c.Exporters, []string{"debug", "prometheus"}},
		{"connectors", c.Connectors, nil},
		{"extensions", c.Extensions, nil},
	} {
		if got := names(tc.got); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.kind, got, tc.want)
		}
	}
}

// TestRunRepoConfig runs the collector on otel-collector.yaml with its two
// listen addresses moved to free loopback ports, sends it one OTLP/gRPC
// metrics export and reads the counter back from the prometheus exporter.
func TestRunRepoConfig(t *testing.T) {
	bin := otelcol.Path(t)
	ports := freePorts(t, 3)
	otlpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	promAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	telemetryPort := ports[2]

	doc := readConfig(t)
	setEndpoints(t, doc, map[string]string{
		strings.Join(otlpEndpointPath, "::"): otlpAddr,
		strings.Join(promEndpointPath, "::"): promAddr,
	})
	config := writeConfig(t, doc)

	// The file has no service::telemetry section, so the collector would serve
	// its own metrics on the default localhost:8888: a second configuration
	// source moves them to a free port too.
	telemetry := fmt.Sprintf("yaml:service::telemetry::metrics::readers: "+
		"[{pull: {exporter: {prometheus: {host: 127.0.0.1, port: %d}}}}]", telemetryPort)
	p := testexporter.Start(t, testexporter.Options{StopTimeout: stopTimeout}, bin, "--config", config, "--config", telemetry)

	promURL := "http://" + promAddr + "/metrics"
	telemetryURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", telemetryPort)
	waitHTTP(t, p, promURL)
	waitHTTP(t, p, telemetryURL)

	sendCounter(t, p, otlpAddr)

	sample := waitSample(t, p, promURL)
	labels := map[string]string{}
	for _, l := range sample.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	t.Logf("%s %v = %v", promMetricName, labels, sample.GetCounter().GetValue())
	for name, want := range map[string]string{
		// resource attributes, as labels: resource_to_telemetry_conversion
		"deployment_environment_name": environment,
		"service_name":                serviceName,
		// the data point's attribute
		"network_io_direction": "receive",
		// service.name, as the prometheus exporter always maps it
		"job": serviceName,
	} {
		if got, ok := labels[name]; !ok || got != want {
			t.Errorf("%s: label %s=%q (present %v), want %q; labels %v", promMetricName, name, got, ok, want, labels)
		}
	}

	// The debug exporter (verbosity basic) logs one line per batch.
	if !p.WaitForLine(scrapeTimeout, "Metrics", `"otelcol.component.id": "debug"`, `"data points": 1`) {
		t.Fatalf("no debug exporter line for one data point in the collector's output within %v (exited: %v, %v)",
			scrapeTimeout, p.Exited(), p.Err())
	}

	// Shut down cleanly: running until the SIGTERM, then exit status 0 within
	// stopTimeout.
	if p.Exited() {
		t.Errorf("the collector did not shut down cleanly on SIGTERM: it had already exited: %v", p.Err())
	} else if exited, code := p.Stop(stopTimeout); !exited {
		t.Errorf("the collector did not shut down cleanly on SIGTERM: still running %v after SIGTERM, killed", stopTimeout)
	} else if code != 0 {
		t.Errorf("the collector did not shut down cleanly on SIGTERM: %v", p.Err())
	}
}

// readConfig parses otel-collector.yaml into a node tree, which keeps
// everything that the test does not change as it is.
func readConfig(t *testing.T) *yaml.Node {
	t.Helper()
	data, err := os.ReadFile(repoConfig)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", repoConfig, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		t.Fatalf("%s: not a single YAML document", repoConfig)
	}
	return &doc
}

// writeConfig writes doc to a file in the test's temporary directory.
func writeConfig(t *testing.T, doc *yaml.Node) string {
	t.Helper()
	data, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "otel-collector.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// lookup returns the value node at path (mapping keys) in doc.
func lookup(t *testing.T, doc *yaml.Node, path []string) *yaml.Node {
	t.Helper()
	n := doc.Content[0]
	for i, key := range path {
		if n.Kind != yaml.MappingNode {
			t.Fatalf("%s: %s is not a mapping", repoConfig, strings.Join(path[:i], "::"))
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == key {
				next = n.Content[j+1]
			}
		}
		if next == nil {
			t.Fatalf("%s: no %s", repoConfig, strings.Join(path[:i+1], "::"))
		}
		n = next
	}
	return n
}

// setEndpoints sets the scalar at each path (keys joined with "::") to its
// address. It fails the test if the file has any other "endpoint" setting,
// which the test would otherwise leave listening on its configured address.
func setEndpoints(t *testing.T, doc *yaml.Node, addrs map[string]string) {
	t.Helper()
	changed := map[*yaml.Node]bool{}
	for path, addr := range addrs {
		n := lookup(t, doc, strings.Split(path, "::"))
		if n.Kind != yaml.ScalarNode || n.Value == "" {
			t.Fatalf("%s: %s is not an address", repoConfig, path)
		}
		t.Logf("%s: %s -> %s", path, n.Value, addr)
		n.Tag, n.Style, n.Value = "!!str", 0, addr
		changed[n] = true
	}
	var walk func(n *yaml.Node, at string)
	walk = func(n *yaml.Node, at string) {
		if n.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(n.Content); j += 2 {
				key, value := n.Content[j].Value, n.Content[j+1]
				if key == "endpoint" && !changed[value] {
					t.Fatalf("%s: %s::endpoint is a listen address this test does not move to a free loopback port", repoConfig, at)
				}
				walk(value, strings.TrimPrefix(at+"::"+key, "::"))
			}
			return
		}
		for _, c := range n.Content {
			walk(c, at)
		}
	}
	walk(doc.Content[0], "")
}

// freePorts returns n distinct TCP ports that were free on 127.0.0.1.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// httpClient fetches the collector's endpoints.
var httpClient = &http.Client{Timeout: 5 * time.Second}

// waitHTTP waits until url answers 200.
func waitHTTP(t *testing.T, p *testexporter.Process, url string) {
	t.Helper()
	p.WaitFor(t, "answer from "+url, readyTimeout, func() (bool, string) {
		if _, err := testexporter.Get(httpClient, url); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

// waitSample scrapes url until it has the test's counter with the value sent,
// and returns that sample. Any other value, or more than one series, fails.
func waitSample(t *testing.T, p *testexporter.Process, url string) *dto.Metric {
	t.Helper()
	var sample *dto.Metric
	p.WaitFor(t, promMetricName+" on "+url, scrapeTimeout, func() (bool, string) {
		families, body, err := testexporter.Scrape(httpClient, url)
		if err != nil {
			return false, fmt.Sprintf("%v\n%s", err, body)
		}
		f, ok := families[promMetricName]
		if !ok {
			return false, "not in the scrape:\n" + body
		}
		if f.GetType() != dto.MetricType_COUNTER || len(f.GetMetric()) != 1 {
			t.Fatalf("%s: %v with %d series, want one counter series:\n%s", promMetricName, f.GetType(), len(f.GetMetric()), body)
		}
		sample = f.GetMetric()[0]
		if v := sample.GetCounter().GetValue(); v != counterValue {
			t.Fatalf("%s = %v, want %d:\n%s", promMetricName, v, counterValue, body)
		}
		return true, ""
	})
	return sample
}

// sendCounter sends one OTLP/gRPC metrics export to addr: a cumulative
// monotonic counter with counterValue, whose resource has service.name and
// deployment.environment.name.
func sendCounter(t *testing.T, p *testexporter.Process, addr string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), exportTimeout)
	defer cancel()
	go func() {
		select {
		case <-p.Done(): // no point waiting for a collector that is gone
			cancel()
		case <-ctx.Done():
		}
	}()

	str := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	now := time.Now()
	req := &colmetricspb.ExportMetricsServiceRequest{
		ResourceMetrics: []*metricspb.ResourceMetrics{{
			Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
				str("service.name", serviceName),
				str("deployment.environment.name", environment),
			}},
			ScopeMetrics: []*metricspb.ScopeMetrics{{
				Scope: &commonpb.InstrumentationScope{Name: "github.com/packet-exporter/packet-exporter/tools/collector"},
				Metrics: []*metricspb.Metric{{
					Name:        metricName,
					Description: "A counter sent by the collector test.",
					Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{
						AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
						IsMonotonic:            true,
						DataPoints: []*metricspb.NumberDataPoint{{
							Attributes:        []*commonpb.KeyValue{str("network.io.direction", "receive")},
							StartTimeUnixNano: uint64(now.Add(-time.Minute).UnixNano()),
							TimeUnixNano:      uint64(now.UnixNano()),
							Value:             &metricspb.NumberDataPoint_AsInt{AsInt: counterValue},
						}},
					}},
				}},
			}},
		}},
	}
	// WaitForReady: the receiver may still be starting (bounded by ctx).
	resp, err := colmetricspb.NewMetricsServiceClient(conn).Export(ctx, req, grpc.WaitForReady(true))
	if err != nil {
		t.Fatalf("OTLP export to %s: %v", addr, err)
	}
	if ps := resp.GetPartialSuccess(); ps.GetRejectedDataPoints() != 0 || ps.GetErrorMessage() != "" {
		t.Fatalf("OTLP export to %s: partial success: %v", addr, ps)
	}
}
