// Package testcert writes throw-away TLS material and exporter-toolkit web
// configuration files for tests: a CA, a server certificate for 127.0.0.1
// and localhost, a client certificate, and bcrypt hashes for basic
// authentication.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Files are the PEM files written by Write, and the same material loaded.
type Files struct {
	// Dir holds the files.
	Dir string
	// CA, Cert and Key are the CA certificate and the server's certificate
	// and key; ClientCert and ClientKey a client certificate signed by the
	// same CA.
	CA, Cert, Key, ClientCert, ClientKey string
	// Pool holds the CA, to verify the server.
	Pool *x509.CertPool
	// Client is the client certificate, for mutual TLS.
	Client tls.Certificate
}

// Write creates a CA, a server certificate (127.0.0.1, ::1, localhost) and a
// client certificate in dir, valid for a day around now. It fails the test
// on any error.
func Write(tb testing.TB, dir string) Files {
	tb.Helper()
	f := Files{Dir: dir, Pool: x509.NewCertPool()}
	caKey, caCert, caDER := newCA(tb)
	f.Pool.AddCert(caCert)
	f.CA = writePEM(tb, dir, "ca.pem", "CERTIFICATE", caDER)
	serverDER, serverKey := issue(tb, caCert, caKey, 2, x509.ExtKeyUsageServerAuth)
	f.Cert = writePEM(tb, dir, "server.pem", "CERTIFICATE", serverDER)
	f.Key = writePEM(tb, dir, "server-key.pem", "EC PRIVATE KEY", serverKey)
	clientDER, clientKey := issue(tb, caCert, caKey, 3, x509.ExtKeyUsageClientAuth)
	f.ClientCert = writePEM(tb, dir, "client.pem", "CERTIFICATE", clientDER)
	f.ClientKey = writePEM(tb, dir, "client-key.pem", "EC PRIVATE KEY", clientKey)
	var err error
	if f.Client, err = tls.LoadX509KeyPair(f.ClientCert, f.ClientKey); err != nil {
		tb.Fatal(err)
	}
	return f
}

func newCA(tb testing.TB) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "packet-exporter test CA"},
		NotBefore: time.Now().Add(-12 * time.Hour), NotAfter: time.Now().Add(12 * time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return key, cert, der
}

func issue(tb testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey, serial int64, usage x509.ExtKeyUsage) (der, keyDER []byte) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-12 * time.Hour), NotAfter: time.Now().Add(12 * time.Hour),
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{usage},
		KeyUsage:    x509.KeyUsageDigitalSignature,
	}
	if der, err = x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey); err != nil {
		tb.Fatal(err)
	}
	if keyDER, err = x509.MarshalECPrivateKey(key); err != nil {
		tb.Fatal(err)
	}
	return der, keyDER
}

func writePEM(tb testing.TB, dir, name, typ string, der []byte) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// Hash returns a bcrypt hash of password at the lowest cost (tests only).
func Hash(tb testing.TB, password string) string {
	tb.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		tb.Fatal(err)
	}
	return string(hash)
}

// WebConfig describes an exporter-toolkit web configuration file.
type WebConfig struct {
	// TLS serves HTTPS with the server certificate of Files.
	TLS bool
	// ClientAuth is the client_auth_type, e.g. RequireAndVerifyClientCert
	// (with the CA of Files as client_ca_file); empty for none.
	ClientAuth string
	// Users maps user names to passwords (hashed when written).
	Users map[string]string
}

// WriteWebConfig writes the web configuration file w, with paths relative
// to f.Dir, and returns its path.
func (f Files) WriteWebConfig(tb testing.TB, name string, w WebConfig) string {
	tb.Helper()
	var b strings.Builder
	if w.TLS {
		b.WriteString("tls_server_config:\n")
		fmt.Fprintf(&b, "  cert_file: %s\n  key_file: %s\n", filepath.Base(f.Cert), filepath.Base(f.Key))
		if w.ClientAuth != "" {
			fmt.Fprintf(&b, "  client_auth_type: %s\n  client_ca_file: %s\n", w.ClientAuth, filepath.Base(f.CA))
		}
	}
	if len(w.Users) > 0 {
		b.WriteString("basic_auth_users:\n")
		for user, password := range w.Users {
			fmt.Fprintf(&b, "  %s: %q\n", user, Hash(tb, password))
		}
	}
	path := filepath.Join(f.Dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}
