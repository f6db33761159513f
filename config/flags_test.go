package config

import (
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
)

// TestFlagsAreDocumented checks that the README's table of flags names
// every flag the flag tags declare, with the key it sets.
func TestFlagsAreDocumented(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		name := s.tag.Get("flag")
		if name == "" {
			continue
		}
		var row string
		for line := range strings.Lines(string(readme)) {
			if strings.HasPrefix(line, "| `--"+name+" ") {
				row = line
			}
		}
		if !strings.Contains(row, "`"+s.key+"`") {
			t.Errorf("README.md has no row for --%s that names %s", name, s.key)
		}
	}
}

// TestAddFlags checks that the flags given set their keys, read as the
// environment reads them, and that a bad value is an error that leaves the
// Config as it was.
func TestAddFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want func(*Config)
		err  string
	}{
		{"none", nil, func(*Config) {}, ""},
		{"all", []string{"--web.listen-address=127.0.0.1:1", "--web.config.file", "web.yml", "--log.level", "debug", "--log.format=console"},
			func(c *Config) {
				c.Prometheus.ListenAddress, c.Prometheus.WebConfigFile = "127.0.0.1:1", "web.yml"
				c.Log.Level, c.Log.Format = "debug", "console"
			}, ""},
		{"bad level", []string{"--log.format=console", "--log.level=loud"}, func(*Config) {},
			`command line: --log.level: invalid value "loud" (want debug, info, warn or error)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			apply := AddFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			got, want := Default(), Default()
			tc.want(&want)
			err := apply(&got)
			if testenv.ErrorPrefix(t, err, tc.err) && !reflect.DeepEqual(got, Default()) {
				t.Errorf("a bad flag changed the configuration: %+v", got)
			}
			if err == nil && !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		})
	}
}
