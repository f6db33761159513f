package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// decodeOnto decodes input over start without validating the result and
// returns the result, the problems found, formatted, and the decoder.
func decodeOnto(t *testing.T, start Config, input string) (Config, string, *decoder) {
	t.Helper()
	root, problem := readDocument([]byte(input))
	if problem != nil {
		t.Fatalf("readDocument: %v", problem)
	}
	dec := &decoder{file: "test.yaml", positions: map[string]position{}, failed: map[string]bool{}}
	dec.decode(root, "", reflect.ValueOf(&start).Elem())
	if err := dec.errs.asError(); err != nil {
		return start, err.Error(), dec
	}
	return start, "", dec
}

func TestDecodeSupportedTypes(t *testing.T) {
	input := `
otlp:
  interval: 1m30s
  headers: {x-token: secret}
resource:
  attributes:
    team: network
    service.name: packet-exporter
    "": empty key
limits:
  max_interfaces: -42
events:
  enabled: true
`
	want := Default()
	want.OTLP.Interval = 90 * time.Second
	want.OTLP.Headers = map[string]string{"x-token": "secret"}
	want.Resource.Attributes = map[string]string{"team": "network", "service.name": "packet-exporter", "": "empty key"}
	want.Limits.MaxInterfaces = -42
	want.Events.Enabled = true
	got, problems, _ := decodeOnto(t, Default(), input)
	if problems != "" {
		t.Fatalf("decode problems:\n%s", problems)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %+v\nwant    %+v", got, want)
	}
}

func TestDecodeOverlaysAndReplaces(t *testing.T) {
	start := Default()
	start.OTLP.Timeout = time.Second
	start.Resource.Attributes = map[string]string{"a": "1", "b": "2"}
	start.Limits.MaxInterfaces = 3
	got, problems, _ := decodeOnto(t, start, "resource: {attributes: {c: '3'}}\nlimits: {max_interfaces: 4}\n")
	if problems != "" {
		t.Fatalf("decode problems:\n%s", problems)
	}
	want := Default()
	want.OTLP.Timeout = time.Second
	want.Resource.Attributes = map[string]string{"c": "3"} // a given map replaces the old one
	want.Limits.MaxInterfaces = 4
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %+v\nwant    %+v", got, want)
	}

	got, problems, _ = decodeOnto(t, start, "resource:\n  attributes:\n")
	if problems != "" || got.Resource.Attributes != nil {
		t.Fatalf("null map: got %v, problems %q; want nil map", got.Resource.Attributes, problems)
	}
}

func TestDecodeProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"duration without unit", "otlp:\n  timeout: 30\n",
			`test.yaml:2:12: otlp.timeout: invalid duration "30" (want a number with a unit, e.g. 500ms, 30s, 1h30m)`},
		{"duration text", "flows: {idle_timeout: soon}\n",
			`test.yaml:1:23: flows.idle_timeout: invalid duration "soon" (want a number with a unit, e.g. 500ms, 30s, 1h30m)`},
		{"duration as mapping", "otlp:\n  timeout: {s: 1}\n",
			`test.yaml:2:12: otlp.timeout: expected a duration, got a mapping`},
		{"map as list", "otlp:\n  headers: [a, b]\n",
			`test.yaml:2:12: otlp.headers: expected a mapping, got a list`},
		{"map value not a scalar", "resource:\n  attributes:\n    team: [a]\n",
			`test.yaml:3:11: resource.attributes.team: expected a string, got a list`},
		{"map value null", "resource:\n  attributes:\n    team:\n",
			`test.yaml:3:10: resource.attributes.team: expected a string, got null`},
		{"map key with dots", "resource:\n  attributes:\n    service.name: {}\n",
			`test.yaml:3:19: resource.attributes["service.name"]: expected a string, got a mapping`},
		{"map duplicate key", "resource:\n  attributes:\n    team: a\n    team: b\n",
			`test.yaml:4:5: resource.attributes.team: duplicate key "resource.attributes.team" (first defined at line 3)`},
		{"int overflow", "limits: {max_interfaces: 9223372036854775808}\n",
			`test.yaml:1:26: limits.max_interfaces: invalid integer "9223372036854775808" (out of range)`},
		{"several problems", "limits:\n  max_interfaces: many\notlp:\n  timeout: forever\n  headers: 3\n",
			"test.yaml:2:19: limits.max_interfaces: invalid integer \"many\" (want a base-10 integer)\n" +
				"test.yaml:4:12: otlp.timeout: invalid duration \"forever\" (want a number with a unit, e.g. 500ms, 30s, 1h30m)\n" +
				`test.yaml:5:12: otlp.headers: expected a mapping, got "3"`},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			_, problems, _ := decodeOnto(t, Default(), test.yaml)
			if problems != test.want {
				t.Fatalf("problems:\n%s\nwant:\n%s", problems, test.want)
			}
		})
	}
}

// TestDecodeAliasExpansionIsBounded feeds a "billion laughs" document (20^6
// strings if expanded) to a list setting: the decoder looks at each item of
// the list once and stops there.
func TestDecodeAliasExpansionIsBounded(t *testing.T) {
	var doc strings.Builder
	doc.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x]\n")
	for level := 1; level <= 5; level++ {
		doc.WriteString(strings.Replace("aN: &aN [", "N", string(rune('0'+level)), 2))
		doc.WriteString(strings.Repeat("*a"+string(rune('0'+level-1))+", ", 19))
		doc.WriteString("*a" + string(rune('0'+level-1)) + "]\n")
	}
	doc.WriteString("interfaces:\n  include: *a5\n")
	_, problems, dec := decodeOnto(t, Default(), doc.String())
	if got := strings.Count(problems, ": expected a string, got a list"); got != 20 {
		t.Fatalf("got %d \"expected a string\" problems, want 20:\n%s", got, problems)
	}
	if !strings.Contains(problems, "test.yaml:5:5: interfaces.include[19]: expected a string, got a list") {
		t.Fatalf("problems lack the last item of the list:\n%s", problems)
	}
	if len(dec.positions) > 30 {
		t.Fatalf("decoder visited %d keys, want the list and its 20 items", len(dec.positions))
	}
}

// TestDecodeRecursiveAliasIsBounded points an alias at its own ancestor.
func TestDecodeRecursiveAliasIsBounded(t *testing.T) {
	_, err := Parse("cfg.yaml", []byte("interfaces: &self\n  include: *self\n"))
	wantParse := "cfg.yaml:1:13: interfaces.include: expected a list, got a mapping"
	if err == nil || err.Error() != wantParse {
		t.Fatalf("Parse error = %v, want %s", err, wantParse)
	}
}
