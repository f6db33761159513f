package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/internal/testing/testcert"
)

func TestWebConfigFile(t *testing.T) {
	dir := t.TempDir()
	files := testcert.Write(t, dir)
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		writeFile(t, path, content)
		return path
	}
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	valid := files.WriteWebConfig(t, "web.yml", testcert.WebConfig{TLS: true, Users: map[string]string{"prometheus": "secret"}})
	cases := []struct {
		name    string
		path    string
		wantErr string // empty: valid
	}{
		{"unset", "", ""},
		{"tls and basic auth", valid, ""},
		{"mutual tls", files.WriteWebConfig(t, "mtls.yml", testcert.WebConfig{TLS: true, ClientAuth: "RequireAndVerifyClientCert"}), ""},
		{"basic auth only", files.WriteWebConfig(t, "auth.yml", testcert.WebConfig{Users: map[string]string{"u": "p"}}), ""},
		{"empty file", write("empty.yml", ""), ""},
		{"missing", filepath.Join(dir, "missing.yml"), "cannot read the file: no such file or directory"},
		{"directory", dir, "not a regular file"},
		{"device", "/dev/zero", "not a regular file"},
		{"fifo", fifo, "not a regular file"},
		{"huge", write("huge.yml", "# "+strings.Repeat("x", 1<<20)+"\n"), "larger than the limit of 1048576 bytes"},
		{"unknown key", write("typo.yml", "tls_srver_config:\n  cert_file: server.pem\n"), "field tls_srver_config not found"},
		{"not yaml", write("binary.yml", "\x00\x01\x02\xff"), "invalid web configuration file"},
		{"plaintext password", write("plain.yml", "basic_auth_users:\n  prometheus: secret\n"), "invalid web configuration file"},
		{"missing certificate", write("nocert.yml", "tls_server_config:\n  cert_file: nothing.pem\n  key_file: server-key.pem\n"),
			`tls_server_config.cert_file "` + filepath.Join(dir, "nothing.pem") + `": cannot read the file: no such file or directory`},
		{"certificate is a device", write("devcert.yml", "tls_server_config:\n  cert_file: /dev/zero\n  key_file: server-key.pem\n"),
			`tls_server_config.cert_file "/dev/zero": not a regular file`},
		{"key of another certificate", write("mismatch.yml", fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n", files.Cert, files.ClientKey)),
			"private key does not match public key"},
		{"key without certificate", write("nokey.yml", "tls_server_config:\n  key_file: server-key.pem\n"), "missing one of cert or cert_file"},
		{"bad client auth", write("auth-type.yml", "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  client_auth_type: Sometimes\n"),
			"invalid ClientAuth"},
		{"bad tls version", write("version.yml", "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  min_version: TLS99\n"),
			"unknown TLS version"},
		{"forbidden header", write("header.yml", "http_server_config:\n  headers:\n    Set-Cookie: x\n"), `HTTP header "Set-Cookie" can not be configured`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, enabled := range []bool{true, false} {
				cfg := Default()
				cfg.Prometheus.Enabled = enabled
				cfg.Prometheus.WebConfigFile = tc.path
				err := cfg.Validate()
				switch {
				case tc.wantErr == "" && err != nil:
					t.Errorf("prometheus.enabled %v: %v", enabled, err)
				case tc.wantErr != "" && err == nil:
					t.Errorf("prometheus.enabled %v: no error, want %q", enabled, tc.wantErr)
				case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
					t.Errorf("prometheus.enabled %v: %v, want %q", enabled, err, tc.wantErr)
				case err != nil && !strings.HasPrefix(err.Error(), "prometheus.web_config_file: "):
					t.Errorf("error %q does not name the key", err)
				}
			}
		})
	}
}

// TestWebConfigFileErrorLocation: a bad web configuration file is reported
// at the position of the key that names it.
func TestWebConfigFileErrorLocation(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "web.yml")
	_, err := Parse("packet-exporter.yaml", fmt.Appendf(nil, "prometheus:\n  enabled: false\n  web_config_file: %q\n", missing))
	want := fmt.Sprintf(`packet-exporter.yaml:3:20: prometheus.web_config_file: web configuration file %q: cannot read the file: no such file or directory`, missing)
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %s", err, want)
	}
}

func TestDebugPprof(t *testing.T) {
	cfg, err := Parse("x.yaml", []byte("debug:\n  pprof: true\n"))
	if err != nil || !cfg.Debug.Pprof {
		t.Fatalf("debug.pprof: true gives %+v, %v", cfg.Debug, err)
	}
	if Default().Debug.Pprof {
		t.Fatal("pprof is on by default")
	}
	_, err = Parse("x.yaml", []byte("debug:\n  pprof: yes\n  profiler: true\n"))
	for _, want := range []string{"x.yaml:2:10: debug.pprof: ", `x.yaml:3:3: debug.profiler: unknown key "debug.profiler"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

// TestLoadRejectsBlankFile: a configuration file with nothing in it is an
// error; one that says {} or holds only comments runs on the defaults.
func TestLoadRejectsBlankFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		content string
		blank   bool
	}{
		{"", true},
		{"\n\n", true},
		{" \t\r\n ", true},
		{"{}\n", false},
		{"# nothing configured\n", false},
		{"---\n", false},
	} {
		path := filepath.Join(dir, "config.yaml")
		writeFile(t, path, tc.content)
		cfg, err := Load(path)
		if tc.blank {
			want := path + `: the file is empty; write "{}" to run on the defaults, or leave out --config`
			if err == nil || err.Error() != want {
				t.Errorf("Load(%q) error %v, want %s", tc.content, err, want)
			}
			continue
		}
		if err != nil {
			t.Errorf("Load(%q): %v", tc.content, err)
		} else if cfg.Prometheus.ListenAddress != Default().Prometheus.ListenAddress {
			t.Errorf("Load(%q) did not give the defaults", tc.content)
		}
	}
	// Parse, which LoadDefault and tests use, keeps accepting an empty document.
	if _, err := Parse("x", nil); err != nil {
		t.Errorf("Parse(empty): %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}
