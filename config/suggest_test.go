package config

import "testing"

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"mode", "mode", 0},
		{"listen_adress", "listen_address", 1},
		{"exlcude", "exclude", 1}, // transposition
		{"kitten", "sitting", 3},
		{"enabeld", "enabled", 1},
		{"größe", "grösse", 2},
	}
	for _, test := range tests {
		if got := editDistance(test.a, test.b); got != test.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", test.a, test.b, got, test.want)
		}
	}
}

func TestClosestName(t *testing.T) {
	known := []string{"interfaces", "egress", "xdp", "prometheus", "log", "limits"}
	tests := []struct {
		name string
		want string // "" for no suggestion
	}{
		{"interface", "interfaces"},
		{"Prometheus", "prometheus"},
		{"promtheus", "prometheus"},
		{"xpd", "xdp"},
		{"lgo", "log"},
		{"limit", "limits"},
		{"otlp", ""},
		{"flows", ""},
		{"a", ""},
		{"", ""},
	}
	for _, test := range tests {
		got, ok := closestName(test.name, known)
		if got != test.want || ok != (test.want != "") {
			t.Errorf("closestName(%q) = %q, %v; want %q", test.name, got, ok, test.want)
		}
	}
	if _, ok := closestName("anything", nil); ok {
		t.Error("closestName with no known names suggested something")
	}
}
