package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
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
	buildTimeout   = 8 * time.Minute  // cold: about 1.5 min on 2 cores
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

// bin is the collector under test, built once per test binary by the first
// test that needs it.
var bin struct {
	dir  string
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pecollector-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin.dir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// collectorBinary builds cmd/pecollector on first use and returns its path.
// `go test` puts the go command that runs it first in PATH.
func collectorBinary(t *testing.T) string {
	t.Helper()
	bin.once.Do(func() {
		start := time.Now()
		path := filepath.Join(bin.dir, "pecollector")
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", path, "./cmd/pecollector")
		if out, err := cmd.CombinedOutput(); err != nil {
			bin.err = fmt.Errorf("go build ./cmd/pecollector: %v\n%s", err, out)
			return
		}
		bin.path = path
		fmt.Fprintf(os.Stderr, "built pecollector in %v\n", time.Since(start).Round(time.Second))
	})
	if bin.err != nil {
		t.Fatal(bin.err)
	}
	return bin.path
}

// runCommand runs the collector with args to completion and returns its
// combined output.
func runCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := collectorBinary(t) // before the command's timeout starts
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("pecollector %s did not finish within %v:\n%s", strings.Join(args, " "), commandTimeout, out)
	}
	return string(out), err
}

func TestValidateRepoConfig(t *testing.T) {
	if out, err := runCommand(t, "validate", "--config", repoConfig); err != nil {
		t.Fatalf("pecollector validate --config %s: %v\n%s", repoConfig, err, out)
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
		t.Fatalf("pecollector components: %v\n%s", err, out)
	}
	type named []struct{ Name string }
	var c struct {
		Receivers, Processors, Exporters, Connectors, Extensions named
	}
	if err := yaml.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("pecollector components: %v\n%s", err, out)
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
	bin := collectorBinary(t)
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
	p := startCollector(t, bin, "--config", config, "--config", telemetry)

	promURL := "http://" + promAddr + "/metrics"
	telemetryURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", telemetryPort)
	p.waitHTTP(t, promURL)
	p.waitHTTP(t, telemetryURL)

	sendCounter(t, p, otlpAddr)

	sample := p.waitSample(t, promURL)
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
	p.waitOutput(t, func(out string) bool {
		for line := range strings.Lines(out) {
			if strings.Contains(line, "Metrics") && strings.Contains(line, `"otelcol.component.id": "debug"`) &&
				strings.Contains(line, `"data points": 1`) {
				return true
			}
		}
		return false
	}, "debug exporter line for one data point")

	if err := p.stop(); err != nil {
		t.Errorf("the collector did not shut down cleanly on SIGTERM: %v\n%s", err, p.out.String())
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

// process is a running collector.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer // stdout and stderr
	done chan struct{}
	err  error // what Wait returned, once done is closed

	stopOnce sync.Once
	stopErr  error
}

func startCollector(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("collector output:\n%s", p.out.String())
		}
	})
	return p
}

// stop ends the collector: SIGTERM, then SIGKILL if it has not exited within
// stopTimeout. It returns an error unless the collector exited by itself with
// status 0 after the SIGTERM.
func (p *process) stop() error {
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
			p.stopErr = fmt.Errorf("the collector had already exited: %v", p.err)
			return
		default:
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			p.stopErr = err
		}
		select {
		case <-p.done:
			if p.stopErr == nil {
				p.stopErr = p.err
			}
		case <-time.After(stopTimeout):
			p.cmd.Process.Kill()
			<-p.done
			p.stopErr = fmt.Errorf("still running %v after SIGTERM, killed", stopTimeout)
		}
	})
	return p.stopErr
}

// poll calls try every 100ms until it returns nil, for at most timeout. It
// fails the test with try's last error if that does not happen, or at once if
// the collector exits.
func (p *process) poll(t *testing.T, timeout time.Duration, what string, try func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := try()
		if err == nil {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("the collector exited (%v) while waiting for %s", p.err, what)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v: %v", what, timeout, err)
		}
	}
}

// get fetches url with a short timeout.
func get(url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

// waitHTTP waits until url answers 200.
func (p *process) waitHTTP(t *testing.T, url string) {
	t.Helper()
	p.poll(t, readyTimeout, "answer from "+url, func() error {
		_, err := get(url)
		return err
	})
}

// waitOutput waits until the collector's output satisfies ok.
func (p *process) waitOutput(t *testing.T, ok func(string) bool, what string) {
	t.Helper()
	p.poll(t, scrapeTimeout, what+" in the collector's output", func() error {
		if ok(p.out.String()) {
			return nil
		}
		return errors.New("not yet")
	})
}

// waitSample scrapes url until it has the test's counter with the value sent,
// and returns that sample. Any other value, or more than one series, fails.
func (p *process) waitSample(t *testing.T, url string) *dto.Metric {
	t.Helper()
	var sample *dto.Metric
	p.poll(t, scrapeTimeout, promMetricName+" on "+url, func() error {
		body, err := get(url)
		if err != nil {
			return err
		}
		// Legacy Prometheus names, the one scheme the repository's tests parse
		// with (internal/testexporter, which this module cannot import).
		parser := expfmt.NewTextParser(model.LegacyValidation)
		families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("parsing the scrape: %v\n%s", err, body)
		}
		f, ok := families[promMetricName]
		if !ok {
			return fmt.Errorf("not in the scrape:\n%s", body)
		}
		if f.GetType() != dto.MetricType_COUNTER || len(f.GetMetric()) != 1 {
			t.Fatalf("%s: %v with %d series, want one counter series:\n%s", promMetricName, f.GetType(), len(f.GetMetric()), body)
		}
		sample = f.GetMetric()[0]
		if v := sample.GetCounter().GetValue(); v != counterValue {
			t.Fatalf("%s = %v, want %d:\n%s", promMetricName, v, counterValue, body)
		}
		return nil
	})
	return sample
}

// sendCounter sends one OTLP/gRPC metrics export to addr: a cumulative
// monotonic counter with counterValue, whose resource has service.name and
// deployment.environment.name.
func sendCounter(t *testing.T, p *process, addr string) {
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
		case <-p.done: // no point waiting for a collector that is gone
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

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
