package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/testing/testcert"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// maxConfigErrorOutput bounds what a rejected configuration may print: the
// problems are capped (50 and a summary line), whatever the file holds.
const maxConfigErrorOutput = 16 << 10

// TestBadConfigFilesNeverAttach runs the real binary (not --check-config) on
// configuration files that are empty, binary, huge, deeply nested, full of
// unknown keys, or that name a bad web configuration. Each must exit 2
// within seconds with a short message that names the file (and the line and
// key where there is one), before anything is attached or listened on.
func TestBadConfigFilesNeverAttach(t *testing.T) {
	testenv.RequireRoot(t)
	bin := exporterBinary(t)
	a, _, pair := testenv.NewNetnsPair(t, testenv.VethOptions{Quiet: true})
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	random := rand.New(rand.NewPCG(8, 8))
	binary := make([]byte, 64<<10)
	for i := range binary {
		binary[i] = byte(random.Uint32())
	}
	binary[0] = 0 // make sure it is not valid UTF-8 text

	var unknownKeys, unknownNested, nested strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&unknownKeys, "key%04d: %d\n", i, i)
	}
	unknownNested.WriteString("prometheus:\n")
	for i := range 5000 {
		fmt.Fprintf(&unknownNested, "  listen_adress%04d: x\n", i)
	}
	for depth := range 200 {
		fmt.Fprintf(&nested, "%sa%d:\n", strings.Repeat("  ", depth), depth)
	}
	files := testcert.Write(t, dir)
	badWeb := write("web-bad.yml", "basic_auth_users:\n  prometheus: not-a-bcrypt-hash\n")
	devWeb := write("web-dev.yml", "tls_server_config:\n  cert_file: /dev/zero\n  key_file: "+files.Key+"\n")
	// Ten levels of ten aliases each: 10^10 strings if expanded.
	laughs := "anchors:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 'b'; i <= 'k'; i++ {
		prev := string(i - 1)
		laughs += fmt.Sprintf("  %c: &%c [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n", i, i, prev, prev, prev, prev, prev, prev, prev, prev, prev, prev)
	}
	laughs += "interfaces:\n  include: *k\n"

	cases := []struct {
		name string
		path string
		want []string // substrings of the message; %s is the path
	}{
		{"empty", write("empty.yaml", ""), []string{"%s: the file is empty"}},
		{"blank", write("blank.yaml", "\n   \n\t\n"), []string{"%s: the file is empty"}},
		{"binary", write("binary.yaml", string(binary)), []string{"%s:1:1: character U+0000 is not allowed"}},
		{"nul bytes", write("nul.yaml", "xdp:\n  mode: auto\x00\n"), []string{"%s:2:13: character U+0000 is not allowed"}},
		{"huge", write("huge.yaml", strings.Repeat("# padding padding padding\n", 100000)), []string{"%s: file is larger than the limit of 1048576 bytes"}},
		{"the binary itself", bin, []string{"%s: file is larger than the limit"}},
		{"device", "/dev/zero", []string{"%s: file is larger than the limit"}},
		{"directory", dir, []string{"read config: read %s: is a directory"}},
		{"missing", filepath.Join(dir, "missing.yaml"), []string{"no such file or directory"}},
		{"deeply nested mappings", write("nested.yaml", nested.String()), []string{"nesting exceeds the maximum depth of 32"}},
		{"deeply nested flow", write("flow.yaml", "x: "+strings.Repeat("[", 100000)+strings.Repeat("]", 100000)+"\n"), []string{"%s:"}},
		{"aliases expanding", write("laughs.yaml", laughs), []string{`%s:1:1: anchors: unknown key "anchors"`, "interfaces.include[0]: expected a string, got a list"}},
		{"unknown keys", write("unknown.yaml", unknownKeys.String()), []string{`%s:1:1: key0000: unknown key "key0000"`, "too many problems: 4950 more not shown"}},
		{"unknown nested keys", write("unknown-nested.yaml", unknownNested.String()),
			[]string{`%s:2:3: prometheus.listen_adress0000: unknown key "prometheus.listen_adress0000"`, "too many problems: 4950 more not shown"}},
		{"bad web configuration", write("web.yaml", "prometheus:\n  web_config_file: "+badWeb+"\n"),
			[]string{`%s:2:20: prometheus.web_config_file: invalid web configuration file`, "hashedSecret too short"}},
		{"web configuration naming a device", write("web-dev.yaml", "prometheus:\n  web_config_file: "+devWeb+"\n"),
			[]string{`%s:2:20: prometheus.web_config_file:`, `tls_server_config.cert_file "/dev/zero": not a regular file`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			begin := time.Now()
			e := startExporter(t, a, []string{bin, "--config", tc.path}, nil)
			_, code := e.Wait(10 * time.Second)
			took := time.Since(begin)
			out := e.Output()
			if code != exitUsage {
				t.Fatalf("exit code %d after %v, want %d\n%s", code, took, exitUsage, testexporter.Tail(out, 4000))
			}
			if !strings.HasPrefix(out, "packet-exporter: invalid configuration:\n") {
				t.Errorf("output does not start with the configuration error:\n%s", testexporter.Tail(out, 4000))
			}
			for _, w := range tc.want {
				if strings.Contains(w, "%s") {
					w = fmt.Sprintf(w, tc.path)
				}
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, testexporter.Tail(out, 4000))
				}
			}
			if len(out) > maxConfigErrorOutput {
				t.Errorf("%d bytes of output, want at most %d", len(out), maxConfigErrorOutput)
			}
			for _, never := range []string{"starting packet-exporter", "attached", "goroutine ", "panic"} {
				if strings.Contains(out, never) {
					t.Errorf("output contains %q:\n%s", never, testexporter.Tail(out, 4000))
				}
			}
			testenv.AssertNothingAttached(t, a, pair.NameA)
			if code, _, err := e.Get("/healthz"); err == nil {
				t.Errorf("something answers on %s after the exit: %d", listenAddress, code)
			}
			t.Logf("exit %d after %v, %d bytes: %s", code, took, len(out), firstLines(out, 3))
		})
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}
