package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/testing/testcert"
	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
)

// TestEndpointSecurity runs the real binary with a web configuration (TLS
// and basic authentication) and pprof on: every endpoint, probes and pprof
// included, answers only over TLS and with the right credentials. Without
// debug.pprof, /debug/pprof/ does not exist.
func TestEndpointSecurity(t *testing.T) {
	testenv.RequireRoot(t)
	bin := exporterBinary(t)
	files := testcert.Write(t, t.TempDir())
	web := files.WriteWebConfig(t, "web.yml", testcert.WebConfig{TLS: true, Users: map[string]string{"prometheus": "s3cret"}})

	for _, pprof := range []bool{true, false} {
		t.Run(fmt.Sprintf("pprof %v", pprof), func(t *testing.T) {
			a := testenv.NewNetns(t)
			cfg := writeFile(t, "config.yaml", fmt.Sprintf("prometheus:\n  listen_address: %q\n  web_config_file: %q\ndebug:\n  pprof: %v\n",
				listenAddress, web, pprof))
			e := startExporter(t, a, []string{bin, "--config", cfg}, nil)
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				DialContext: a.DialContext, TLSClientConfig: &tls.Config{RootCAs: files.Pool, ServerName: "127.0.0.1"}}}
			request := func(scheme, path, user, password string) (int, error) {
				return testcert.Status(t, client, scheme+"://"+listenAddress+path, user, password)
			}
			e.WaitFor(t, "readiness over https", readyTimeout, func() (bool, string) {
				code, err := request("https", "/readyz", "prometheus", "s3cret")
				return code == 200, fmt.Sprintf("/readyz: %d %v", code, err)
			})
			pprofCode := 404
			if pprof {
				pprofCode = 200
			}
			for _, path := range []string{"/", "/metrics", "/healthz", "/readyz", "/debug/pprof/"} {
				if code, err := request("https", path, "", ""); err != nil || code != 401 {
					t.Errorf("https %s without credentials: %d %v, want 401", path, code, err)
				}
				if code, err := request("https", path, "prometheus", "wrong"); err != nil || code != 401 {
					t.Errorf("https %s with a wrong password: %d %v, want 401", path, code, err)
				}
				want := 200
				if path == "/debug/pprof/" {
					want = pprofCode
				}
				if code, err := request("https", path, "prometheus", "s3cret"); err != nil || code != want {
					t.Errorf("https %s with credentials: %d %v, want %d", path, code, err, want)
				}
				if code, err := request("http", path, "prometheus", "s3cret"); err == nil && code == 200 {
					t.Errorf("plain http %s answered 200", path)
				}
			}
			stopExporter(t, e)
		})
	}
}
