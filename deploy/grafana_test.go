package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	sdkdashboard "github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"go.yaml.in/yaml/v3"

	"github.com/packet-exporter/packet-exporter/internal/dropcategory"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	SchemaVersion int         `json:"schemaVersion"`
	Panels        []dashPanel `json:"panels"`
	Templating    struct {
		List []dashVar `json:"list"`
	} `json:"templating"`
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashPanel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Datasource *dsRef       `json:"datasource"`
	Targets    []dashTarget `json:"targets"`
	Panels     []dashPanel  `json:"panels"` // of a collapsed row
}

type dashTarget struct {
	RefID      string `json:"refId"`
	Expr       string `json:"expr"`
	Instant    bool   `json:"instant"`
	Format     string `json:"format"`
	Datasource *dsRef `json:"datasource"`
}

type dashVar struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	AllValue   string          `json:"allValue"`
	IncludeAll bool            `json:"includeAll"`
	Multi      bool            `json:"multi"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

// panelQuery is one query of one panel.
type panelQuery struct {
	Panel   string // title
	PanelID int
	RefID   string
	Expr    string
	Instant bool
}

func (q panelQuery) String() string {
	return fmt.Sprintf("panel %d %q query %s", q.PanelID, q.Panel, q.RefID)
}

func readDashboard(t testing.TB) (dashboard, []byte) {
	t.Helper()
	b := readRepoFile(t, "deploy", "grafana", "dashboards", "packet-exporter.json")
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("packet-exporter.json: %v", err)
	}
	return d, b
}

// allPanels returns the panels, those inside collapsed rows included.
func (d dashboard) allPanels() []dashPanel {
	var res []dashPanel
	for _, p := range d.Panels {
		res = append(res, p)
		res = append(res, p.Panels...)
	}
	return res
}

func (d dashboard) queries() []panelQuery {
	var res []panelQuery
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			res = append(res, panelQuery{Panel: p.Title, PanelID: p.ID, RefID: tg.RefID, Expr: tg.Expr, Instant: tg.Instant})
		}
	}
	return res
}

// variable returns the template variable name.
func (d dashboard) variable(name string) (dashVar, bool) {
	for _, v := range d.Templating.List {
		if v.Name == name {
			return v, true
		}
	}
	return dashVar{}, false
}

var grafanaVarRe = regexp.MustCompile(`\$(?:\{(\w+)(?::\w+)?\}|(\w+))`)

// interpolate replaces the variables of a Grafana query as Grafana does for
// the Prometheus data source: template variables by vars (a multi-value
// variable set to All becomes its allValue), $__rate_interval, $__interval
// and $__range by durations. It fails on a variable it does not know.
func interpolate(t testing.TB, expr string, vars map[string]string) string {
	t.Helper()
	return grafanaVarRe.ReplaceAllStringFunc(expr, func(m string) string {
		sub := grafanaVarRe.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		v, ok := vars[name]
		if !ok {
			t.Errorf("query %q uses the unknown variable %s", expr, m)
			return m
		}
		return v
	})
}

// dashboardVars are the values the tests give the dashboard's variables: job
// packet-exporter and drop_category network and host (the defaults),
// instance and interface All.
func dashboardVars(t testing.TB, d dashboard, rateInterval, rangeDur string) map[string]string {
	t.Helper()
	vars := map[string]string{
		"__rate_interval": rateInterval,
		"__interval":      rateInterval,
		"__range":         rangeDur,
		"datasource":      "prometheus",
	}
	for _, name := range []string{"instance", "interface"} {
		v, ok := d.variable(name)
		if !ok {
			t.Fatalf("dashboard: no variable %q", name)
		}
		vars[name] = v.AllValue
	}
	job, ok := d.variable("job")
	if !ok {
		t.Fatalf("dashboard: no variable job")
	}
	vars["job"], _ = job.Current.Value.(string)
	dc, ok := d.variable("drop_category")
	if !ok {
		t.Fatalf("dashboard: no variable drop_category")
	}
	vars["drop_category"] = promRegexValue(currentValues(dc))
	return vars
}

// currentValues are the values a variable is set to by default.
func currentValues(v dashVar) []string {
	switch cur := v.Current.Value.(type) {
	case string:
		return []string{cur}
	case []any:
		var res []string
		for _, x := range cur {
			s, _ := x.(string)
			res = append(res, s)
		}
		return res
	}
	return nil
}

// promRegexValue is a multi-value variable's values as Grafana's Prometheus
// data source writes them into a query: each escaped for a regex, one
// alone, several as (a|b).
func promRegexValue(values []string) string {
	var esc []string
	for _, v := range values {
		esc = append(esc, regexp.QuoteMeta(v))
	}
	if len(esc) == 1 {
		return esc[0]
	}
	return "(" + strings.Join(esc, "|") + ")"
}

// dropCategories are the values of packet_exporter.drop.category, in their
// definition's order; lossCategories those that are losses.
func dropCategories() (all, losses []string) {
	for _, a := range metricdef.NetworkDrops.AllAttributes {
		if a.Key == metricdef.DropCategory {
			all = a.Values
		}
	}
	for _, c := range all {
		if dropcategory.IsLoss(c) {
			losses = append(losses, c)
		}
	}
	return all, losses
}

// dropSelectorRe is a selector of the kernel's drops filtered by the
// drop_category variable.
var dropSelectorRe = regexp.MustCompile(`packet_exporter_network_drops_total\{[^}]*packet_exporter_drop_category=~"\$drop_category"[^}]*\}`)

var labelValuesRe = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

// variableQuery splits a label_values(SELECTOR, LABEL) variable query.
func variableQuery(t testing.TB, v dashVar) (selector, label string) {
	t.Helper()
	m := labelValuesRe.FindStringSubmatch(v.Definition)
	if m == nil {
		t.Fatalf("variable %s: query %q is not label_values(SELECTOR, LABEL)", v.Name, v.Definition)
	}
	return m[1], m[2]
}

// datasourceProvisioning is the part of the data source file the tests read.
type datasourceProvisioning struct {
	APIVersion  int               `yaml:"apiVersion"`
	Datasources []datasourceEntry `yaml:"datasources"`
}

// datasourceEntry is one provisioned data source.
type datasourceEntry struct {
	Name      string `yaml:"name"`
	UID       string `yaml:"uid"`
	Type      string `yaml:"type"`
	Access    string `yaml:"access"`
	URL       string `yaml:"url"`
	IsDefault bool   `yaml:"isDefault"`
	Editable  bool   `yaml:"editable"`
	JSONData  struct {
		TimeInterval string `yaml:"timeInterval"`
		HTTPMethod   string `yaml:"httpMethod"`
	} `yaml:"jsonData"`
}

func decodeStrictYAML(t testing.TB, b []byte, v any, what string) {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// readDatasource returns the one provisioned data source.
func readDatasource(t testing.TB) datasourceEntry {
	t.Helper()
	var p datasourceProvisioning
	decodeStrictYAML(t, readRepoFile(t, "deploy", "grafana", "provisioning", "datasources", "prometheus.yaml"), &p, "datasources/prometheus.yaml")
	if p.APIVersion != 1 || len(p.Datasources) != 1 {
		t.Fatalf("datasources/prometheus.yaml: want apiVersion 1 and one data source, got %d and %d", p.APIVersion, len(p.Datasources))
	}
	return p.Datasources[0]
}

// readDashboardProvider returns the folder the dashboard provider loads.
func readDashboardProvider(t testing.TB) string {
	t.Helper()
	var p struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name                  string `yaml:"name"`
			Folder                string `yaml:"folder"`
			Type                  string `yaml:"type"`
			DisableDeletion       bool   `yaml:"disableDeletion"`
			AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
			UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
			Options               struct {
				Path                      string `yaml:"path"`
				FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	decodeStrictYAML(t, readRepoFile(t, "deploy", "grafana", "provisioning", "dashboards", "packet-exporter.yaml"), &p, "dashboards/packet-exporter.yaml")
	if p.APIVersion != 1 || len(p.Providers) != 1 || p.Providers[0].Type != "file" {
		t.Fatalf("dashboards/packet-exporter.yaml: want apiVersion 1 and one file provider: %+v", p)
	}
	return p.Providers[0].Options.Path
}

// TestGrafanaProvisioning checks the data source against the dashboard and
// Prometheus: the uid the dashboard defaults to, and the scrape interval that
// $__rate_interval is derived from.
func TestGrafanaProvisioning(t *testing.T) {
	ds := readDatasource(t)
	if ds.Type != "prometheus" || ds.Access != "proxy" || !ds.IsDefault {
		t.Errorf("data source %+v: want a default prometheus data source with proxy access", ds)
	}
	d, _ := readDashboard(t)
	v, ok := d.variable("datasource")
	if !ok {
		t.Fatalf("dashboard has no datasource variable")
	}
	cur, _ := v.Current.Value.(string)
	if cur != ds.UID {
		t.Errorf("dashboard's datasource variable defaults to %q, the provisioned data source's uid is %q", cur, ds.UID)
	}
	if si := readPromConfig(t).Global.ScrapeInterval; ds.JSONData.TimeInterval != si {
		t.Errorf("data source timeInterval %q, Prometheus scrape_interval %q: $__rate_interval would not fit", ds.JSONData.TimeInterval, si)
	}
}

// TestDashboardJSON checks the dashboard's structure: valid JSON, unique
// panel ids, a layout that fits the 24-column grid without overlaps, the
// panels the deployment issue asks for, every query on the dashboard's data
// source variable and using only known variables, the kernel's drops
// filtered by the drop_category variable (the losses by default), and every
// query (and variable selector) parsing as PromQL (promtool check rules).
func TestDashboardJSON(t *testing.T) {
	d, raw := readDashboard(t)
	if !json.Valid(raw) {
		t.Fatal("packet-exporter.json is not valid JSON")
	}
	if d.UID != "packet-exporter" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("uid %q title %q schemaVersion %d", d.UID, d.Title, d.SchemaVersion)
	}

	ids := map[int]string{}
	type rect struct {
		title      string
		x, y, w, h int
	}
	var rects []rect
	for _, p := range d.allPanels() {
		if prev, dup := ids[p.ID]; dup || p.ID == 0 {
			t.Errorf("panel %q: id %d missing or used by %q too", p.Title, p.ID, prev)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, g)
		}
		for _, r := range rects {
			if g.X < r.x+r.w && r.x < g.X+g.W && g.Y < r.y+r.h && r.y < g.Y+g.H {
				t.Errorf("panel %q (%+v) overlaps panel %q", p.Title, g, r.title)
			}
		}
		rects = append(rects, rect{p.Title, g.X, g.Y, g.W, g.H})
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || len(p.Targets) == 0 {
			t.Errorf("panel %d (%s): no title or no query", p.ID, p.Type)
		}
		for _, ref := range append([]*dsRef{p.Datasource}, targetsDS(p.Targets)...) {
			if ref == nil || ref.Type != "prometheus" || ref.UID != "${datasource}" {
				t.Errorf("panel %q: data source %+v, want the ${datasource} variable", p.Title, ref)
			}
		}
	}

	// What the deployment issue asks the dashboard to show, by metric.
	required := map[string]string{
		"traffic per interface and direction, bytes/s":   `rate(packet_exporter_network_io_bytes_total`,
		"traffic per interface and direction, packets/s": `rate(packet_exporter_network_packets_total`,
		"protocol mix":                 `sum by (network_type, network_transport)`,
		"the mix inside tunnels":       `sum by (packet_exporter_tunnel_type, network_type, network_transport) (rate(packet_exporter_network_tunnel_packets_total`,
		"packet-size distribution":     `packet_exporter_network_packet_size_bytes_bucket`,
		"top flows":                    `packet_exporter_flow_io_bytes_total`,
		"attached interfaces":          `packet_exporter_interface_attached`,
		"kernel could not count":       `packet_exporter_kernel_count_errors_total`,
		"events lost":                  `packet_exporter_events_lost_total`,
		"OTLP failures":                `packet_exporter_otlp_exports_total`,
		"interfaces skipped":           `packet_exporter_interface_skipped`,
		"agent version (build info)":   `packet_exporter_build_info`,
		"up (scrape health)":           `up{`,
		"attach failures by reason":    `packet_exporter_attach_failures_total`,
		"parse errors":                 `packet_exporter_network_parse_errors_total`,
		"average packet size (exists)": `/ sum by (instance, network_interface_name, network_io_direction) (rate(packet_exporter_network_packets_total`,
		// Issue 14, why packets die.
		"top kernel drop reasons":    `topk(10, sum by (error_type, packet_exporter_drop_category) (rate(packet_exporter_network_drops_total`,
		"kernel drops per interface": `sum by (instance, network_interface_name) (rate(packet_exporter_network_drops_total`,
		"device drops":               `sum by (instance, network_interface_name, network_io_direction) (rate(system_network_packet_dropped_total`,
		"device errors":              `sum by (instance, network_interface_name, network_io_direction) (rate(system_network_errors_total`,
		// Issue 31, the exporter's own cost.
		"exporter CPU":        `rate(process_cpu_seconds_total`,
		"exporter memory":     `process_resident_memory_bytes`,
		"exporter goroutines": `go_goroutines`,
		// The live self-audit: the device's count less the programs'.
		"self-audit (device minus counted)": `sum by (instance, network_interface_name, network_io_direction) (packet_exporter_audit_difference{`,
	}
	for what, needle := range required {
		if !slices.ContainsFunc(d.queries(), func(q panelQuery) bool { return strings.Contains(q.Expr, needle) }) {
			t.Errorf("no panel shows %s (no query contains %q)", what, needle)
		}
	}

	// Variables: job (default packet-exporter), instance and interface
	// (multi-value, All = .*, so that series without the label match too).
	vars := dashboardVars(t, d, "1m", "1h")
	if vars["job"] != "packet-exporter" {
		t.Errorf("job variable defaults to %q, want packet-exporter (the exporters' own scrape job)", vars["job"])
	}
	for _, name := range []string{"instance", "interface"} {
		v, _ := d.variable(name)
		if !v.Multi || !v.IncludeAll || v.AllValue != ".*" {
			t.Errorf("variable %s: multi %v includeAll %v allValue %q; want multi-value with All = .*", name, v.Multi, v.IncludeAll, v.AllValue)
		}
	}

	// Drop category: the kernel's drops show the losses by default, the
	// other categories one choice away.
	dc, ok := d.variable("drop_category")
	if !ok {
		t.Fatal("dashboard: no variable drop_category")
	}
	var options string
	if err := json.Unmarshal(dc.Query, &options); err != nil {
		t.Errorf("variable drop_category: query %s: %v", dc.Query, err)
	}
	dropCategories, lossCategories := dropCategories()
	var values []string
	for _, o := range strings.Split(options, ",") {
		values = append(values, strings.TrimSpace(o))
	}
	if dc.Type != "custom" || !dc.Multi || !dc.IncludeAll || dc.AllValue != ".*" || !slices.Equal(values, dropCategories) {
		t.Errorf("variable drop_category: type %q multi %v includeAll %v allValue %q options %q; want custom, multi-value with All = .*, options %q",
			dc.Type, dc.Multi, dc.IncludeAll, dc.AllValue, values, dropCategories)
	}
	if cur := currentValues(dc); !slices.Equal(cur, lossCategories) {
		t.Errorf("variable drop_category defaults to %q, want the losses %q", cur, lossCategories)
	}
	dropQueries := 0
	for _, q := range d.queries() {
		n := strings.Count(q.Expr, "packet_exporter_network_drops_total")
		if n == 0 {
			continue
		}
		dropQueries++
		if m := len(dropSelectorRe.FindAllString(q.Expr, -1)); m != n {
			t.Errorf("%s: %d of its %d selectors of packet_exporter_network_drops_total filter on packet_exporter_drop_category=~\"$drop_category\"\n  %s",
				q, m, n, q.Expr)
		}
	}
	if dropQueries < 2 {
		t.Errorf("%d queries on packet_exporter_network_drops_total, want at least 2 (top reasons, per interface)", dropQueries)
	}
	if got := vars["drop_category"]; got != "(network|host)" {
		t.Errorf("drop_category interpolates as %q, want (network|host)", got)
	}

	// Every query parses as PromQL, after Grafana's interpolation.
	var exprs []string
	for _, q := range d.queries() {
		if q.Expr == "" {
			t.Errorf("%s: empty expression", q)
			continue
		}
		exprs = append(exprs, interpolate(t, q.Expr, vars))
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		sel, _ := variableQuery(t, v)
		exprs = append(exprs, interpolate(t, sel, vars))
	}
	promtoolParse(t, exprs)
}

func targetsDS(ts []dashTarget) []*dsRef {
	var res []*dsRef
	for _, tg := range ts {
		res = append(res, tg.Datasource)
	}
	return res
}

// promtoolParse checks that every expression parses as PromQL, by writing
// them as recording rules and running `promtool check rules`.
func promtoolParse(t testing.TB, exprs []string) {
	t.Helper()
	requireTool(t, "promtool")
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, e := range exprs {
		rules = append(rules, rule{Record: fmt.Sprintf("dashboard_query_%d", i), Expr: e})
	}
	doc := map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}}
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("promtool", "check", "rules", p).CombinedOutput()
	if err != nil {
		t.Errorf("promtool check rules on the dashboard's queries: %v\n%s\nqueries:\n%s", err, out, b)
	}
}

// TestDashboardGrafanaSchema decodes the dashboard strictly into Grafana's
// schema types (the Grafana Foundation SDK, generated from Grafana's own
// schemas, with the panel plugins' options and the Prometheus query type):
// an unknown field, a wrong type or a missing required field anywhere in the
// dashboard, its panels' options or its queries fails. The SDK is used as a
// validator only (its strict decoding drops what it decoded without error,
// taking its empty error list for an error), so the test first proves that
// it looks into every panel's options and every query: a copy with an
// unknown field in each must fail at each of them.
func TestDashboardGrafanaSchema(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	_, raw := readDashboard(t)

	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var wantPaths []string
	for i, p := range doc["panels"].([]any) {
		p := p.(map[string]any)
		if p["type"] == "row" {
			continue
		}
		p["options"].(map[string]any)["unknownTestField"] = 1
		wantPaths = append(wantPaths, fmt.Sprintf("panels[%d].options", i))
		for j, tg := range p["targets"].([]any) {
			tg.(map[string]any)["unknownTestField"] = 1
			wantPaths = append(wantPaths, fmt.Sprintf("panels[%d].targets[%d]", i, j))
		}
	}
	mutated, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	// The shipped dashboard is in Grafana's classic JSON model, which
	// dashboard.Dashboard describes (dashboardv2 is another schema).
	//lint:ignore SA1019 the classic model is the one the file is in
	var md sdkdashboard.Dashboard
	merr := sdkErr(md.UnmarshalJSONStrict(mutated))
	if merr == nil {
		t.Fatalf("the SDK accepts unknown fields: it validates nothing")
	}
	for _, p := range wantPaths {
		if !strings.Contains(merr.Error(), p+".") {
			t.Errorf("the SDK does not check %s (an unknown field there went unnoticed)", p)
		}
	}

	//lint:ignore SA1019 the classic model is the one the file is in (above)
	var d sdkdashboard.Dashboard
	if err := sdkErr(d.UnmarshalJSONStrict(raw)); err != nil {
		t.Errorf("packet-exporter.json does not match Grafana's dashboard schema:\n%v", err)
	}
}

// sdkErr is err, or nil for the SDK's empty error list.
func sdkErr(err error) error {
	var be cog.BuildErrors
	if errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}
