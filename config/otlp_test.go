package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOTLPTarget(t *testing.T) {
	tests := []struct {
		endpoint      string
		insecure      bool
		wantHostPort  string
		wantPlaintext bool
	}{
		{"localhost:4317", false, "localhost:4317", false},
		{"localhost:4317", true, "localhost:4317", true},
		{"10.0.0.1:1", true, "10.0.0.1:1", true},
		{"[::1]:4317", false, "[::1]:4317", false},
		{"collector:04317", false, "collector:4317", false},
		{"http://collector:4318", false, "collector:4318", true},
		{"http://collector:4318", true, "collector:4318", true},
		{"https://collector:4318", false, "collector:4318", false},
		{"https://collector:4318", true, "collector:4318", false},
		{"http://collector", false, "collector:4317", true},
		{"https://collector.example.com", false, "collector.example.com:4317", false},
		{"https://collector.example.com/v1/metrics", false, "collector.example.com:4317", false},
		{"HTTPS://collector:443/", false, "collector:443", false},
		{"http://[::1]", false, "[::1]:4317", true},
		{"https://[fe80::1%25eth0]:4000", false, "[fe80::1%eth0]:4000", false},
		{"http://192.0.2.7:80", false, "192.0.2.7:80", true},
		// Invalid endpoints come back unchanged; Validate reports them.
		{"localhost", true, "localhost", true},
		{"ftp://x:1", false, "ftp://x:1", false},
	}
	for _, test := range tests {
		name := fmt.Sprintf("%s insecure=%t", test.endpoint, test.insecure)
		t.Run(name, func(t *testing.T) {
			otlp := OTLP{Endpoint: test.endpoint, Insecure: test.insecure}
			hostPort, plaintext := otlp.Target()
			if hostPort != test.wantHostPort || plaintext != test.wantPlaintext {
				t.Fatalf("Target() = (%q, %t), want (%q, %t)", hostPort, plaintext, test.wantHostPort, test.wantPlaintext)
			}
		})
	}
}

func TestValidateOTLPEndpoint(t *testing.T) {
	valid := []string{
		"localhost:4317", "collector.example.com:4317", "collector.example.com.:4317", "127.0.0.1:1",
		"[::1]:65535", "[fe80::1%eth0]:4317", "0:4317", "http://localhost", "https://localhost:4317",
		"http://collector:4318/", "https://collector/otlp/v1", "https://[::1]:4317", "http://10.1.2.3",
		"HTTP://collector", "https://[fe80::1%25eth0]",
	}
	invalid := []string{
		"", "localhost", ":4317", "host:0", "host:99999", "host:-1", "host:http", "host:", "::1:4317",
		"[::1]", "[127.0.0.1]:4317", "bad_host:4317", "-host:4317", "host:4317/path", "ftp://x:1",
		"grpc://x:1", "http://", "https://", "http://:4317", "http://host:0", "http://host:65536",
		"http://host:", "http://bad_host", "http://[127.0.0.1]", "http://::1:4317", "http://[::1",
		"http://user@host", "http://host?x", "http://host#frag", "http://host/?", "://host:1",
		"http:host:4317", "unix:///run/otel.sock", "http://exa mple",
	}
	for _, endpoint := range valid {
		if _, msg := parseOTLPEndpoint(endpoint); msg != "" {
			t.Errorf("parseOTLPEndpoint(%q) = %s, want valid", endpoint, msg)
		}
	}
	for _, endpoint := range invalid {
		if _, msg := parseOTLPEndpoint(endpoint); msg == "" {
			t.Errorf("parseOTLPEndpoint(%q) accepted an invalid endpoint", endpoint)
		}
	}
}

// tlsFiles are PEM files written for a test.
type tlsFiles struct {
	dir string
	// cert and key are a matching self-signed certificate and key.
	cert, key string
	// otherKey is a key that does not match cert.
	otherKey string
	// notPEM holds text without any PEM block.
	notPEM string
	// missing does not exist.
	missing string
}

// writeTLSFiles generates a self-signed ECDSA certificate and writes it,
// its key and some broken files into a temporary directory.
func writeTLSFiles(t *testing.T) tlsFiles {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "packet-exporter test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	certDER, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	files := tlsFiles{
		dir:      dir,
		cert:     filepath.Join(dir, "cert.pem"),
		key:      filepath.Join(dir, "key.pem"),
		otherKey: filepath.Join(dir, "other-key.pem"),
		notPEM:   filepath.Join(dir, "not.pem"),
		missing:  filepath.Join(dir, "missing.pem"),
	}
	writeFile(t, files.cert, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})))
	writeFile(t, files.key, encodeKey(t, key))
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, files.otherKey, encodeKey(t, otherKey))
	writeFile(t, files.notPEM, "this is not a certificate\n")
	return files
}

func encodeKey(t *testing.T, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// otlpTLSDocument writes an otlp section with the given TLS files; ca_file
// is on line 3 and cert_file on line 4, their values at column 12 and 14.
func otlpTLSDocument(enabled bool, caFile, certFile, keyFile string) string {
	return fmt.Sprintf("otlp:\n  enabled: %t\n  ca_file: '%s'\n  cert_file: '%s'\n  key_file: '%s'\n",
		enabled, caFile, certFile, keyFile)
}

func TestParseOTLPTLSFiles(t *testing.T) {
	files := writeTLSFiles(t)
	large := filepath.Join(files.dir, "large.pem")
	writeFile(t, large, strings.Repeat("#", maxTLSFileSize+1))
	tests := []struct {
		name string
		yaml string
		want string // "" for valid
	}{
		{"CA and client certificate", otlpTLSDocument(true, files.cert, files.cert, files.key), ""},
		{"CA only", otlpTLSDocument(true, files.cert, "", ""), ""},
		{"client certificate only", otlpTLSDocument(true, "", files.cert, files.key), ""},
		{"CA file missing", otlpTLSDocument(true, files.missing, "", ""),
			fmt.Sprintf("cfg.yaml:3:12: otlp.ca_file: cannot read the file: open %s: no such file or directory", files.missing)},
		{"CA file is a directory", otlpTLSDocument(true, files.dir, "", ""),
			fmt.Sprintf("cfg.yaml:3:12: otlp.ca_file: cannot read the file: read %s: is a directory", files.dir)},
		{"CA file without PEM", otlpTLSDocument(true, files.notPEM, "", ""),
			fmt.Sprintf("cfg.yaml:3:12: otlp.ca_file: no PEM certificate found in %q", files.notPEM)},
		{"CA file holding only a key", otlpTLSDocument(true, files.key, "", ""),
			fmt.Sprintf("cfg.yaml:3:12: otlp.ca_file: no PEM certificate found in %q", files.key)},
		{"CA file too large", otlpTLSDocument(true, large, "", ""),
			fmt.Sprintf("cfg.yaml:3:12: otlp.ca_file: file %q is larger than the limit of %d bytes", large, maxTLSFileSize)},
		{"certificate file missing", otlpTLSDocument(true, "", files.missing, files.key),
			fmt.Sprintf("cfg.yaml:4:14: otlp.cert_file: cannot read the file: open %s: no such file or directory", files.missing)},
		{"key file missing", otlpTLSDocument(true, "", files.cert, files.missing),
			fmt.Sprintf("cfg.yaml:5:13: otlp.key_file: cannot read the file: open %s: no such file or directory", files.missing)},
		{"key does not match the certificate", otlpTLSDocument(true, "", files.cert, files.otherKey),
			fmt.Sprintf("cfg.yaml:4:14: otlp.cert_file: cannot load %q and %q as a certificate and key pair: tls: private key does not match public key", files.cert, files.otherKey)},
		{"key file without PEM", otlpTLSDocument(true, "", files.cert, files.notPEM),
			fmt.Sprintf("cfg.yaml:4:14: otlp.cert_file: cannot load %q and %q as a certificate and key pair: tls: failed to find any PEM data in key input", files.cert, files.notPEM)},
		{"certificate and key swapped", otlpTLSDocument(true, "", files.key, files.cert),
			fmt.Sprintf("cfg.yaml:4:14: otlp.cert_file: cannot load %q and %q as a certificate and key pair: tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched", files.key, files.cert)},
		{"every file broken", otlpTLSDocument(true, files.notPEM, files.missing, files.dir),
			fmt.Sprintf("cfg.yaml:3:12: otlp.ca_file: no PEM certificate found in %q\n", files.notPEM) +
				fmt.Sprintf("cfg.yaml:4:14: otlp.cert_file: cannot read the file: open %s: no such file or directory\n", files.missing) +
				fmt.Sprintf("cfg.yaml:5:13: otlp.key_file: cannot read the file: read %s: is a directory", files.dir)},
		{"files are not read while OTLP is disabled", otlpTLSDocument(false, files.missing, files.notPEM, files.dir), ""},
		{"a lone certificate is reported while disabled", otlpTLSDocument(false, "", files.missing, ""),
			"cfg.yaml:4:14: otlp.cert_file: is set without otlp.key_file (a client certificate needs its key)"},
		{"a lone key is read as well when enabled", otlpTLSDocument(true, "", "", files.missing),
			"cfg.yaml:5:13: otlp.key_file: is set without otlp.cert_file (a client key needs its certificate)\n" +
				fmt.Sprintf("cfg.yaml:5:13: otlp.key_file: cannot read the file: open %s: no such file or directory", files.missing)},
		{"plaintext is reported before the files are read", otlpTLSDocument(true, files.cert, "", "") + "  insecure: true\n",
			"cfg.yaml:3:12: otlp.ca_file: TLS files are set but the connection is plaintext (otlp.insecure is true)"},
		{"https URL ignores insecure", otlpTLSDocument(true, files.cert, "", "") + "  insecure: true\n  endpoint: https://collector\n", ""},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			cfg, err := Parse("cfg.yaml", []byte(test.yaml))
			if test.want == "" {
				if err != nil {
					t.Fatalf("Parse error: %v", err)
				}
				if err := cfg.Validate(); err != nil {
					t.Fatalf("Validate after Parse: %v", err)
				}
				return
			}
			if err == nil || err.Error() != test.want {
				t.Fatalf("Parse error:\n%v\nwant:\n%s", err, test.want)
			}
		})
	}
}

func TestValidateOTLPFilesRelativeToWorkingDirectory(t *testing.T) {
	files := writeTLSFiles(t)
	t.Chdir(files.dir)
	cfg := Default()
	cfg.OTLP.Enabled = true
	cfg.OTLP.CAFile = "cert.pem"
	cfg.OTLP.CertFile = "cert.pem"
	cfg.OTLP.KeyFile = "key.pem"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if err := os.Remove(filepath.Join(files.dir, "key.pem")); err != nil {
		t.Fatal(err)
	}
	want := "otlp.key_file: cannot read the file: open key.pem: no such file or directory"
	if err := cfg.Validate(); err == nil || err.Error() != want {
		t.Fatalf("Validate = %v, want %s", err, want)
	}
}
