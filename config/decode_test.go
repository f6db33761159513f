package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// testSettings exercises the value types the decoder supports beyond those
// the Config uses today.
type testSettings struct {
	Timeout  time.Duration     `yaml:"timeout"`
	Periods  []time.Duration   `yaml:"periods"`
	Labels   map[string]string `yaml:"labels"`
	Ratio    float64           `yaml:"ratio"`
	Weight   float32           `yaml:"weight"`
	Count    int               `yaml:"count"`
	Small    int8              `yaml:"small"`
	Size     uint16            `yaml:"size"`
	Targets  []testTarget      `yaml:"targets"`
	Untagged string
	Skipped  string `yaml:"-"`
}

type testTarget struct {
	Endpoint string            `yaml:"endpoint,omitempty"`
	Headers  map[string]string `yaml:"headers"`
}

// decodeTestSettings decodes input over start and returns the result and
// the problems found, formatted.
func decodeTestSettings(t *testing.T, start testSettings, input string) (testSettings, string) {
	t.Helper()
	dec, err := decodeDocument("test.yaml", []byte(input), &start)
	if err != nil {
		return start, err.Error()
	}
	if err := dec.errs.asError(); err != nil {
		return start, err.Error()
	}
	return start, ""
}

func TestDecodeSupportedTypes(t *testing.T) {
	input := `
timeout: 1m30s
periods: [10ms, 2h]
labels:
  team: network
  service.name: packet-exporter
  "": empty key
ratio: -1.5e3
weight: .25
count: -42
small: 127
size: 65535
targets:
  - endpoint: a:4317
  - endpoint: b:4317
    headers: {x-token: secret}
`
	want := testSettings{
		Timeout: 90 * time.Second,
		Periods: []time.Duration{10 * time.Millisecond, 2 * time.Hour},
		Labels:  map[string]string{"team": "network", "service.name": "packet-exporter", "": "empty key"},
		Ratio:   -1500,
		Weight:  0.25,
		Count:   -42,
		Small:   127,
		Size:    65535,
		Targets: []testTarget{{Endpoint: "a:4317"}, {Endpoint: "b:4317", Headers: map[string]string{"x-token": "secret"}}},
	}
	got, problems := decodeTestSettings(t, testSettings{}, input)
	if problems != "" {
		t.Fatalf("decode problems:\n%s", problems)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %+v\nwant    %+v", got, want)
	}
}

func TestDecodeOverlaysAndReplaces(t *testing.T) {
	start := testSettings{
		Timeout:  time.Second,
		Labels:   map[string]string{"a": "1", "b": "2"},
		Count:    3,
		Untagged: "kept",
		Skipped:  "kept",
	}
	got, problems := decodeTestSettings(t, start, "labels: {c: '3'}\ncount: 4\n")
	if problems != "" {
		t.Fatalf("decode problems:\n%s", problems)
	}
	want := testSettings{
		Timeout:  time.Second,
		Labels:   map[string]string{"c": "3"}, // a given map replaces the old one
		Count:    4,
		Untagged: "kept",
		Skipped:  "kept",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %+v\nwant    %+v", got, want)
	}

	got, problems = decodeTestSettings(t, start, "labels:\n")
	if problems != "" || got.Labels != nil {
		t.Fatalf("null map: got %v, problems %q; want nil map", got.Labels, problems)
	}
}

func TestDecodeProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"duration without unit", "timeout: 30\n",
			`test.yaml:1:10: timeout: invalid duration "30" (want a number with a unit, e.g. 500ms, 30s, 1h30m)`},
		{"duration text", "periods: [1s, soon]\n",
			`test.yaml:1:15: periods[1]: invalid duration "soon" (want a number with a unit, e.g. 500ms, 30s, 1h30m)`},
		{"duration as mapping", "timeout: {s: 1}\n",
			`test.yaml:1:10: timeout: expected a duration, got a mapping`},
		{"map as list", "labels: [a, b]\n",
			`test.yaml:1:9: labels: expected a mapping, got a list`},
		{"map value not a scalar", "labels:\n  team: [a]\n",
			`test.yaml:2:9: labels.team: expected a string, got a list`},
		{"map value null", "labels:\n  team:\n",
			`test.yaml:2:8: labels.team: expected a string, got null`},
		{"map key with dots", "labels:\n  service.name: {}\n",
			`test.yaml:2:17: labels["service.name"]: expected a string, got a mapping`},
		{"map duplicate key", "labels:\n  team: a\n  team: b\n",
			`test.yaml:3:3: labels.team: duplicate key "labels.team" (first defined at line 2)`},
		{"float text", "ratio: half\n",
			`test.yaml:1:8: ratio: invalid number "half" (want a finite decimal number)`},
		{"float infinity", "ratio: .inf\n",
			`test.yaml:1:8: ratio: invalid number ".inf" (want a finite decimal number)`},
		{"float hex", "ratio: 0x1p3\n",
			`test.yaml:1:8: ratio: invalid number "0x1p3" (want a finite decimal number)`},
		{"float32 overflow", "weight: 1e39\n",
			`test.yaml:1:9: weight: invalid number "1e39" (want a finite decimal number)`},
		{"int8 overflow", "small: 128\n",
			`test.yaml:1:8: small: invalid integer "128" (out of range)`},
		{"uint negative", "size: -1\n",
			`test.yaml:1:7: size: invalid integer "-1" (want a non-negative base-10 integer)`},
		{"uint16 overflow", "size: 65536\n",
			`test.yaml:1:7: size: invalid integer "65536" (out of range)`},
		{"untagged field is not configurable", "Untagged: x\n",
			`test.yaml:1:1: Untagged: unknown key "Untagged"`},
		{"skipped field is not configurable", "Skipped: x\n",
			`test.yaml:1:1: Skipped: unknown key "Skipped"`},
		{"unknown key in list item", "targets:\n  - endpoint: a\n  - endpont: b\n",
			`test.yaml:3:5: targets[1].endpont: unknown key "targets[1].endpont"; did you mean "endpoint"?`},
		{"several problems", "count: many\ntimeout: forever\nlabels: 3\n",
			"test.yaml:1:8: count: invalid integer \"many\" (want a base-10 integer)\n" +
				"test.yaml:2:10: timeout: invalid duration \"forever\" (want a number with a unit, e.g. 500ms, 30s, 1h30m)\n" +
				`test.yaml:3:9: labels: expected a mapping, got "3"`},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			_, problems := decodeTestSettings(t, testSettings{}, test.yaml)
			if problems != test.want {
				t.Fatalf("problems:\n%s\nwant:\n%s", problems, test.want)
			}
		})
	}
}

func TestDecodeUnsupportedType(t *testing.T) {
	var target struct {
		Channel chan int `yaml:"channel"`
	}
	dec, err := decodeDocument("test.yaml", []byte("channel: 1\n"), &target)
	if err != nil {
		t.Fatal(err)
	}
	want := "test.yaml:1:10: channel: internal error: the configuration type chan int is not supported"
	if got := dec.errs.Error(); got != want {
		t.Fatalf("problems = %s, want %s", got, want)
	}
}

// TestDecodeAliasExpansionIsBounded feeds a "billion laughs" document to a
// type deep enough to follow it.
func TestDecodeAliasExpansionIsBounded(t *testing.T) {
	var target struct {
		Deep [][][][][][]string `yaml:"deep"`
	}
	var doc strings.Builder
	doc.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x]\n")
	for level := 1; level <= 5; level++ {
		doc.WriteString(strings.Replace("aN: &aN [", "N", string(rune('0'+level)), 2))
		doc.WriteString(strings.Repeat("*a"+string(rune('0'+level-1))+", ", 19))
		doc.WriteString("*a" + string(rune('0'+level-1)) + "]\n")
	}
	doc.WriteString("deep: *a5\n")
	dec, err := decodeDocument("laughs.yaml", []byte(doc.String()), &target)
	if err != nil {
		t.Fatal(err)
	}
	var tooComplex int
	for _, problem := range dec.errs {
		if strings.Contains(problem.Msg, "document is too complex") {
			tooComplex++
		}
	}
	if tooComplex != 1 {
		t.Fatalf("got %d \"too complex\" problems in %d problems, want 1", tooComplex, len(dec.errs))
	}
	if dec.visits > maxVisits+1 {
		t.Fatalf("decoder visited %d nodes, limit is %d", dec.visits, maxVisits)
	}
}

// recursiveItem is a self-referencing type, the only way an alias cycle can
// keep the decoder descending.
type recursiveItem struct {
	Children []recursiveItem `yaml:"children"`
}

// TestDecodeRecursiveAliasIsBounded points an alias at its own ancestor.
func TestDecodeRecursiveAliasIsBounded(t *testing.T) {
	var target struct {
		Tree recursiveItem `yaml:"tree"`
	}
	dec, err := decodeDocument("cycle.yaml", []byte("tree: &t\n  children: [*t]\n"), &target)
	if err != nil {
		t.Fatal(err)
	}
	want := "cycle.yaml:2:14: tree" + strings.Repeat(".children[0]", 16) + ": nesting exceeds the maximum depth of 32"
	if got := dec.errs.Error(); got != want {
		t.Fatalf("problems = %s\nwant %s", got, want)
	}

	_, err = Parse("cfg.yaml", []byte("interfaces: &self\n  include: *self\n"))
	wantParse := "cfg.yaml:1:13: interfaces.include: expected a list, got a mapping"
	if err == nil || err.Error() != wantParse {
		t.Fatalf("Parse error = %v, want %s", err, wantParse)
	}
}
