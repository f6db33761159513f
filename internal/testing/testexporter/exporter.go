package testexporter

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// Exporter is packet-exporter, or a wrapper that ends up running it, started
// by StartExporter: a Process with an HTTP client for its server.
type Exporter struct {
	*Process
	// Client reaches the exporter's listen address: it dials inside the
	// exporter's namespace when it runs in one.
	Client *http.Client
	// URL is the base URL of the exporter's server: "http://" and its listen
	// address.
	URL string
}

// StartExporter starts argv as Start does, and returns it with a client for
// its HTTP server, which listens on listen (host:port). It does not wait for
// the server.
func StartExporter(tb testing.TB, opts Options, listen string, argv ...string) *Exporter {
	tb.Helper()
	if opts.Name == "" {
		opts.Name = "packet-exporter"
	}
	client := &http.Client{Timeout: 10 * time.Second}
	if opts.Netns != nil {
		client = opts.Netns.HTTPClient()
	}
	return &Exporter{Process: Start(tb, opts, argv...), Client: client, URL: "http://" + listen}
}

// Get fetches path (e.g. "/healthz") and returns the status code and the body.
func (e *Exporter) Get(path string) (int, string, error) {
	resp, err := e.Client.Get(e.URL + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		err = fmt.Errorf("read %s: %w", path, err)
	}
	return resp.StatusCode, string(body), err
}

// Scrape fetches and parses /metrics (see Scrape).
func (e *Exporter) Scrape() (Metrics, error) {
	m, _, err := Scrape(e.Client, e.URL+"/metrics")
	return m, err
}

// MustScrape is Scrape that fails the test on an error, with the text it got.
func (e *Exporter) MustScrape(tb testing.TB) Metrics {
	tb.Helper()
	m, text, err := Scrape(e.Client, e.URL+"/metrics")
	if err != nil {
		tb.Fatalf("scrape %s: %v\n%s", e.Name(), err, Tail(text, 4000))
	}
	return m
}

// WaitReady waits up to timeout until /readyz answers 200, and returns how
// long that took. It fails the test if it does not, or at once if the process
// exits.
func (e *Exporter) WaitReady(tb testing.TB, timeout time.Duration) time.Duration {
	tb.Helper()
	return e.WaitFor(tb, e.Name()+" to be ready", timeout, func() (bool, string) {
		code, body, err := e.Get("/readyz")
		if err == nil && code == http.StatusOK {
			return true, ""
		}
		return false, fmt.Sprintf("/readyz: %d %q %v", code, body, err)
	})
}

// WaitMetrics scrapes /metrics (MustScrape) until cond holds, up to timeout,
// and returns the last scrape. It fails the test if cond does not hold by
// then.
func (e *Exporter) WaitMetrics(tb testing.TB, what string, timeout time.Duration, cond func(Metrics) bool) Metrics {
	tb.Helper()
	var m Metrics
	WaitFor(tb, what, timeout, func() (bool, string) {
		m = e.MustScrape(tb)
		return cond(m), "not yet"
	})
	return m
}
