package config

import (
	"slices"
	"strings"
	"testing"
)

// TestOneOfTagsNameTheConstants checks that the words of each oneof rule are
// the values of the constants that name them in code.
func TestOneOfTagsNameTheConstants(t *testing.T) {
	want := map[string][]string{
		"egress.hook":      {HookAuto, HookTCX, HookTC},
		"xdp.mode":         {XDPModeAuto, XDPModeNative, XDPModeGeneric},
		"ingress.hook":     {HookAuto, HookXDP, HookTCX, HookTC},
		"otlp.compression": {CompressionGzip, CompressionNone},
		"otlp.temporality": {TemporalityCumulative, TemporalityDelta},
		"log.level":        {"debug", "info", "warn", "error"},
		"log.format":       {"json", "console"},
	}
	for _, s := range settings {
		words, ok := s.rule("oneof")
		if !ok {
			continue
		}
		if got := strings.Fields(words); !slices.Equal(got, want[s.key]) {
			t.Errorf("%s: oneof %q, want %q", s.key, got, want[s.key])
		}
		delete(want, s.key)
	}
	for key := range want {
		t.Errorf("%s has no oneof rule", key)
	}
}
